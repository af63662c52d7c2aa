"""Placeholders for parts of an answer already made safe (code, rebuilt links), and input cleaning.

The placeholders are private-use characters; ``strip_invisible`` removes those from the input
first, with control, zero-width, bidirectional and tag characters, so the input cannot forge one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HOLD_OPEN, HOLD_CLOSE = "\ue000", "\ue001"
_PRIVATE_RE = re.compile("[\ue000-\uf8ff]")
_INVISIBLE_RE = re.compile(
    "(?![\t\n])[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\U000e0000-\U000e007f]"
)


@dataclass
class Held:
    """Pieces of text already made safe, replaced by placeholders while the rest is cleaned."""

    pieces: list[str] = field(default_factory=list)

    def hold(self, text: str) -> str:
        self.pieces.append(text)
        return f"{HOLD_OPEN}{len(self.pieces) - 1}{HOLD_CLOSE}"

    def restore(self, text: str) -> str:
        pattern = re.compile(f"{HOLD_OPEN}(\\d+){HOLD_CLOSE}")
        for _ in range(8):  # held pieces may hold others (a link's text with code in it)
            restored = pattern.sub(lambda m: self.pieces[int(m.group(1))], text)
            if restored == text:
                break
            text = restored
        return text


def strip_invisible(text: str) -> str:
    """``text`` without control, zero-width, bidirectional and tag characters (tab, LF kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _PRIVATE_RE.sub("", _INVISIBLE_RE.sub("", text))
