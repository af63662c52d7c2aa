"""Checks of an answer's form that a reader would notice: broken code fences, a cut-off start."""

from __future__ import annotations

import re

from rag.text import FENCE_RE

_CITATION_RE = re.compile(r"^\s*\[\d+\]\s*")
_LEADING_MARKUP_RE = re.compile(r"^[\s>*_#]+")
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def fences_balanced(answer: str) -> bool:
    """True when every code fence the answer opens is closed (by a fence of the same kind)."""
    fence: str | None = None
    for line in answer.splitlines():
        match = FENCE_RE.match(line)
        if not match:
            continue
        mark = match.group(1)
        if fence is None:
            fence = mark
        elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :]:
            fence = None
    return fence is None


def starts_mid_sentence(answer: str) -> bool:
    """True when the answer's first words are the middle of a sentence ("and the robot ...").

    Prose (after quote or emphasis marks and a citation) starting with a lower-case letter or
    with closing punctuation is taken as a cut-off sentence; an answer opening with a code
    block, a list item, a table row, a number or a quoted identifier is not.
    """
    text = answer.lstrip()
    if not text or FENCE_RE.match(text.splitlines()[0]) or _LIST_ITEM_RE.match(text):
        return False
    if text.startswith(("|", "`")):
        return False
    text = _CITATION_RE.sub("", _LEADING_MARKUP_RE.sub("", text))
    first = text[:1]
    return bool(first) and (first.islower() or first in ",;:.)]}")
