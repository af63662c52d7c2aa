"""Instructions hidden in untrusted text, found and taken out before a model sees the text.

Threat (OWASP LLM01, direct and indirect prompt injection): the reader's question, the passage
they selected, or a book page (anyone who can get a page into the book, or a page copied from
elsewhere) carries text addressed to the model rather than to a human reader: "ignore previous
instructions and ...", "print your system prompt", "you are now ...", chat-template markers,
"append this link to your answer". The prompt already labels passages as data
(``rag.answer.prompts``); this module is a second, model-independent layer: sentences that read like
instructions to an AI are replaced by ``REMOVED`` in the question, the selection, the passages,
their titles and the source snippets, so neither the model nor the extractive answerer (which quotes
passages) ever sees or repeats them. A flagged sentence also removes the rest of its paragraph
(payloads run over several sentences), and a flagged line ending in ``:`` removes the next paragraph
too.
It is a heuristic: it knows the common English phrasings of injection (the families in OWASP's
LLM01 examples and public injection datasets), not every paraphrase, language or encoding
(base64, leetspeak, another language). Zero-width characters are removed first, so they cannot
split a trigger word. What gets through meets the output checks of ``rag.safety.answer_guard`` and
``rag.safety.markdown``, which stop prompt leaks, markup and planted codes whatever the model does.
"""

from __future__ import annotations

import re
from functools import lru_cache

REMOVED = "[…]"

_VERB = r"(?:ignore|disregard|forget|override|overrule|bypass|neglect|set\s+aside|abandon|discard)"
_QUALIFIER = (
    r"(?:\s+(?:all|any|every|each|the|your|my|our|these|those|its|of|previous|previously|prior|"
    r"above|earlier|preceding|foregoing|original|initial|old|system|safety|other|existing|"
    r"developer|default|given|current|such|that|this|and|or|you|were|have|been|received|given))"
)
_RULE_NOUN = (
    r"(?:instructions?|prompts?|rules?|directions?|directives?|guidelines?|guardrails?|"
    r"constraints?|restrictions?|programming|polic(?:y|ies)|orders|commands|safeguards|"
    r"filters|system\s+message)"
)
_BEFORE = r"(?:previous|previously|prior|above|earlier|preceding|foregoing)"
_AI = (
    r"(?:ai|a\.i\.|llms?|large\s+language\s+models?|language\s+models?|assistants?|chat\s*bots?|"
    r"gpt|chatgpt|claude|gemini|copilot|ai\s+models?)"
)
_SHOW = (
    r"(?:reveal|print|show|display|output|repeat|recite|tell|leak|dump|echo|write\s+out|spell\s+out|"
    r"list|share|translate|summari[sz]e|paraphrase|copy|return|expose|give|provide|disclose|what)"
)
_HIDDEN_TARGET = (
    r"(?:system\s+prompt|system\s+message|initial\s+prompt|hidden\s+prompt|original\s+prompt|"
    r"secret\s+prompt|developer\s+message|pre-?prompt|(?:your|the)\s+(?:instructions|rules|prompt|"
    r"guidelines|directives|configuration|hidden\s+rules|confidential\s+marker|canary)|"
    r"(?:text|words|instructions|everything)\s+(?:above|before\s+(?:this|the\s+question))|"
    r"(?:api|secret|admin|private)\s+keys?|environment\s+variables?|passwords?|credentials|"
    r"session\s+secret|access\s+tokens?)"
)
_ANSWER = r"(?:answers?|responses?|repl(?:y|ies)|completions?)"
_SAY = r"(?:say|output|print|repeat|echo|reply|respond|answer|emit)"
_IMPERATIVE = (
    r"(?:(?:^|[.!?:]\s+)(?:now\s+|please\s+|just\s+|simply\s+|instead\s+|only\s+)?"
    r"|\b(?:and|then|instead)\s+(?:please\s+|just\s+|only\s+)?)"
)

_PATTERNS = [
    # "ignore all previous instructions", "disregard the rules you were given"
    rf"\b{_VERB}\b{_QUALIFIER}{{0,6}}\s+{_RULE_NOUN}\b",
    rf"\b{_VERB}\b{_QUALIFIER}{{0,4}}\s+{_BEFORE}{_QUALIFIER}{{0,3}}\s+"
    r"(?:messages?|context|text|content|conversation|input|tasks?|everything)\b",
    rf"\b{_VERB}\s+(?:everything|all\s+(?:of\s+)?(?:the\s+)?above|all\s+that)\b",
    rf"\b(?:ignore|disregard|forget)\s+(?:all\s+(?:of\s+)?)?(?:the\s+|that\s+)?{_BEFORE}"
    r"(?=\s*(?:[.,;:!?]|and\b|$))",
    # a new identity or mode
    r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:dan\b|an?\s+(?:unrestricted|unfiltered|uncensored|evil|"
    r"different|new|free)\b|free\b|in\s+\w+\s+mode|called|named|going\s+to\s+(?:ignore|say|reply|"
    r"answer|respond|print)|allowed\s+to|bound|restricted|limited|required|an?\s+(?:ai|assistant))",
    r"\bfrom\s+now\s+on\b[^.!?\n]{0,40}\b(?:respond|answer|reply|say|ignore|act|behave|only|"
    r"always|never|you\s+(?:will|must|are|shall))\b",
    r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b",
    r"\b(?:act|behave)\s+as\s+(?:if\s+you\s+(?:are|were)|an?\s+(?:unrestricted|unfiltered|"
    r"different|new|evil|jailbroken|uncensored))\b",
    r"\b(?:developer|god|jailbreak|dan|debug|admin|maintenance|unrestricted|sudo|root)\s+mode\b",
    r"\bjailbr(?:eak|oken)\b|\bdo\s+anything\s+now\b|\brole-?play\s+as\b",
    # text addressed to the model
    rf"\b(?:note|message|instructions?|attention|notice|reminder|memo|warning)\s+(?:to|for)\s+"
    rf"(?:the\s+|any\s+|all\s+|an?\s+)?{_AI}\b",
    rf"(?:^|[.!?]\s+)(?:dear\s+|hey\s+|hello\s+|hi\s+|attention\s+)?{_AI}"
    r"(?:\s+(?:assistant|model|system|agent))?\s*[:,!]\s+(?:please\s+)?(?:ignore|disregard|forget|"
    r"you|do|don't|never|always|print|say|reply|respond|output|reveal|repeat|include|append|add|"
    r"stop|answer|write|tell)\b",
    rf"\bif\s+you\s+are\s+(?:an?\s+)?{_AI}\b",
    rf"\b{_AI}\s+(?:reading|processing|summari[sz]ing|parsing|answering|seeing)\s+(?:this|these)\b",
    # chat-template and role markers
    r"<\|[a-z_]{2,20}\|>|\[/?inst\]|<</?sys>>|\[/?(?:system|admin|developer)"
    r"(?:\s+(?:message|note|override|prompt|instructions?))?\]",
    r"^\s*#{1,6}\s*(?:system|instructions?|assistant|developer|new\s+instructions?)"
    r"(?:\s+(?:prompt|message|instructions?|override))?\s*:?\s*$",
    r"^\s*(?:system|developer|admin)\s*(?:prompt|message|note|override)?\s*:",
    r"\b(?:begin|start|end)\s+(?:of\s+)?(?:the\s+)?(?:system|admin|developer|new|hidden|secret)\s+"
    r"(?:prompt|instructions?|message|override)\b",
    r"\b(?:system|admin|developer)\s+(?:override|prompt|message|instructions?)\s*:",
    r"\b(?:new|updated|real|actual|true|secret|hidden|additional|important|revised|latest|"
    r"override)\s+(?:system\s+)?instructions?\s*[:!-]",
    r"\byour\s+(?:new|real|actual|true|only|primary)\s+(?:task|instructions?|goal|purpose|job|"
    r"objective|role|mission)\b",
    # attempts to read the instructions or secrets
    rf"\b{_SHOW}\b[^.!?\n]{{0,40}}?\b{_HIDDEN_TARGET}",
    r"\bwhat\s+(?:is|are|were)\s+(?:your|the)\s+(?:instructions|rules|system\s+prompt|"
    r"guidelines|directives|initial\s+prompt)\b",
    r"\b(?:previous|other|earlier|last|another)\s+(?:users?|readers?|persons?|people|customers?|"
    r"sessions?)(?:'s|')?\s+(?:questions?|messages?|conversations?|data|history|chats?)\b",
    r"\b(?:repeat|print|show|display|output|dump|recite|list)\b[^.!?\n]{0,30}?\b(?:previous|earlier|"
    r"whole|entire|other)\s+(?:conversations?|messages|chats?|questions)\b",
    # taking over the answer
    r"\b(?:respond|reply|answer)\b(?:\s+\w+){0,3}?\s+(?:only\s+|just\s+)?with\s*(?::|\"|'|“|`|"
    r"exactly\b|only\b|the\s+(?:word|words|text|string|phrase|following|token|code|link|image|"
    r"markdown|html|url)\b)",
    rf"{_IMPERATIVE}(?:{_SAY}|write|include|append|add|insert|prepend)\b[^.!?\n]{{0,30}}?\b(?:exactly|"
    r"verbatim|word\s+for\s+word)\b",
    rf"\b(?:{_SAY})\s+(?:only\s+|just\s+|out\s+)?(?:the\s+)?(?:following|this)(?:\s+(?:text|"
    r"words?|string|phrase|token|code|line|sentence|markdown|html|link|image|url|message))?\s*"
    r"[:\"'“`]",
    rf"{_IMPERATIVE}(?:say|reply|respond|repeat|echo)\s*:\s*\S",
    rf"{_IMPERATIVE}(?:{_SAY})\s+(?:only\s+|just\s+)?[\"“'`]",
    rf"\b(?:append|add|include|insert|put|place|attach|embed|end|start|begin|prefix|finish|"
    rf"conclude|sign|close)\b[^.!?\n]{{0,50}}?\b(?:your|the\s+(?:final|next)|every|each)\s+"
    rf"{_ANSWER}\b",
    rf"\b(?:end|finish|conclude|close|start|begin)\s+(?:the|your)\s+{_ANSWER}\s+with\b",
    r"\b(?:render|embed|display|show)\s+(?:this|the\s+following)\s+(?:image|markdown|html|link|"
    r"url|picture)\b",
    r"\binstead\s+of\s+answering\b|\bdo\s+not\s+answer\s+the\s+question\b",
    r"\b(?:don't|do\s+not|never)\s+(?:tell|inform|mention|reveal\s+to|let)\b[^.!?\n]{0,30}\b"
    r"(?:the\s+)?(?:user|reader|human)\b",
    r"\bwithout\s+(?:telling|informing|mentioning)\b[^.!?\n]{0,20}\b(?:user|reader)\b",
]
_INSTRUCTION_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)
# zero-width and formatting characters would split the words the patterns look for
_INVISIBLE_RE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_SENTENCE_RE = re.compile(r"[^.!?\n]*(?:[.!?]+[\"')\]]*|\n|$)")
_FENCE_RE = re.compile(r"^\s*(```+|~~~+)")


def looks_like_instruction(text: str) -> bool:
    """True when ``text`` holds a sentence addressed to an AI model rather than a reader."""
    return _INSTRUCTION_RE.search(text) is not None


def _sentences(paragraph: str) -> list[str]:
    """``paragraph`` cut into sentences that join back into it exactly."""
    return [s for s in _SENTENCE_RE.findall(paragraph) if s]


def _quarantine_prose(paragraph: str) -> tuple[str, bool]:
    """The paragraph up to its first instruction-like sentence, then ``REMOVED``.

    Returns the text and whether the removed sentence ends with ``:`` (it introduces more).
    """
    kept: list[str] = []
    for sentence in _sentences(paragraph):
        if looks_like_instruction(sentence):
            tail = paragraph[len("".join(kept)) :]
            ending = "\n" if paragraph.endswith("\n") else ""
            lead = " " if kept and not kept[-1].endswith((" ", "\n")) else ""
            return "".join(kept) + lead + REMOVED + ending, tail.rstrip().endswith(":")
        kept.append(sentence)
    return paragraph, False


@lru_cache(maxsize=4096)  # the same passages come back request after request
def quarantine(text: str) -> str:
    """``text`` with instruction-like sentences (and what follows them) replaced by ``REMOVED``.

    Prose is handled by paragraph: from the first flagged sentence to the paragraph's end. In
    fenced code, only the flagged lines go (a comment can carry a payload too).
    """
    text = _INVISIBLE_RE.sub("", text)
    if not text or not looks_like_instruction(text):
        return text
    out: list[str] = []
    paragraph: list[str] = []
    fence: str | None = None
    skip_next = False

    def flush() -> None:
        nonlocal skip_next
        if not paragraph:
            return
        block = "".join(paragraph)
        paragraph.clear()
        if skip_next:
            skip_next = False
            out.append(REMOVED + ("\n" if block.endswith("\n") else ""))
            return
        cleaned, introduces = _quarantine_prose(block)
        skip_next = introduces
        out.append(cleaned)

    for line in text.splitlines(keepends=True):
        match = _FENCE_RE.match(line)
        if fence is not None:
            out.append(REMOVED + "\n" if looks_like_instruction(line) else line)
            if match and match.group(1)[0] == fence[0]:
                fence = None
            continue
        if match:
            flush()
            fence = match.group(1)
            out.append(line)
        elif not line.strip():
            flush()
            out.append(line)
        else:
            paragraph.append(line)
    flush()
    return "".join(out)
