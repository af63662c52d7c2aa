"""Heading-aware chunking, with a word counter (exact arithmetic) and the real MiniLM tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import Chunk, chunk_page, chunk_section
from ingest.docusaurus import Page, Section, read_page
from rag.retrieval.embeddings import LocalEmbedding


def words(text: str) -> int:
    return len(text.split())


PROSE_1 = (
    "Robots sense the world through many sensors. Cameras capture colour images of the scene. "
    "Lidar measures distance with pulses of laser light. Radar keeps working in fog and rain. "
    "Each sensor has its own failure modes."
)
PROSE_2 = (
    "Sensor fusion combines these readings into one estimate. A Kalman filter weighs each "
    "reading by its noise. The estimate is better than any single sensor. Fusion also hides "
    "the dropout of one sensor."
)
CODE = (
    "```python\n"
    "def fuse(readings):\n"
    "    weights = [1 / r.noise for r in readings]\n"
    "    return sum(w * r.value for w, r in zip(weights, readings)) / sum(weights)\n"
    "```"
)
TABLE = (
    "| Sensor | Range | Weather |\n"
    "| --- | --- | --- |\n"
    "| Camera | 100 m | poor |\n"
    "| Lidar | 200 m | fair |\n"
    "| Radar | 250 m | good |"
)
LIST = "- cameras see colour\n- lidar sees depth\n- radar sees through fog"
SECTION = "\n\n".join([PROSE_1, CODE, PROSE_2, TABLE, LIST])


def long_code(lines: int) -> tuple[str, list[str]]:
    body = [f"reading_{i} = sensor.read(channel={i})" for i in range(lines)]
    return "```python\n" + "\n".join(body) + "\n```", body


def code_body(chunk: str) -> list[str]:
    lines = chunk.splitlines()
    return lines[1:-1]


@pytest.mark.parametrize("max_tokens", [25, 30, 40, 55, 80, 120, 400])
def test_chunks_never_exceed_max_tokens_with_word_counter(max_tokens: int):
    chunks = chunk_section(SECTION, max_tokens=max_tokens, overlap_tokens=8, count=words)
    assert chunks
    assert all(words(chunk) <= max_tokens for chunk in chunks), [words(c) for c in chunks]
    # nothing is lost: every word of the section is in some chunk
    assert set(SECTION.split()) <= {w for chunk in chunks for w in chunk.split()}


@pytest.mark.parametrize("max_tokens", [32, 64, 200])
def test_chunks_never_exceed_max_tokens_with_model_tokenizer(
    embed_model: LocalEmbedding, max_tokens: int
):
    count = embed_model.count_tokens
    text = "\n\n".join([SECTION, long_code(30)[0], PROSE_2 * 4])
    chunks = chunk_section(text, max_tokens=max_tokens, overlap_tokens=16, count=count)
    assert len(chunks) > 1
    assert all(count(chunk) <= max_tokens for chunk in chunks), [count(c) for c in chunks]
    assert set(text.split()) <= {w for chunk in chunks for w in chunk.split()}


def test_one_chunk_when_everything_fits():
    assert chunk_section(SECTION, max_tokens=1000, overlap_tokens=24, count=words) == [SECTION]


@pytest.mark.parametrize("max_tokens", range(words(CODE), 90, 3))
def test_code_block_that_fits_is_never_cut(max_tokens: int):
    chunks = chunk_section(SECTION, max_tokens=max_tokens, overlap_tokens=8, count=words)
    holding = [chunk for chunk in chunks if "def fuse" in chunk]
    assert len(holding) == 1
    assert CODE in holding[0]
    assert not any("weights = " in chunk for chunk in chunks if chunk is not holding[0])


@pytest.mark.parametrize(("lines", "max_tokens"), [(40, 30), (25, 12), (60, 100)])
def test_long_code_block_is_split_into_fenced_pieces(lines: int, max_tokens: int):
    code, body = long_code(lines)
    assert words(code) > max_tokens
    chunks = chunk_section(code, max_tokens=max_tokens, overlap_tokens=8, count=words)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("```python\n")
        assert chunk.endswith("\n```")
        assert words(chunk) <= max_tokens
    # the pieces hold the body lines in order, each exactly once, and no overlap was added
    assert [line for chunk in chunks for line in code_body(chunk)] == body


def test_long_code_block_with_model_tokenizer_keeps_fences(embed_model: LocalEmbedding):
    code, body = long_code(50)
    count = embed_model.count_tokens
    chunks = chunk_section(code, max_tokens=64, overlap_tokens=16, count=count)
    assert len(chunks) > 1
    assert all(c.startswith("```python\n") and c.endswith("\n```") for c in chunks)
    assert all(count(c) <= 64 for c in chunks)
    assert [line for chunk in chunks for line in code_body(chunk)] == body


def test_tilde_fence_pieces_are_closed_with_tildes():
    code = "~~~bash\n" + "\n".join(f"ros2 run demo node_{i}" for i in range(30)) + "\n~~~"
    chunks = chunk_section(code, max_tokens=20, overlap_tokens=0, count=words)
    assert len(chunks) > 1
    assert all(c.startswith("~~~bash\n") and c.endswith("\n~~~") for c in chunks)


@pytest.mark.parametrize("max_tokens", range(words(TABLE), 90, 4))
def test_table_that_fits_is_kept_whole(max_tokens: int):
    chunks = chunk_section(SECTION, max_tokens=max_tokens, overlap_tokens=8, count=words)
    holding = [chunk for chunk in chunks if "| Sensor |" in chunk]
    assert len(holding) == 1
    assert TABLE in holding[0]
    assert sum("| Radar |" in chunk for chunk in chunks) == 1


def test_table_too_long_is_split_between_rows():
    rows = [f"| sensor {i} | {i * 10} m | ok |" for i in range(20)]
    table = "| Sensor | Range | State |\n| --- | --- | --- |\n" + "\n".join(rows)
    chunks = chunk_section(table, max_tokens=40, overlap_tokens=8, count=words)
    assert len(chunks) > 1
    assert all(words(chunk) <= 40 for chunk in chunks)
    lines = [line for chunk in chunks for line in chunk.splitlines()]
    assert lines == table.splitlines()  # whole rows, in order, none repeated


def test_overlap_repeats_the_tail_sentence_of_the_previous_prose_chunk():
    # 35 + 35 words do not fit in 45; the tail allowance (12) holds one 7-word sentence only
    chunks = chunk_section(f"{PROSE_1}\n\n{PROSE_2}", max_tokens=45, overlap_tokens=12, count=words)
    assert chunks == [PROSE_1, f"Each sensor has its own failure modes.\n\n{PROSE_2}"]


def test_overlap_takes_several_sentences_when_they_fit():
    chunks = chunk_section(f"{PROSE_1}\n\n{PROSE_2}", max_tokens=60, overlap_tokens=14, count=words)
    assert chunks[1].startswith(
        "Radar keeps working in fog and rain. Each sensor has its own failure modes.\n\n"
    )


def test_no_overlap_when_disabled_or_after_code():
    chunks = chunk_section(f"{PROSE_1}\n\n{PROSE_2}", max_tokens=45, overlap_tokens=0, count=words)
    assert chunks == [PROSE_1, PROSE_2]
    # a chunk that ends in a code block gives no overlap (code is not cut into sentences)
    chunks = chunk_section(f"{CODE}\n\n{PROSE_2}", max_tokens=40, overlap_tokens=12, count=words)
    assert chunks == [CODE, PROSE_2]


def test_long_sentence_split_by_words_stays_within_budget():
    sentence = " ".join(f"word{i}" for i in range(95)) + "."
    chunks = chunk_section(sentence, max_tokens=20, overlap_tokens=0, count=words)
    assert all(words(chunk) <= 20 for chunk in chunks)
    assert " ".join(chunks).split() == sentence.split()


def test_empty_section_text_gives_no_chunks():
    assert chunk_section("", max_tokens=50, overlap_tokens=8, count=words) == []
    assert chunk_section("\n\n   \n", max_tokens=50, overlap_tokens=8, count=words) == []


def _page(tmp_path: Path, text: str, name: str = "sensors.md") -> Page:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    path = docs / name
    path.write_text(text, encoding="utf-8")
    return read_page(path, docs)


def test_chunk_page_skips_empty_sections_and_numbers_chunks_consecutively(tmp_path: Path):
    page = _page(
        tmp_path,
        "# Sensors\n\n"
        "## Overview\n\n"  # a heading with no body: a section, but no chunk
        "## Cameras\n\n"
        f"{PROSE_1}\n\n{PROSE_2}\n\n"
        "### Calibration\n\n"
        "Calibrate the camera before each run.\n\n"
        "## Tables\n\n"
        f"{TABLE}\n",
    )
    assert [s.title_path[-1] for s in page.sections] == [
        "Overview",
        "Cameras",
        "Calibration",
        "Tables",
    ]
    chunks = list(chunk_page(page, max_tokens=45, overlap_tokens=8, count=words))
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert [c.section.title_path[-1] for c in chunks] == [
        "Cameras",
        "Cameras",
        "Calibration",
        "Tables",
    ]
    assert all(c.text.strip() for c in chunks)
    assert all(c.page is page for c in chunks)


def test_whitespace_only_section_gives_no_chunk():
    blank = Section(title_path=("T", "Blank"), anchor="blank", level=2, text="  \n\n ")
    full = Section(title_path=("T", "Full"), anchor="full", level=2, text="Some text here.")
    page = Page(
        source_path="docs/t.md",
        relative_path="t.md",
        doc_id="t",
        title="T",
        url="/docs/t",
        sidebar_position=None,
        content_hash="0" * 64,
        sections=(blank, full, blank),
    )
    chunks = list(chunk_page(page, max_tokens=50, overlap_tokens=8, count=words))
    assert [(c.section.anchor, c.ordinal, c.text) for c in chunks] == [
        ("full", 0, "Some text here.")
    ]


def test_embed_text_starts_with_the_heading_path(tmp_path: Path, embed_model: LocalEmbedding):
    page = _page(
        tmp_path,
        "---\ntitle: Perception\n---\n\n"
        "Intro text of the page.\n\n"
        "## Cameras\n\n### Calibration\n\nCalibrate the camera before each run.\n",
    )
    chunks: list[Chunk] = list(
        chunk_page(page, max_tokens=200, overlap_tokens=24, count=embed_model.count_tokens)
    )
    assert [c.heading_path for c in chunks] == [
        "Perception",
        "Perception > Cameras > Calibration",
    ]
    for chunk in chunks:
        assert chunk.embed_text.startswith(chunk.heading_path + "\n\n")
        assert chunk.embed_text.endswith(chunk.text)
    assert chunks[1].embed_text == (
        "Perception > Cameras > Calibration\n\nCalibrate the camera before each run."
    )


# Regressions: each of these once failed.


def test_unclosed_long_code_fence_keeps_its_last_line(tmp_path: Path):
    body = [f"x{i} = {i}" for i in range(30)]
    page = _page(tmp_path, "# Code\n\n## Listing\n\n```python\n" + "\n".join(body) + "\n")
    assert page.sections[-1].text.endswith("x29 = 29")  # the reader keeps it
    chunks = list(chunk_page(page, max_tokens=20, overlap_tokens=0, count=words))
    assert "x29 = 29" in "\n".join(c.text for c in chunks)


def test_over_long_sentence_with_uneven_tokens_stays_within_budget(embed_model: LocalEmbedding):
    count = embed_model.count_tokens
    sentence = " ".join(["a"] * 150 + ["Pneumonoultramicroscopicsilicovolcanoconiosis"] * 40)
    chunks = chunk_section(sentence, max_tokens=50, overlap_tokens=0, count=count)
    assert all(count(chunk) <= 50 for chunk in chunks), [count(c) for c in chunks]
