"""Clean the text a reader sends before anything uses it: no control characters, no HTML.

Readers paste selections from rendered pages, so markup arrives by accident as often as on
purpose. The words are kept (``<b>ZMP</b>`` becomes ``ZMP``); the content of elements that never
carry reading text (``<script>``, ``<style>``, ``<iframe>``...) is removed with them. Only names of
HTML elements count as tags, so code such as ``std::vector<double>`` or
``#include <rclcpp/rclcpp.hpp>`` and comparisons such as ``a < b > c`` survive. Entities
(``&lt;``) are left as they are: decoding them would turn inert text back into markup.
"""

from __future__ import annotations

import re

from rag.safety.html_tags import CONTENT_ELEMENT_RE, HTML_ELEMENTS, TAG_RE

# Elements that separate words: they become a space, so "<p>a</p><p>b</p>" is not "ab".
_BLOCK_ELEMENT_NAMES = (
    "address article aside blockquote br dd details dialog div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot "
    "th thead tr ul"
)
_BLOCK_ELEMENTS = frozenset(_BLOCK_ELEMENT_NAMES.split())
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)|<![A-Za-z\[][^<>]*>|<\?[^<>]*>", re.DOTALL)
# C0 and C1 controls except tab and newline, bidirectional overrides and isolates (they can
# hide text from a reviewer), and Unicode tag characters (invisible "ASCII smuggling").
_INVISIBLE = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f"
_CONTROL_RE = re.compile(rf"(?![\t\n])[{_INVISIBLE}]")
_MAX_PASSES = 8


def strip_control_characters(text: str) -> str:
    """``text`` without control characters; tab and newline are kept (CR LF becomes LF)."""
    return _CONTROL_RE.sub("", text)


def _drop_tag(match: re.Match[str]) -> str:
    name = match.group(1).lower()
    if name not in HTML_ELEMENTS:
        return match.group(0)
    return " " if name in _BLOCK_ELEMENTS else ""


def strip_html(text: str) -> str:
    """``text`` without HTML tags, comments, and the content of script-like elements.

    Repeats until nothing changes, so nested tricks such as ``<scr<script></script>ipt>`` do not
    leave a script behind; text nested deeper than that loses its angle brackets altogether.
    """
    for _ in range(_MAX_PASSES):
        cleaned = _COMMENT_RE.sub("", CONTENT_ELEMENT_RE.sub("", text))
        if cleaned == text:  # tags go only once no script-like element is left to reassemble
            cleaned = TAG_RE.sub(_drop_tag, text)
            if cleaned == text:
                return text
        text = cleaned
    return text.replace("<", "").replace(">", "")


def clean_text(text: str) -> str:
    """Reader text ready to use: control characters and HTML removed, ends stripped."""
    return strip_html(strip_control_characters(text)).strip()


def clean_required_text(text: str) -> str:
    """Like :func:`clean_text`, but text that is nothing but markup is refused.

    Raises:
        ValueError: nothing is left once the markup is removed.
    """
    cleaned = clean_text(text)
    if not cleaned:
        raise ValueError("no text is left once HTML and control characters are removed")
    return cleaned


def clean_optional_text(text: str | None) -> str | None:
    """Like :func:`clean_text`; ``None`` when nothing is left."""
    if text is None:
        return None
    return clean_text(text) or None


# Text with at least one visible character (schemas declare it, so "   " is refused as invalid).
VISIBLE_TEXT_PATTERN = rf"[^\s{_INVISIBLE}]"
# A page address: an absolute http(s) URL with an ASCII host (what ``location.href`` gives), or
# a path on the book's site ("/docs/x", not the protocol-relative "//host").
PAGE_URL_PATTERN = (
    rf"^(https?://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?([/?#][^\s{_INVISIBLE}]*)?"
    rf"|/([^/\s{_INVISIBLE}][^\s{_INVISIBLE}]*)?)$"
)
