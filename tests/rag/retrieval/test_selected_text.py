"""The selected-text questions of the physical-ai golden set, answered from the selection."""

import asyncio
import re

import pytest
from qdrant_client import QdrantClient

from eval.dataset import load_dataset
from rag.answer.prompts import SELECTION_TITLE, cited_indexes
from rag.engine import AnswerResult, build_qa
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings
from tests.conftest import shared_corpora


def _selected_text_questions():
    path = shared_corpora() / "physical-ai" / "qa.jsonl"
    if not path.is_file():
        return []
    return [q for q in load_dataset(path) if q.kind == "selected-text"]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "")).strip()


def _cited_one_parts(answer: str) -> list[str]:
    """The answer's paragraphs that cite [1] (the selection), citations removed.

    A quoted code block is followed by its own "(code from [n])" line.
    """
    paragraphs = answer.split("\n\n")
    parts = []
    for i, paragraph in enumerate(paragraphs):
        if paragraph.strip() == "(code from [1])" and i:
            parts.append(paragraphs[i - 1])
        elif "[1]" in paragraph:
            parts.append(paragraph)
    return [_squash(re.sub(r"\[\d+\]", "", p)) for p in parts]


@pytest.fixture(scope="module")
def answers(physical_ai_index: Settings, embed_model: LocalEmbedding):
    questions = _selected_text_questions()
    client = QdrantClient(path=str(physical_ai_index.qdrant_path))
    try:
        qa = build_qa(physical_ai_index, client=client, embed_model=embed_model)

        async def ask_all() -> list[tuple[AnswerResult, AnswerResult]]:
            out = []
            for q in questions:
                with_book = await qa.answer(q.question, selected_text=q.selected_text)
                alone = await qa.answer(
                    q.question, selected_text=q.selected_text, selection_only=True
                )
                out.append((with_book, alone))
            return out

        results = asyncio.run(ask_all())
    finally:
        client.close()
    return list(zip(questions, results, strict=True))


def test_the_golden_set_has_selected_text_questions(answers):
    assert len(answers) >= 3


def test_answers_cite_the_selection_and_quote_it(answers):
    for question, (with_book, _alone) in answers:
        assert with_book.sources[0].title == SELECTION_TITLE, question.id
        assert 1 in cited_indexes(with_book.answer), (question.id, with_book.answer)
        selection_words = set(_squash(question.selected_text or "").lower().split())
        quoted = [set(part.lower().split()) for part in _cited_one_parts(with_book.answer)]
        # what is cited [1] is the selection's own words (its sentences, comments or code)
        assert any(q and len(q & selection_words) >= 0.8 * len(q) for q in quoted), (
            question.id,
            with_book.answer,
        )


def test_selection_only_cites_nothing_else(answers):
    for question, (_with_book, alone) in answers:
        assert [s.title for s in alone.sources] == [SELECTION_TITLE], question.id
        assert cited_indexes(alone.answer) == [1], (question.id, alone.answer)
