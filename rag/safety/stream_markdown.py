"""Streamed answers as inert Markdown: ``StreamSanitizer`` and what it may release early.

A piece is released once it cannot form markup with what follows: a complete block (up to a blank
line or a closing fence) goes through ``sanitize_markdown``; before that, only a prefix of plain
words passes, and the rest is held back.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.safety.markdown_code import FENCE_OPEN_RE
from rag.safety.markdown_sanitizer import sanitize_markdown
from rag.safety.placeholders import strip_invisible

_BLANK_RE = re.compile(r"^[ \t]*$")
_CITATION_WORD_RE = re.compile(r"^\(?(?:\[\d{1,3}\])+[.,;:!?)]*$")
_UNSAFE_WORD_RE = re.compile(
    r"""[<\[\]`\\\ue000\ue001]|://|(?i:^www\.)|(?i:\b(?:javascript|vbscript|livescript|data|"""
    r"""file)\s*:)|(?i:\.[a-z]{2,24}(?::\d+)?[/?#])"""
)


def _block_end(text: str) -> int | None:
    """End of the first complete block of ``text`` (after a blank line or a closing fence)."""
    fence: str | None = None
    position = 0
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            return None
        position += len(line)
        if fence is None:
            match = FENCE_OPEN_RE.match(line)
            if match:
                fence = match.group("fence")
            elif _BLANK_RE.match(line) and position > len(line):
                return position
        else:
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                return position
    return None


def _inert_prefix(text: str, *, at_line_start: bool) -> int:
    """Length of the longest prefix of whole plain words (and whitespace) in ``text``.

    Plain words cannot start markup, so they can be shown before the rest of their block
    arrives; a citation such as ``[2]`` or ``[1][3].`` counts as plain.
    """
    end = 0
    for match in re.finditer(r"(\s*)(\S+)(?=\s)", text):
        word = match.group(2)
        before = text[: match.start(2)].rsplit("\n", 1)
        line_start = not before[-1].strip() and (len(before) == 2 or at_line_start)
        if line_start and word.startswith(("```", "~~~")):
            break
        if _UNSAFE_WORD_RE.search(word) and not (
            _CITATION_WORD_RE.match(word) and not (line_start and word.endswith(":"))
        ):
            break
        end = match.end(2)
    trailing = re.match(r"\s*", text[end:])
    return end + (trailing.end() if trailing and end else 0)


class StreamSanitizer:
    """Sanitises an answer that arrives in pieces, never releasing text that could be markup.

    ``feed`` returns what may be shown now; ``finish`` the rest. Their concatenation is safe
    Markdown by the same rules as ``sanitize_markdown`` (not necessarily identical to it).
    """

    def __init__(self, hosts: Collection[str] = ()) -> None:
        self.hosts = tuple(hosts)
        self._pending = ""
        self._line_start = True

    def _emit(self, text: str, *, sanitize: bool) -> str:
        out = (
            sanitize_markdown(text, self.hosts, at_line_start=self._line_start)
            if sanitize
            else text
        )
        if text:
            self._line_start = text.endswith("\n")
        return out

    def feed(self, delta: str) -> str:
        """Take the next piece of the answer; return the part that is safe to show now."""
        self._pending += strip_invisible(delta)
        out: list[str] = []
        while (end := _block_end(self._pending)) is not None:
            block, self._pending = self._pending[:end], self._pending[end:]
            out.append(self._emit(block, sanitize=True))
        cut = _inert_prefix(self._pending, at_line_start=self._line_start)
        if cut:
            plain, self._pending = self._pending[:cut], self._pending[cut:]
            out.append(self._emit(plain, sanitize=False))
        return "".join(out)

    def finish(self) -> str:
        """The rest of the answer, sanitised."""
        rest, self._pending = self._pending, ""
        return self._emit(rest, sanitize=True) if rest else ""
