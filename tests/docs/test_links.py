"""Every relative link and anchor in README.md and docs/ resolves; every page is reachable."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs.markdown import DOCS, README, ROOT, is_relative, pages, read_page


def _broken_links(path: Path, root: Path = ROOT) -> list[str]:
    page = read_page(path)
    broken = []
    for link in page.links:
        if not is_relative(link.href):
            continue
        target_part, _, anchor = link.href.partition("#")
        target = (path.parent / unquote(target_part)).resolve() if target_part else path
        where = f"{page.name}:{link.line + 1}: {link.href}"
        if not target.exists():
            broken.append(f"{where} (no such file)")
        elif root not in target.parents and target != root:
            broken.append(f"{where} (outside the repository)")
        elif anchor and target.suffix == ".md" and anchor not in read_page(target).anchors:
            broken.append(f"{where} (no heading with anchor #{anchor} in {target.name})")
        elif anchor and target.suffix != ".md":
            broken.append(f"{where} (anchor into a file that is not Markdown)")
    return broken


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_and_anchors_resolve(path: Path):
    assert _broken_links(path) == []


def test_the_checker_finds_a_broken_file_link_and_a_broken_anchor(tmp_path: Path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Own heading\n\n"
        "[ok](other.md#a-section) [self](#own-heading) [web](https://example.org/x)\n"
        "[missing](nowhere.md) [bad anchor](other.md#no-such) [bad self](#gone)\n",
        encoding="utf-8",
    )
    broken = _broken_links(page, root=tmp_path)
    assert [entry.rsplit(": ", 1)[1].split(" (")[0] for entry in broken] == [
        "nowhere.md",
        "other.md#no-such",
        "#gone",
    ]


def test_every_docs_page_is_linked_from_the_readme():
    linked = {
        (README.parent / link.href.partition("#")[0]).resolve()
        for link in read_page(README).links
        if is_relative(link.href) and link.href.partition("#")[0]
    }
    top_pages = sorted(DOCS.glob("*.md"))
    assert top_pages, "docs/ has no pages"
    assert [p.name for p in top_pages if p.resolve() not in linked] == []
