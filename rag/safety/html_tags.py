"""What counts as HTML in text: element names, tags, comments and script-like elements.

A tag of an HTML element (``<img onerror=...>``) is markup; ``vector<T>`` is not. Shared by the
Markdown sanitizers and the input checks.
"""

from __future__ import annotations

import re

_CONTENT_ELEMENTS = (
    "script|style|iframe|object|embed|noscript|template|svg|math|textarea|title|xmp|noembed|"
    "noframes|select|frameset|applet"
)
_HTML_ELEMENT_NAMES = (
    "a abbr address area article aside audio b base bdi bdo blockquote body br button canvas "
    "caption center cite code col colgroup data datalist dd del details dfn dialog div dl dt em "
    "fieldset figcaption figure font footer form frame h1 h2 h3 h4 h5 h6 head header hr html i "
    "img image input ins kbd label legend li link main map mark marquee menu meta meter nav "
    "object ol optgroup option output p param picture plaintext portal pre progress q rp rt "
    "ruby s samp search section slot small source span strike strong sub summary sup table "
    "tbody td tfoot th thead time tr track tt u ul var video wbr blink base basefont isindex "
    "keygen listing nobr spacer"
)
HTML_ELEMENTS = frozenset(_HTML_ELEMENT_NAMES.split())  # what counts as a tag (not vector<T>)
_ATTRS = r"""(?:"[^"]*"|'[^']*'|[^'"<>])*"""
CONTENT_ELEMENT_RE = re.compile(
    rf"<({_CONTENT_ELEMENTS})\b{_ATTRS}>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)|<![A-Za-z\[][^>]*>?|<\?[^>]*>?", re.DOTALL)
TAG_RE = re.compile(rf"</?([A-Za-z][A-Za-z0-9-]*)(?:\s{_ATTRS})?\s*/?>")
ATTR_TAG_RE = re.compile(rf"</?([A-Za-z][A-Za-z0-9:-]*)(\s{_ATTRS})?\s*/?>")


def drop_tag(match: re.Match[str]) -> str:
    """A ``TAG_RE`` match removed when it names an HTML element, kept otherwise."""
    return "" if match.group(1).lower() in HTML_ELEMENTS else match.group(0)


def drop_markup_tag(match: re.Match[str]) -> str:
    """An ``ATTR_TAG_RE`` match removed when it names an HTML element, has attributes or closes."""
    name, attrs = match.group(1).lower(), (match.group(2) or "").strip()
    closing = match.group(0).startswith("</")
    return "" if name in HTML_ELEMENTS or attrs or closing else match.group(0)
