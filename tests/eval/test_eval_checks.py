"""Citation validity, selection grounding, the book's links, and ranks by page and by evidence."""

from __future__ import annotations

import json
import math

import pytest

from eval.book import Book, contains_evidence, read_book
from eval.dataset import GoldenQuestion
from eval.report.build import question_scores
from eval.scoring.answered import answered, citation_problems, selection_grounded
from eval.scoring.retrieval import QuestionResult, RetrievalReport, score_answer
from rag.answer.result import AnswerResult, SourceRef
from tests.conftest import ROOT, SAMPLE_BOOK

TRUTH = ROOT / "tests" / "ingest" / "data" / "docusaurus_truth.json"
PAGE = "/docs/humanoids/balance-and-walking"
BOOK = Book(
    urls=frozenset({PAGE, f"{PAGE}#capture-point", "/docs/intro"}),
    page_urls={"docs/04-humanoids/balance-and-walking.md": PAGE, "docs/intro.md": "/docs/intro"},
    passages={
        "docs/04-humanoids/balance-and-walking.md": [
            "The capture point is where to step.",
            "A **zero-moment point** stays inside the support polygon.",
        ],
        "docs/intro.md": ["Welcome."],
    },
)


def source(index: int, url: str, path: str | None = "docs/04-humanoids/balance-and-walking.md"):
    return SourceRef(
        index=index, title="t", url=url, section="s", snippet="x", score=0.5, source_path=path
    )


def question(kind: str = "factual", **extra: object) -> GoldenQuestion:
    fields = {
        "id": "Q",
        "question": "Where should the robot step?",
        "reference_answer": "At the capture point.",
        "source_path": "docs/04-humanoids/balance-and-walking.md",
        "kind": kind,
        **extra,
    }
    return GoldenQuestion.model_validate(fields)


def test_valid_citations_have_no_problems() -> None:
    answer = AnswerResult(
        answer="Step at the capture point [1], see also [2].",
        sources=[source(1, f"{PAGE}#capture-point"), source(2, "/docs/intro", "docs/intro.md")],
        model="m",
    )
    assert citation_problems(answer, BOOK) == []


def test_a_citation_naming_no_source_and_a_made_up_anchor_are_problems() -> None:
    answer = AnswerResult(
        answer="Step at the capture point [1] [3].",
        sources=[source(1, f"{PAGE}#no-such-heading"), source(2, "/docs/missing")],
        model="m",
    )
    assert citation_problems(answer, BOOK) == [
        "[3] names no source",
        f"source [1] links to {PAGE}#no-such-heading",
        "source [2] links to /docs/missing",
    ]


def test_a_selection_needs_no_link_but_a_link_it_has_must_be_a_page() -> None:
    selection = source(1, "", None)
    assert citation_problems(AnswerResult("It checks [1].", [selection], "m"), BOOK) == []
    placed = source(1, PAGE, None)
    assert citation_problems(AnswerResult("It checks [1].", [placed], "m"), BOOK) == []
    wrong = source(1, "/docs/elsewhere", None)
    assert citation_problems(AnswerResult("It checks [1].", [wrong], "m"), BOOK) != []


def test_selection_grounding() -> None:
    item = question("selected-text", selected_text="def needs_step(): ...")
    pinned, same_page = source(1, PAGE, None), source(2, f"{PAGE}#capture-point")
    other = source(3, "/docs/intro", "docs/intro.md")
    assert selection_grounded(item, AnswerResult("It [1].", [pinned, other], "m")) is True
    assert selection_grounded(item, AnswerResult("It [2].", [pinned, same_page], "m")) is True
    # the answer rests only on another page
    assert selection_grounded(item, AnswerResult("It [2].", [pinned, other], "m")) is False
    # the first source is another page
    assert selection_grounded(item, AnswerResult("It [2].", [other, same_page], "m")) is False
    assert selection_grounded(item, AnswerResult("Not covered.", [], "m")) is False
    assert selection_grounded(question(), AnswerResult("It [1].", [pinned], "m")) is None


def test_evidence_is_found_through_markup_and_case() -> None:
    assert contains_evidence("A **zero-moment point** stays inside", "Zero-moment point stays")
    assert contains_evidence("see [the ZMP](/docs/zmp) here", "the zmp here")
    assert not contains_evidence("capture point", "")
    item = question(evidence="zero-moment point stays inside")
    assert BOOK.evidence_passages(item.expected_paths, item.evidence) == [
        "A **zero-moment point** stays inside the support polygon."
    ]
    assert BOOK.evidence_passages(item.expected_paths, None) == []


def test_ranks_by_page_and_by_evidence() -> None:
    item = question(evidence="capture point is where")
    result = QuestionResult(
        question=item,
        ranked_paths=["docs/intro.md", "docs/04-humanoids/balance-and-walking.md"],
        answered=True,
        answer="a",
        contexts=("Welcome.", "The capture point is where to step."),
    )
    assert result.rank == 2
    assert result.evidence_rank == 2
    assert result.ndcg() == pytest.approx(1 / math.log2(3))
    report = RetrievalReport([result])
    assert report.hit_at(1) == 0
    assert report.evidence_hit_at(5) == 1
    assert report.evidence_mrr == 0.5


def test_ndcg_of_a_multi_page_question_needs_every_page() -> None:
    item = question("multi-hop", source_paths=["docs/intro.md"])
    both = QuestionResult(item, [*sorted(item.expected_paths)], True, "a")
    one = QuestionResult(item, ["docs/intro.md", "docs/intro.md"], True, "a")
    assert both.ndcg() == pytest.approx(1.0)
    assert one.ndcg() == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_snippets_stand_in_without_passages() -> None:
    answer = AnswerResult("At the point [1].", [source(1, PAGE)], "m")
    assert score_answer(question(), answer).contexts == ("x",)
    assert score_answer(question(), answer, ["full"]).contexts == ("full",)


def test_answered_row_and_its_scores() -> None:
    item = question(evidence="capture point is where")
    answer = AnswerResult("Step there [1].", [source(1, f"{PAGE}#capture-point")], "m")
    row = answered(score_answer(item, answer, [BOOK.passages[item.source_path][0]]), answer, BOOK)
    assert row.citations_ok
    assert row.reference_contexts == ("The capture point is where to step.",)
    assert question_scores(row, {"answer_similarity": 0.5}) == {
        "ndcg": 1.0,
        "citations": 1.0,
        "evidence_ndcg": 1.0,
        "answer_similarity": 0.5,
    }
    assert question_scores(row, {"answer_similarity": -0.02})["answer_similarity"] == 0.0
    refused = AnswerResult("Not covered.", [], "m")
    assert question_scores(answered(score_answer(item, refused), refused, BOOK), {}) == {
        "ndcg": 0.0,
        "evidence_ndcg": 0.0,
    }
    unanswerable = question("unanswerable", source_path=None)
    row = answered(score_answer(unanswerable, refused), refused, BOOK)
    assert question_scores(row, {}) == {"refusal": 1.0}


@pytest.mark.parametrize("trailing_slash", [None, False])
def test_book_links_are_the_built_sites(trailing_slash: bool | None) -> None:
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["corpora"]["sample-book"]
    assert truth["trailing_slash"] is None  # built as Docusaurus does by default
    book = read_book(
        SAMPLE_BOOK,
        route_base_path="/docs",
        trailing_slash=trailing_slash,
        chunk_tokens=200,
        overlap_tokens=24,
        count_tokens=lambda text: len(text.split()),
    )
    expected = set()
    for page in truth["pages"].values():
        route = page["route"]
        if trailing_slash is False and route != "/" and route.endswith("/"):
            route = route.rstrip("/")
        expected.add(route)
        expected.update(f"{route}#{anchor}" for _, anchor in page["anchors"])
    assert book.urls == expected
    assert all(text for passages in book.passages.values() for text in passages)
