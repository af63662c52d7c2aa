"""Docusaurus reader: doc ids and routes, titles, sections, errors, and real-build truth.

Expected routes in the unit tests come from a real Docusaurus 3.10.2 build of the same files
(``build_truth.sh``, see ``data/docusaurus_truth.json``), not from reading the code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ingest.docusaurus import PageError, content_title, find_doc_files, read_page
from ingest.routes import RouteError, doc_route, parse_number_prefix

REPO = Path(__file__).resolve().parents[2]
TRUTH_FILE = Path(__file__).parent / "data" / "docusaurus_truth.json"


def shared_corpora() -> Path:
    """The team's shared corpora: ``RAG_SHARED_DIR`` or ``../shared`` beside the repo."""
    return Path(os.environ.get("RAG_SHARED_DIR", REPO.parent / "shared")) / "corpora"


def write(root: Path, relative: str, text: str | bytes) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("relative", "front_matter", "doc_id", "url"),
    [
        ("01-intro.md", {}, "intro", "/docs/intro"),
        ("02-guide/index.md", {}, "guide/index", "/docs/guide/"),
        (
            "02-guide/03-step.md",
            {"id": "custom-step"},
            "guide/custom-step",
            "/docs/guide/custom-step",
        ),
        ("02-guide/rel-slug.md", {"slug": "foo/bar"}, "guide/rel-slug", "/docs/guide/foo/bar"),
        ("02-guide/abs-slug.md", {"slug": "/abs"}, "guide/abs-slug", "/docs/abs"),
        ("things/things.md", {}, "things/things", "/docs/things/"),
        ("other/README.md", {"id": "readme-id"}, "other/readme-id", "/docs/other/"),
        ("other/2.0-version.md", {}, "other/2.0-version", "/docs/other/2.0-version"),
        ("other/01_underscore.md", {}, "other/underscore", "/docs/other/underscore"),
        ("other/1.dot.md", {}, "other/dot", "/docs/other/dot"),
        ("other/02-other.md", {}, "other/other", "/docs/other/other"),
        ("03-prefixed/03-prefixed.md", {}, "prefixed/prefixed", "/docs/prefixed/"),
        ("04-pre/pre.md", {}, "pre/pre", "/docs/pre/pre"),
        ("idx/index.md", {"id": "custom-index"}, "idx/custom-index", "/docs/idx/"),
        ("idx2/index.md", {"slug": "intro"}, "idx2/index", "/docs/idx2/intro"),
        ("Upper_Case.md", {}, "Upper_Case", "/docs/Upper_Case"),
        ("a/b/c.md", {"slug": "../up"}, "a/b/c", "/docs/a/up"),
    ],
)
def test_doc_route_matches_docusaurus(
    relative: str, front_matter: dict[str, Any], doc_id: str, url: str
) -> None:
    route = doc_route(PurePosixPath(relative), front_matter, "/docs")
    assert (route.doc_id, route.url) == (doc_id, url)


@pytest.mark.parametrize(
    ("relative", "base", "trailing_slash", "url"),
    [
        ("intro.md", "/", None, "/intro"),
        ("index.md", "/", None, "/"),
        ("index.md", "/docs", None, "/docs/"),
        ("index.md", "/docs", False, "/docs"),
        ("guide/index.md", "/docs", False, "/docs/guide"),
        ("guide/intro.md", "/docs", True, "/docs/guide/intro/"),
        ("guide/intro.md", "docs/", None, "/docs/guide/intro"),
        ("tutorials/tutorials-index.md", "/", None, "/tutorials/index"),
    ],
)
def test_route_base_path_and_trailing_slash(
    relative: str, base: str, trailing_slash: bool | None, url: str
) -> None:
    front_matter = {"slug": "index"} if "tutorials-index" in relative else {}
    route = doc_route(PurePosixPath(relative), front_matter, base, trailing_slash)
    assert route.url == url


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("01-intro", ("intro", 1)),
        ("003 - Spaced", ("Spaced", 3)),
        ("1.dot", ("dot", 1)),
        ("01_under", ("under", 1)),
        ("10--x", ("x", 10)),
        ("2.0-version", ("2.0-version", None)),
        ("007.5-a", ("007.5-a", None)),
        ("7", ("7", None)),
        ("1-", ("1-", None)),
    ],
)
def test_number_prefix_parser(name: str, expected: tuple[str, int | None]) -> None:
    assert parse_number_prefix(name) == expected


def test_parse_number_prefixes_false_keeps_them() -> None:
    route = doc_route(PurePosixPath("01-a/02-b.md"), {"parse_number_prefixes": False})
    assert (route.doc_id, route.url, route.number_prefix) == ("01-a/02-b", "/docs/01-a/02-b", None)


def test_id_with_slash_is_refused() -> None:
    with pytest.raises(RouteError, match="cannot include a slash"):
        doc_route(PurePosixPath("a.md"), {"id": "x/y"})


def test_find_doc_files_skips_partials_hidden_and_node_modules(tmp_path: Path) -> None:
    for relative in (
        "b.md",
        "a/c.mdx",
        "a/_partial.mdx",
        "_drafts/x.md",
        ".hidden/y.md",
        "node_modules/pkg/README.md",
        "a/notes.txt",
        "a/_category_.json",
        "a/SHOUT.MD",
    ):
        write(tmp_path, relative, "# x\n")
    found = [path.relative_to(tmp_path).as_posix() for path in find_doc_files(tmp_path)]
    assert found == ["a/c.mdx", "b.md"]


def test_page_fields(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    raw = "---\ntitle: Hardware\nsidebar_position: 2.5\n---\n\nIntro text.\n\n## Setup\n\nBody.\n"
    path = write(docs, "02-lab/hardware.md", raw)
    page = read_page(path, docs)
    assert page.source_path == "docs/02-lab/hardware.md"
    assert page.relative_path == "02-lab/hardware.md"
    assert (page.doc_id, page.title, page.url) == ("lab/hardware", "Hardware", "/docs/lab/hardware")
    assert page.sidebar_position == 2.5
    assert page.content_hash == hashlib.sha256(raw.encode()).hexdigest()
    intro, setup = page.sections
    assert (intro.title_path, intro.anchor, intro.level, intro.text) == (
        ("Hardware",),
        "",
        1,
        "Intro text.",
    )
    assert (setup.title_path, setup.anchor, setup.level, setup.text) == (
        ("Hardware", "Setup"),
        "setup",
        2,
        "Body.",
    )
    assert page.section_url(intro) == "/docs/lab/hardware"
    assert page.section_url(setup) == "/docs/lab/hardware#setup"


def test_sidebar_position_falls_back_to_number_prefix(tmp_path: Path) -> None:
    assert read_page(write(tmp_path, "03-a.md", "x\n"), tmp_path).sidebar_position == 3.0
    assert read_page(write(tmp_path, "b.md", "x\n"), tmp_path).sidebar_position is None


@pytest.mark.parametrize(
    ("relative", "text", "title"),
    [
        ("a.md", "---\ntitle: From Front Matter\n---\n# From H1\n", "From Front Matter"),
        ("02-b.md", "# From `H1` {#custom}\n\ntext\n", "From H1"),
        ("c.md", "import X from 'x'\n\n# After Import\n", "After Import"),
        ("d.md", "Setext Title\n===\n\ntext\n", "Setext Title"),
        ("03-e.md", "Paragraph first.\n\n# Not The Title\n", "e"),
        ("f.md", "---\nid: custom-id\n---\n## Only h2\n", "custom-id"),
    ],
)
def test_title_rules(tmp_path: Path, relative: str, text: str, title: str) -> None:
    assert read_page(write(tmp_path, relative, text), tmp_path).title == title


def test_content_title_is_only_the_opening_h1() -> None:
    assert content_title("\n\n# Title ##\n\nBody") == "Title"
    assert content_title("Body\n\n# Later") is None


def test_sections_paths_levels_and_empty_sections(tmp_path: Path) -> None:
    text = (
        "# Guide\n\n## A\n\ntext a\n\n### A.1\n\n#### A.1.a\n\ndeep\n\n## B\n\n"
        "```md\n## not a heading\n```\n\n# Second H1\n\n## C\n"
    )
    page = read_page(write(tmp_path, "guide.md", text), tmp_path)
    got = [(s.title_path, s.anchor, s.level, s.text) for s in page.sections]
    assert got == [
        (("Guide", "A"), "a", 2, "text a"),
        (("Guide", "A", "A.1"), "a1", 3, ""),
        (("Guide", "A", "A.1", "A.1.a"), "a1a", 4, "deep"),
        (("Guide", "B"), "b", 2, "```md\n## not a heading\n```"),
        (("Guide", "Second H1"), "", 1, ""),
        (("Guide", "Second H1", "C"), "c", 2, ""),
    ]


def test_opening_h1_that_differs_from_the_title_stays_in_the_intro(tmp_path: Path) -> None:
    text = "---\ntitle: Short\n---\n# A Longer Heading\n\nIntro.\n\n## Next\n"
    first = read_page(write(tmp_path, "a.md", text), tmp_path).sections[0]
    assert (first.title_path, first.text) == (("Short",), "# A Longer Heading\n\nIntro.")


def test_opening_h1_equal_to_the_title_is_removed(tmp_path: Path) -> None:
    text = "---\ntitle: Same Title\n---\n# Same Title\n\nIntro.\n"
    (intro,) = read_page(write(tmp_path, "a.md", text), tmp_path).sections
    assert intro.text == "Intro."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"---\ntitle: x\n# no closing line\n", "never closed"),
        (b"---\ntitle: [unclosed\n---\nbody\n", "invalid YAML front matter"),
        (b"---\n- a list\n---\nbody\n", "must be a mapping"),
        (b"# caf\xe9 in latin-1\n", "not UTF-8"),
        (b"---\ndraft: true\n---\nbody\n", "draft"),
        (b"---\nslug: /a?b\n---\nbody\n", "not a valid URL path"),
    ],
)
def test_bad_files_raise_page_error_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = write(tmp_path, "bad.md", content)
    with pytest.raises(PageError, match=message) as caught:
        read_page(path, tmp_path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_nested_front_matter_and_crlf(tmp_path: Path) -> None:
    text = "---\r\ntitle: T\r\nweekly:\r\n  week1: [a, b]\r\n---\r\n## H\r\nx\r\n"
    page = read_page(write(tmp_path, "a.md", text.encode()), tmp_path)
    assert [(s.anchor, s.text) for s in page.sections] == [("h", "x")]


def _truth_cases() -> list[Any]:
    truth = json.loads(TRUTH_FILE.read_text(encoding="utf-8"))
    cases = []
    for name, corpus in truth["corpora"].items():
        for relative, expected in corpus["pages"].items():
            cases.append(pytest.param(corpus, relative, expected, id=f"{name}:{relative}"))
    return cases


@pytest.mark.parametrize(("corpus", "relative", "expected"), _truth_cases())
def test_reader_reproduces_the_real_docusaurus_build(
    corpus: dict[str, Any], relative: str, expected: dict[str, Any]
) -> None:
    root = REPO if corpus["root"] == "repo" else shared_corpora()
    docs = root / corpus["docs_dir"]
    if not docs.is_dir():
        pytest.skip(f"corpus not found at {docs} (set RAG_SHARED_DIR to the shared folder)")
    path = docs / relative
    if not path.is_file():
        pytest.fail(f"{path} is gone: rebuild the truth with build_truth.sh (see the data file)")
    page = read_page(
        path,
        docs,
        corpus["route_base_path"],
        trailing_slash=corpus["trailing_slash"],
        markdown_format=corpus["markdown_format"],
    )
    assert (page.url, page.doc_id, page.title) == (
        expected["route"],
        expected["doc_id"],
        expected["title"],
    )
    anchors = [[section.level, section.anchor] for section in page.sections if section.level > 1]
    assert anchors == expected["anchors"]


def test_truth_covers_every_sample_book_page() -> None:
    truth = json.loads(TRUTH_FILE.read_text(encoding="utf-8"))["corpora"]["sample-book"]
    docs = REPO / truth["docs_dir"]
    on_disk = {path.relative_to(docs).as_posix() for path in find_doc_files(docs)}
    assert on_disk == set(truth["pages"]), "sample_book changed: rebuild the Docusaurus truth"
