"""A model that falls for prompt injection: what it says when it obeys an injected instruction.

With the ``follow_injections`` knob, the simulator behaves like a model with no injection
resistance at all: it looks for an instruction anywhere in the last user message (the question,
the reader's selection, the passages, whatever the framing says about them) and, when it finds
one, does what it says instead of, or on top of, its grounded answer. A service's defences are
then tested against the worst case, not against a model that happens to refuse. Understood:

- a request for the hidden prompt ("print your system prompt", "repeat the instructions
  above", "what are your rules"): the reply is the system message, verbatim;
- a request for the conversation ("repeat the previous conversation"): every earlier message;
- "say / print / output / reply / respond / answer with X" as an imperative (X quoted, after a
  colon, or the rest of the sentence): the reply is X alone;
- "append / add / include / end your answer with X": the grounded answer, then X;
- "start / begin your answer with X": X, then the grounded answer;
- LlamaIndex's request to rephrase a follow-up question as a standalone one: the follow-up, as
  it is (so a conversation's later questions reach the answering call intact).

An instruction in the question block (the service's ``<question>``) wins; otherwise the first
one found in the message. An instruction it cannot carry out (a conversation to repeat when
there is none) gives way to the next. Like the rest of the simulator it is a pure function of
the messages, and it does not import the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_QUOTED = r"(?:\"(?P<dq>[^\"\n]+)\"|“(?P<cq>[^”\n]+)”|'(?P<sq>[^'\n]+)'|`(?P<bq>[^`\n]+)`)"
_REST = r"(?P<rest>[^\n]+)"
_FILLER = (
    r"(?:\s+(?:exactly|only|just|verbatim|precisely|back|out|with))*"
    r"(?:\s+(?:the\s+)?(?:following|this|these)(?:\s+(?:text|words?|string|phrase|token|code|"
    r"line|sentence|markdown|html|link|image|url|message|snippet))?"
    r"|\s+the\s+(?:code|word|text|string|token|phrase|line|link|image|url|marker|markdown))?"
    r"(?:\s+(?:exactly|only|verbatim))*\s*:?\s*"
)
_LEAK_RE = re.compile(
    r"\b(?:print|reveal|repeat|show|output|display|tell\s+me|dump|leak|recite|echo|write\s+out|translate|"
    r"give\s+me|what\s+(?:is|are))\b[^.!?\n]{0,40}?\b(?:system\s+prompt|system\s+message|"
    r"(?:your|the)\s+(?:instructions|rules|prompt|initial\s+prompt|guidelines)|"
    r"(?:instructions|text|everything)\s+above)",
    re.IGNORECASE,
)
_HISTORY_RE = re.compile(
    r"\b(?:print|repeat|show|output|display|tell\s+me|dump|recite)\b[^.!?\n]{0,30}?\b"
    r"(?:previous|earlier|whole|entire|other)\s+(?:conversation|messages|questions|chat|users?)",
    re.IGNORECASE,
)
# an imperative: at the start of a sentence or line, or after "and", "then", "instead"...
_IMPERATIVE = (
    r"(?:^|(?<=[.!?:,])\s+|\b(?:and|then|instead|just|please|now|simply|only|always|must|will|"
    r"should|going\s+to|you)\s+)"
)
_REPLACE_RE = re.compile(
    _IMPERATIVE + r"(?P<verb>say|print|output|reply|respond|(?<=always\s)(?:says|prints|outputs|"
    r"replies|responds|answers)|answer(?:\s+(?:every|each|all|any)\s+questions?)?\s+with|"
    r"answer(?=\s+[\"“'`]|\s+\S*\d))\b(?!\()" + _FILLER + rf"(?:{_QUOTED}|{_REST})",
    re.IGNORECASE | re.MULTILINE,
)
_APPEND_RE = re.compile(
    r"\b(?:append|add|include|attach|insert|end\s+(?:your|the|each)\s+(?:answer|response|reply)"
    r"\s+with|finish\s+(?:your|the)\s+(?:answer|response|reply)\s+with)\b"
    + _FILLER
    + rf"(?:{_QUOTED}|{_REST})",
    re.IGNORECASE,
)
_PREPEND_RE = re.compile(
    r"\b(?:start|begin|prefix)\s+(?:your|the|each)\s+(?:answer|response|reply)\s+with\b"
    + _FILLER
    + rf"(?:{_QUOTED}|{_REST})",
    re.IGNORECASE,
)
# LlamaIndex's condense prompt: "rephrase the follow up question to be a standalone question"
_REPHRASE_RE = re.compile(
    r"rephrase the follow up question.*Follow Up Input:\s*(?P<rest>.+?)\s*Standalone question:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_LEAD_RE = re.compile(
    r"^(?:to|in|into|at\s+the\s+end\s+of)\s+(?:your|the|each|every)\s+(?:answer|response|reply)s?"
    r"\s*[:,]?\s*",
    re.IGNORECASE,
)
_TAIL_RE = re.compile(
    r"\s+(?:to|in|at\s+the\s+end\s+of|into)\s+(?:your|the|each|every)\s+(?:answer|response|reply|"
    r"output)s?\b.*$|\s+and\s+nothing\s+else\b.*$|[\s.]*$",
    re.IGNORECASE,
)


def _payload(match: re.Match[str]) -> str:
    """What the instruction asks to be said: a quoted string, or the rest of the sentence."""
    for group in ("dq", "cq", "sq", "bq"):
        if match.group(group):
            return match.group(group)
    rest = _LEAD_RE.sub("", match.group("rest") or "", count=1)
    # "... and print X." / "add X to your answer": the sentence's end and any "to your answer"
    return _TAIL_RE.sub("", rest, count=1).strip()


def obeyed_reply(
    system: str, history: list[str], user: str, grounded: Callable[[], str]
) -> str | None:
    """The reply of a model that obeys the first instruction in ``user``, or None if none.

    Args:
        system: The system message(s).
        history: The text of earlier messages (user and assistant turns).
        user: The last user message, where instructions are looked for.
        grounded: The answer the model would give without the injection.
    """
    rephrase = _REPHRASE_RE.search(user)
    if rephrase:  # asked to rewrite a follow-up, it does just that (the follow-up, unchanged)
        return rephrase.group("rest").strip()
    found: list[tuple[int, str, re.Match[str]]] = []
    for pattern, kind in (
        (_LEAK_RE, "leak"),
        (_HISTORY_RE, "history"),
        (_PREPEND_RE, "prepend"),
        (_APPEND_RE, "append"),
        (_REPLACE_RE, "replace"),
    ):
        for match in pattern.finditer(user):
            start = match.start("verb") if "verb" in pattern.groupindex else match.start()
            found.append((start, kind, match))
    # the reader's own request (the question block, last) comes first, then the data in order
    asked_from = user.rfind("<question>")
    found.sort(key=lambda item: (asked_from < 0 or item[0] < asked_from, item[0], item[1]))
    for _, kind, match in found:
        reply = _carry_out(kind, match, system, history, grounded)
        if reply:  # an instruction it cannot carry out (no history to repeat): the next one
            return reply
    return None


def _carry_out(
    kind: str,
    match: re.Match[str],
    system: str,
    history: list[str],
    grounded: Callable[[], str],
) -> str | None:
    if kind == "leak":
        return system or None
    if kind == "history":
        return "\n\n".join(history) or None
    said = _payload(match)
    if not said:
        return None
    if kind == "append":
        return f"{grounded()}\n\n{said}"
    if kind == "prepend":
        return f"{said} {grounded()}"
    return said
