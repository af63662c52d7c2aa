"""Follow-up questions retrieve the page the conversation is about (offline, extractive)."""

import asyncio
import json

import pytest
from qdrant_client import QdrantClient

from rag.answer.condense import Turn, condense, is_follow_up
from rag.engine import TextbookQA, build_qa
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings
from tests.conftest import ROOT
from tests.utils.simulator import Simulator, simulator_llm_settings

CONVERSATIONS = [
    json.loads(line)
    for line in (ROOT / "sample_book" / "conversations.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("Who invented it?", True),
        ("And how is that different from the capture point?", True),
        ("What about the default?", True),
        ("Why?", True),
        ("What is the zero moment point?", False),
        ("How do ROS 2 services work?", False),
        ("How does a walking controller use it?", True),
        ("How do I call one from a timer without blocking the executor?", True),
        # pronouns whose referent is in the question itself
        ("What is a PID loop and why does it oscillate when the gain is too high?", False),
        ("Why does the planner replan so often, and how long does it take on a laptop?", False),
        ("Can I run one node per container?", False),
        ("How long does the robot walk on one battery charge?", False),
    ],
)
def test_follow_ups_are_recognised(question: str, follow_up: bool):
    assert is_follow_up(question) is follow_up


def test_condense_prepends_the_topic_only_for_follow_ups():
    history = [Turn("What is a series elastic actuator?", "…")]
    assert (
        condense("Who invented it?", history)
        == "What is a series elastic actuator? Who invented it?"
    )
    assert condense("What is MuJoCo?", history) == "What is MuJoCo?"
    assert condense("Who invented it?", []) == "Who invented it?"


def test_a_chain_of_follow_ups_keeps_its_topic():
    history = [Turn("What is OpenVLA?", "…"), Turn("How big is it?", "…")]
    assert condense("And what was it trained on?", history).startswith("What is OpenVLA?")


def _rank(qa: TextbookQA, question: str, history: list[Turn], expected: str) -> int | None:
    async def run() -> list[str | None]:
        standalone = await qa.standalone_question(question, history)
        nodes = await qa.retrieve(standalone)
        return [n.node.metadata.get("source_path") for n in nodes]

    paths = asyncio.run(run())
    return paths.index(expected) + 1 if expected in paths else None


def test_second_turns_retrieve_the_right_page(sample_index: Settings, embed_model: LocalEmbedding):
    client = QdrantClient(path=str(sample_index.qdrant_path))
    try:
        qa = build_qa(sample_index, client=client, embed_model=embed_model)
        with_history, without = [], []
        for conv in CONVERSATIONS:
            first, second = conv["turns"]
            with_history.append(_rank(qa, second, [Turn(first, "")], conv["source_path"]))
            without.append(_rank(qa, second, [], conv["source_path"]))
    finally:
        client.close()
    hits = sum(1 for rank in with_history if rank is not None and rank <= 3)
    baseline = sum(1 for rank in without if rank is not None and rank <= 3)
    assert len(CONVERSATIONS) >= 10
    assert hits >= 0.9 * len(CONVERSATIONS), (hits, with_history)
    assert baseline < hits, (baseline, without)  # the history is what makes the difference


def test_with_a_model_only_follow_ups_are_condensed_and_their_retrieval_holds(
    sample_index: Settings, embed_model: LocalEmbedding, sim: Simulator
):
    """Every second turn of the sample conversations still goes to the model to be condensed
    (so follow-up retrieval is what it was); a question that stands alone, asked after another
    conversation, costs no model call and retrieves exactly as if it were asked first."""
    sim.reset()
    assert all(is_follow_up(conv["turns"][1]) for conv in CONVERSATIONS)

    async def paths(qa: TextbookQA, question: str, history: list[Turn]) -> list[str | None]:
        standalone = await qa.standalone_question(question, history)
        return [n.node.metadata.get("source_path") for n in await qa.retrieve(standalone)]

    async def run(qa: TextbookQA) -> None:
        try:
            for conv, other in zip(
                CONVERSATIONS, CONVERSATIONS[1:] + CONVERSATIONS[:1], strict=True
            ):
                first = conv["turns"][0]
                history = [Turn(other["turns"][0], "an earlier answer")]
                assert await qa.standalone_question(first, history) == first
                assert await paths(qa, first, history) == await paths(qa, first, [])
            assert sim.requests("primary") == 0
            follow_up = CONVERSATIONS[0]["turns"]
            await qa.standalone_question(follow_up[1], [Turn(follow_up[0], "…")])
            assert sim.requests("primary") == 1
        finally:
            await qa.aclose()

    client = QdrantClient(path=str(sample_index.qdrant_path))
    try:
        settings = simulator_llm_settings(sample_index, sim)
        asyncio.run(run(build_qa(settings, client=client, embed_model=embed_model)))
    finally:
        client.close()
