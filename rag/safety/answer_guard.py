"""What a model wrote, checked before a reader sees it: prompt leaks, planted codes, markup.

Threat: the model has obeyed an injected instruction (OWASP LLM01) and its answer now carries
the system prompt (LLM07), a secret or an attacker's token (LLM02), or markup that runs in the
reader's browser or leaks data from it (LLM05). ``AnswerGuard`` holds, per request, what it needs
to recognise these, and applies the same checks to the final answer and to a stream:

- **prompt leak**: the answer holds the system prompt's per-request canary, or shares a run of
  ``LEAK_NGRAM`` words with the system prompt or the prompt's framing. The whole answer is then
  refused (the caller shows the book's refusal). A stream holds back the words that could be the
  start of such a run (usually none, or a "the"), so no word of a leak is shown before it is
  recognised.
- **planted codes**: a code-like token (8+ characters mixing letters and digits, such as an API
  key, a session id or an attacker's marker) that appears in none of the passages the model was
  given is replaced by ``(removed)``: an answer from the book has no reason to contain one.
- **markup**: ``rag.safety.markdown`` rules (no HTML, no images, no links off the book's hosts).

Not covered: a paraphrased or translated leak of the rules, and an injected instruction that
makes the model say ordinary words (those are caught, if at all, by ``rag.safety.injection``
before the model sees them, and by the citation check in ``rag.answer.result``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from rag.answer.prompts import CANARY_RE, NOT_COVERED, PROMPT_FRAMING, parse_prompt
from rag.safety.markdown import StreamSanitizer, sanitize_markdown

LEAK_NGRAM = 8
CODE_REMOVED = "(removed)"
_WORD_RE = re.compile(r"[a-z0-9]+")
_CODE_RE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{7,}(?![\w-])")


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _shingles(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@dataclass(frozen=True)
class AnswerGuard:
    """The per-request checks on an answer.

    Args:
        reference: text the answer must not reproduce (the system prompt and the framing).
        canaries: markers whose appearance proves a leak (the system prompt's canary).
        context: the passages the model was given; code-like tokens must come from here.
        hosts: hosts answers may link to (``rag.safety.markdown.normalise_hosts``).
    """

    reference: str
    canaries: tuple[str, ...] = ()
    context: str = ""
    hosts: tuple[str, ...] = ()
    _shingles: frozenset[tuple[str, ...]] = field(init=False, repr=False)
    _prefixes: frozenset[tuple[str, ...]] = field(init=False, repr=False)
    _context_lower: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The refusal sentence is in the system prompt, and answers may say it.
        reference = self.reference.replace(NOT_COVERED, " | ")
        for canary in self.canaries:
            reference = reference.replace(canary, " | ")
        grams: set[tuple[str, ...]] = set()
        for part in reference.split(" | "):
            grams |= _shingles(_words(part), LEAK_NGRAM)
        object.__setattr__(self, "_shingles", frozenset(grams))
        prefixes = {gram[:k] for gram in grams for k in range(1, LEAK_NGRAM)}
        object.__setattr__(self, "_prefixes", frozenset(prefixes))
        object.__setattr__(self, "_context_lower", self.context.lower())

    @classmethod
    def for_messages(
        cls, messages: Sequence[ChatMessage], *, hosts: Collection[str] = ()
    ) -> AnswerGuard:
        """The guard for an answer to ``messages`` (from ``rag.answer.prompts.build_messages``)."""
        system = "\n".join(m.content or "" for m in messages if m.role == MessageRole.SYSTEM)
        user = next((m.content or "" for m in reversed(messages) if m.role == MessageRole.USER), "")
        _, passages = parse_prompt(user)
        context = "\n".join(f"{p.title}\n{p.section}\n{p.text}" for p in passages)
        return cls(
            reference=f"{system}\n{PROMPT_FRAMING}",
            canaries=tuple(CANARY_RE.findall(system)),
            context=context,
            hosts=tuple(hosts),
        )

    def leaks(self, text: str) -> bool:
        """True when ``text`` holds a canary or a run of the reference's words."""
        lowered = text.lower()
        if any(canary.lower() in lowered for canary in self.canaries):
            return True
        if CANARY_RE.search(text):  # any system canary, even one from another request
            return True
        words = _words(text)
        return any(
            tuple(words[i : i + LEAK_NGRAM]) in self._shingles
            for i in range(len(words) - LEAK_NGRAM + 1)
        )

    def could_start_leak(self, words: Sequence[str]) -> bool:
        """True when more words after ``words`` could make a run of the reference."""
        return tuple(words) in self._prefixes

    def remove_codes(self, text: str) -> str:
        """``text`` with its foreign code-like tokens replaced by ``CODE_REMOVED``."""
        return _CODE_RE.sub(
            lambda m: m.group(0) if m.group(0).lower() in self._context_lower else CODE_REMOVED,
            text,
        )

    def check(self, text: str) -> str | None:
        """The answer a reader may see, or None when it must be refused (a prompt leak)."""
        if self.leaks(text):
            return None
        return sanitize_markdown(self.remove_codes(text), self.hosts)

    def stream(self) -> StreamGuard:
        """A filter for the same answer arriving as deltas."""
        return StreamGuard(self)


class StreamGuard:
    """``AnswerGuard`` over a stream: ``feed`` each delta, then ``finish``.

    Complete words are released as they arrive, except a tail that could still grow into a run
    of the reference (and the word still being written); once a leak is seen nothing more is
    released (the final answer is the refusal).
    """

    def __init__(self, guard: AnswerGuard) -> None:
        self.guard = guard
        self.stopped = False
        self._raw = ""
        self._sent = 0
        self._markdown = StreamSanitizer(guard.hosts)

    def feed(self, delta: str) -> str:
        """Take the next delta; return what may be shown now (often ``""``)."""
        if self.stopped:
            return ""
        self._raw += delta
        held = self._raw[self._sent :]  # every run ending here starts inside the held text
        if self.guard.leaks(held):
            self.stopped = True
            return ""
        complete = held[: _last_space(held, len(held))]  # the last word may be unfinished
        tokens = list(_WORD_RE.finditer(complete.lower()))
        words = [t.group() for t in tokens]
        cut = len(complete)
        for j in range(max(0, len(words) - LEAK_NGRAM + 1), len(words)):
            if self.guard.could_start_leak(words[j:]):
                cut = _last_space(complete, tokens[j].start())
                break
        cut += self._sent
        if cut <= self._sent:
            return ""
        piece, self._sent = self._raw[self._sent : cut], cut
        return self._markdown.feed(self.guard.remove_codes(piece))

    def finish(self) -> str:
        """The rest of the answer, or ``""`` when it leaked."""
        if self.stopped or self.guard.leaks(self._raw[self._sent :]):
            self.stopped = True
            return ""
        piece, self._sent = self._raw[self._sent :], len(self._raw)
        return self._markdown.feed(self.guard.remove_codes(piece)) + self._markdown.finish()


def _last_space(text: str, before: int) -> int:
    """Index just after the last whitespace character before ``before`` (0 if none)."""
    for i in range(before - 1, -1, -1):
        if text[i].isspace():
            return i + 1
    return 0


__all__ = ["CODE_REMOVED", "LEAK_NGRAM", "AnswerGuard", "StreamGuard"]
