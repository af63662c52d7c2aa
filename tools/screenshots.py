"""Copy the chat widget's screenshots, made by the browser tests, into docs/img/ for the guides.

Usage: ``python -m tools.screenshots [--run] [--source DIR]``. ``--run`` first runs the browser
tests (``pytest tests/e2e/widget``: the sample book built with Docusaurus, ``rag-serve`` with the
LLM simulator, Chromium), which leave one PNG per state in ``reports/screenshots/``. Then every
``img/*.png`` that docs/user-guide.md shows is copied from the source folder. Exit 0 done, 1 a
shown screenshot is missing (or the tests failed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "user-guide.md"
IMG = ROOT / "docs" / "img"
REPORTS = ROOT / "reports" / "screenshots"
_SHOWN = re.compile(r"\]\(img/([A-Za-z0-9_.-]+\.png)\)")


def shown_images(guide: Path = GUIDE) -> list[str]:
    """The screenshot file names the guide shows, in page order, once each."""
    return list(dict.fromkeys(_SHOWN.findall(guide.read_text(encoding="utf-8"))))


def copy_shown(source: Path, target: Path = IMG, guide: Path = GUIDE) -> list[str]:
    """Copy each shown screenshot from ``source`` to ``target``; returns the names missing."""
    target.mkdir(parents=True, exist_ok=True)
    missing = []
    for name in shown_images(guide):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
        else:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    """Regenerate (``--run``) and copy the user guide's screenshots."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots",
        description="Copy the widget screenshots the browser tests make into docs/img/.",
    )
    parser.add_argument("--run", action="store_true", help="run the browser tests first")
    parser.add_argument("--source", type=Path, default=REPORTS, help="folder of the PNGs")
    args = parser.parse_args(argv)
    if args.run:
        tests = [sys.executable, "-m", "pytest", "tests/e2e/widget", "-q"]
        if subprocess.run(tests, cwd=ROOT, check=False).returncode != 0:  # noqa: S603
            print("screenshots: the browser tests failed", file=sys.stderr)
            return 1
    missing = copy_shown(args.source)
    for name in missing:
        print(f"screenshots: {name} not found in {args.source}", file=sys.stderr)
    done = len(shown_images()) - len(missing)
    print(f"screenshots: copied {done} of {len(shown_images())} into docs/img/")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
