"""Question sets that keep evidence as locators: written, validated and resolved at load."""

import json
from pathlib import Path

import pytest

from eval.author import convert, main as author_main
from eval.dataset import DatasetError, load_dataset
from eval.locators import Locator, LocatorError, digest_of, locate, resolve
from tests.conftest import shared_corpora

SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "sample_book" / "docs"
DEV_SETS = Path(__file__).resolve().parents[2] / "eval" / "datasets"


def _page(docs: Path) -> tuple[str, str]:
    path = sorted(docs.rglob("*.md"))[0]
    return f"docs/{path.relative_to(docs).as_posix()}", path.read_text(encoding="utf-8")


def test_a_locator_names_its_span_and_checks_its_digest():
    text = "Alpha beta. Gamma delta. Epsilon."
    loc = locate(text, "Gamma delta.")
    assert (loc.start, loc.end) == (12, 24)
    assert resolve(text, loc) == "Gamma delta."
    with pytest.raises(LocatorError, match="digest"):
        resolve(text.replace("Gamma", "Gamme"), loc)
    with pytest.raises(LocatorError, match="past the end"):
        resolve(text[:20], loc)


def test_a_quote_must_be_found_once():
    with pytest.raises(LocatorError, match="not found"):
        locate("abc", "xyz")
    with pytest.raises(LocatorError, match="more than once"):
        locate("one two one", "one")


def test_locator_fields_are_validated():
    with pytest.raises(ValueError, match="end must be after start"):
        Locator(start=5, end=5, digest=digest_of("x"))
    with pytest.raises(ValueError, match="digest"):
        Locator(start=0, end=3, digest="not-hex")


def _draft(tmp_path: Path) -> tuple[Path, str]:
    source_path, text = _page(SAMPLE_DOCS)
    sentence = next(s for s in text.split(". ") if len(s) > 40 and text.count(s) == 1)
    draft = {
        "id": "L-1",
        "question": "A question in our own words?",
        "reference_answer": "Our own answer.",
        "source_path": source_path,
        "kind": "factual",
        "quote": sentence,
    }
    path = tmp_path / "draft.jsonl"
    path.write_text(json.dumps(draft) + "\n", encoding="utf-8")
    return path, sentence


def test_the_author_tool_writes_no_book_text_and_the_loader_reads_it_back(tmp_path):
    draft, sentence = _draft(tmp_path)
    out = tmp_path / "set.jsonl"
    assert author_main(["--docs", str(SAMPLE_DOCS), str(draft), str(out)]) == 0
    written = out.read_text(encoding="utf-8")
    assert sentence not in written
    assert "evidence_at" in written
    (question,) = load_dataset(out, SAMPLE_DOCS)
    assert question.evidence == sentence
    with pytest.raises(DatasetError, match="need the docs folder"):
        load_dataset(out)


def test_a_changed_page_is_reported_with_the_line(tmp_path):
    draft, _ = _draft(tmp_path)
    item = convert(json.loads(draft.read_text()), SAMPLE_DOCS)
    item["evidence_at"]["digest"] = "0" * 12
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(item) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.jsonl:1: L-1: .*digest"):
        load_dataset(bad, SAMPLE_DOCS)


def test_a_quote_absent_from_its_page_fails_the_author_tool(tmp_path):
    draft, _ = _draft(tmp_path)
    item = json.loads(draft.read_text())
    item["quote"] = "words that are nowhere in the book"
    draft.write_text(json.dumps(item) + "\n")
    assert author_main(["--docs", str(SAMPLE_DOCS), str(draft), str(tmp_path / "o")]) == 1


@pytest.mark.parametrize(
    ("name", "corpus"), [("humanoid-textbook", "humanoid-textbook"), ("redux-docs", "redux-docs")]
)
def test_the_dev_sets_resolve_against_their_books(name, corpus):
    docs = shared_corpora() / corpus / "docs"
    if not docs.is_dir():
        pytest.skip(f"{docs} is not here")
    questions = load_dataset(DEV_SETS / f"{name}.jsonl", docs)
    kinds = {q.kind for q in questions}
    assert {"multi-hop", "selected-text", "unanswerable"} <= kinds
    assert sum(q.kind == "unanswerable" for q in questions) >= 5
    assert all(q.evidence for q in questions if q.answerable)
    assert all(q.selected_text for q in questions if q.kind == "selected-text")
