"""Heading anchors (github-slugger as Docusaurus uses it) and the MDX clean-up for indexing.

Expected anchors were taken from a real Docusaurus 3.10.2 build of the same markdown.
"""

from __future__ import annotations

import pytest

from ingest.headings import heading_text, scan_headings
from ingest.mdx import LineKind, classify_lines, clean_markdown
from ingest.slugger import GithubSlugger, slugify


def anchors(markdown: str, *, mdx: bool = False) -> list[tuple[int, str]]:
    return [(h.level, h.anchor) for h in scan_headings(markdown.split("\n"), mdx=mdx)]


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Quick Start Options", "quick-start-options"),
        ("C++ & C# & <T> 100%", "c--c--t-100"),
        ("Émoji 🚀 Rocket ⚠️ Warning ²", "émoji--rocket-️-warning-"),
        ("Tab\tChar  Double  Space", "tabchar--double--space"),
        ("Denavit–Hartenberg parameters", "denavithartenberg-parameters"),  # noqa: RUF001
        ("snake_case_name", "snake_case_name"),
        ("Ünïcödé Çase", "ünïcödé-çase"),
        ("Line\nbreak", "linebreak"),
    ],
)
def test_slugify_like_github_slugger(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_slugger_counts_repeats_per_page() -> None:
    slugger = GithubSlugger()
    got = [slugger.slug(text) for text in ("Overview", "Overview", "Overview", "Overview-1")]
    assert got == ["overview", "overview-1", "overview-2", "overview-1-1"]
    assert slugify("KeepCase", maintain_case=True) == "KeepCase"


def test_duplicates_and_the_h1_share_one_counter() -> None:
    markdown = "# Overview\n\n## Overview\n\n## Overview\n\n## Overview-1\n"
    assert anchors(markdown) == [
        (1, "overview"),
        (2, "overview-1"),
        (2, "overview-2"),
        (2, "overview-1-1"),
    ]


def test_custom_ids_are_used_verbatim_and_not_counted() -> None:
    markdown = "## Custom Thing {#my-custom}\n\n## Custom Thing\n\n## my-custom\n"
    # Docusaurus does not register an explicit id with the slugger: the third heading collides.
    assert anchors(markdown) == [(2, "my-custom"), (2, "custom-thing"), (2, "my-custom")]


def test_mdx_comment_ids() -> None:
    assert anchors("## Mdx Comment Id {/* #mdx-id */}", mdx=True) == [(2, "mdx-id")]
    assert anchors("## Classic Id {#classic-mdx}", mdx=True) == [(2, "classic-mdx")]


@pytest.mark.parametrize(
    ("raw", "text", "anchor"),
    [
        (
            "Using `useSelector` and **bold** _emph_ and [a link](https://x.y) ![img alt](a.png)",
            "Using useSelector and bold emph and a link img alt",
            "using-useselector-and-bold-emph-and-a-link-img-alt",
        ),
        (
            "snake_case_name and __dunder__ and *star*",
            "snake_case_name and dunder and star",
            "snake_case_name-and-dunder-and-star",
        ),
        ("C++ & C# &amp; &lt;T&gt; 100%", "C++ & C# & <T> 100%", "c--c--t-100"),
        ("With <span>inline html</span> tag", "With inline html tag", "with-inline-html-tag"),
        (
            "Escaped \\*stars\\* and \\_under\\_",
            "Escaped *stars* and _under_",
            "escaped-stars-and-_under_",
        ),
        ("Heading <!-- #html-comment-id -->", "Heading", "heading-"),
        ("Code `<Provider>` tag", "Code <Provider> tag", "code-provider-tag"),
        ("Trailing hashes ##", "Trailing hashes", "trailing-hashes"),
    ],
)
def test_heading_text_and_anchor(raw: str, text: str, anchor: str) -> None:
    (heading,) = scan_headings([f"## {raw}"], mdx=False)
    assert (heading.text, heading.anchor) == (text, anchor)


def test_heading_text_returns_custom_id() -> None:
    assert heading_text("Using `x` *well* {#use}", mdx=False) == ("Using x well", "use")


def test_what_is_and_is_not_a_heading() -> None:
    markdown = "\n".join(
        [
            "```python",
            "## not a heading",
            "# nor this",
            "```",
            "~~~",
            "## not either",
            "~~~",
            "<!--",
            "## Hidden In Comment",
            "-->",
            "> ##### Quoted Note",
            "",
            "- ## In A List",
            "",
            "<details>",
            "## inside a raw HTML block",
            "",
            "## After Blank",
            "",
            "Setext Two",
            "----------",
            "",
            "Setext One",
            "==========",
            "",
            "- item",
            "---",
            "",
            "#NoSpace",
        ]
    )
    assert anchors(markdown) == [
        (5, "quoted-note"),
        (2, "in-a-list"),
        (2, "after-blank"),
        (2, "setext-two"),
        (1, "setext-one"),
    ]


def test_indented_heading_is_code_in_md_but_a_heading_in_mdx() -> None:
    markdown = "text\n\n    ## Indented Four"
    assert anchors(markdown) == []
    assert anchors(markdown, mdx=True) == [(2, "indented-four")]


def test_jsx_block_does_not_hide_headings_in_mdx() -> None:
    assert anchors("<details>\n## Inside Details\n</details>", mdx=True) == [(2, "inside-details")]


def test_classify_lines() -> None:
    lines = ["a", "```js", "<!--", "```", "<!-- start", "## x", "end -->", "b <!-- c -->"]
    assert [kind.value for kind in classify_lines(lines)] == [
        "text",
        "fence",
        "code",
        "fence",
        "comment",
        "comment",
        "comment",
        "text",
    ]
    assert classify_lines(["```mdx-code-block", "## Hi", "```"])[1] is LineKind.TEXT


def test_imports_and_exports_are_dropped_but_not_inside_code() -> None:
    markdown = (
        "import { DetailedExplanation } from '../components/DetailedExplanation'\n"
        "import {\n  A,\n  B,\n} from 'x'\n\n"
        "export const meta = 1;\n\n"
        "import 'react-lite-youtube-embed/dist/LiteYouTubeEmbed.css'\n\n"
        "Text.\n\n```js\nimport x from 'y'\nexport default x\n```\n\nimport the module first.\n"
    )
    assert clean_markdown(markdown) == (
        "Text.\n\n```js\nimport x from 'y'\nexport default x\n```\n\nimport the module first."
    )


def test_jsx_wrappers_keep_text_and_title() -> None:
    markdown = (
        '<DetailedExplanation title="Why it matters">\n\n'
        "Inner *text*.\n\n</DetailedExplanation>\n\n"
        "<details>\n<summary>More</summary>\n\nHidden body.\n\n</details>\n\n"
        '<KeyIdea title={"JS string"}>Body</KeyIdea>\n\n'
        '<div class="priority-rules">Rule</div>'
    )
    assert clean_markdown(markdown) == (
        "Why it matters\n\nInner *text*.\n\nMore\n\nHidden body.\n\nJS stringBody\n\nRule"
    )


def test_components_iframes_and_breaks_are_removed() -> None:
    markdown = (
        '<ChapterActions chapterId="x" position="top" />\n\n'
        '<LiteYouTubeEmbed\n    id="9zySeP5vH9c"\n    title="Learn"\n/>\n\n'
        '<iframe class="codesandbox"src="https://x" title="y"\n  allow="z"></iframe>\n\n'
        "Line one<br>line two<br/>end.\n\n<FundamentalsWarning />\n"
    )
    assert clean_markdown(markdown) == "Line one line two end."


def test_comments_are_removed() -> None:
    markdown = "<!-- prettier-ignore -->\nA {/* mdx comment */} B\n\n<!--\nmulti\nline\n-->\nC"
    assert clean_markdown(markdown) == "A  B\n\nC"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (":::tip What You'll Learn\n\n- item\n\n:::", "Tip: What You'll Learn\n\n- item"),
        (":::note\n\nBody.\n\n:::", "Note:\n\nBody."),
        (":::danger[Bracket Title]\nBody.\n:::", "Danger: Bracket Title\nBody."),
        ("::::info Outer\n:::warning\nIn.\n:::\n::::", "Info: Outer\nWarning:\nIn."),
    ],
)
def test_admonitions_keep_kind_title_and_body(markdown: str, expected: str) -> None:
    assert clean_markdown(markdown) == expected


def test_code_fences_keep_language_and_title_and_drop_magic_comments() -> None:
    markdown = (
        '```ts title="lib/store.ts" {1,3} showLineNumbers\n'
        "// highlight-start\nconst a = 1\n\n\nconst b = <div>{a}</div>\n// highlight-end\n"
        "# highlight-next-line\nx()\n```\n\n"
        "```\nplain <!-- kept -->\n```"
    )
    assert clean_markdown(markdown) == (
        "File: lib/store.ts\n```ts\nconst a = 1\n\n\nconst b = <div>{a}</div>\nx()\n```\n\n"
        "```\nplain <!-- kept -->\n```"
    )


def test_tables_and_inline_code_are_kept() -> None:
    markdown = "| Part | Price |\n|---|---:|\n| `<Jetson>` | $249 |\n\nUse `<Provider>` here."
    assert clean_markdown(markdown) == markdown


def test_mdx_code_block_is_unwrapped() -> None:
    markdown = "```mdx-code-block\nimport Tabs from '@theme/Tabs';\n\n<Tabs>Hello</Tabs>\n```"
    assert clean_markdown(markdown) == "Hello"
