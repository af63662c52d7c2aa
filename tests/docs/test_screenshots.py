"""The user guide's screenshots: each shown one is in docs/img/, and the copier finds them."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown import DOCS
from tools.screenshots import copy_shown, shown_images


def test_every_shown_screenshot_is_committed_and_none_is_unused():
    shown = shown_images()
    assert len(shown) >= 8
    committed = sorted(p.name for p in (DOCS / "img").glob("*.png"))
    assert committed == sorted(shown)


def test_the_copier_copies_what_the_guide_shows_and_names_what_is_missing(tmp_path: Path):
    guide = tmp_path / "guide.md"
    guide.write_text("![a](img/01-a.png) ![b](img/02-b.png) ![a again](img/01-a.png)\n")
    source, target = tmp_path / "shots", tmp_path / "img"
    source.mkdir()
    (source / "01-a.png").write_bytes(b"png")
    (source / "99-unused.png").write_bytes(b"png")
    assert copy_shown(source, target, guide) == ["02-b.png"]
    assert sorted(p.name for p in target.iterdir()) == ["01-a.png"]
