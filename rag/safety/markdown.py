"""Answers as inert Markdown: no executable HTML, no images, no links off the book's site.

The public face of the answer sanitizers; the rules and the threat they answer are in
``rag.safety.markdown_sanitizer``. The parts:

- ``rag.safety.markdown_sanitizer``: ``sanitize_markdown`` (a whole answer) and ``snippet_text``
  (a source snippet as plain text);
- ``rag.safety.stream_markdown``: ``StreamSanitizer`` (an answer arriving in pieces);
- ``rag.safety.links``: the book's hosts (``normalise_hosts``, ``host_allowed``), link targets
  (``safe_link_target``) and defanged outside hosts (``defang_host``);
- ``rag.safety.markdown_code``: fenced code blocks and code spans (``CODE_QUERY_REMOVED``);
- ``rag.safety.html_tags``: what counts as HTML (``HTML_ELEMENTS``, ``TAG_RE``,
  ``CONTENT_ELEMENT_RE``);
- ``rag.safety.placeholders``: ``strip_invisible`` and the placeholders for parts made safe.
"""

from __future__ import annotations

from rag.safety.html_tags import CONTENT_ELEMENT_RE, HTML_ELEMENTS, TAG_RE
from rag.safety.links import defang_host, host_allowed, normalise_hosts, safe_link_target
from rag.safety.markdown_code import CODE_QUERY_REMOVED
from rag.safety.markdown_sanitizer import sanitize_markdown, snippet_text
from rag.safety.placeholders import strip_invisible
from rag.safety.stream_markdown import StreamSanitizer

__all__ = [
    "CODE_QUERY_REMOVED",
    "CONTENT_ELEMENT_RE",
    "HTML_ELEMENTS",
    "TAG_RE",
    "StreamSanitizer",
    "defang_host",
    "host_allowed",
    "normalise_hosts",
    "safe_link_target",
    "sanitize_markdown",
    "snippet_text",
    "strip_invisible",
]
