"""Golden question sets (JSONL), validated on load.

A question may keep its evidence and selection as locators (``evidence_at``, ``selection_at``:
see ``eval.locators``) instead of quoting the book; they are resolved against the docs folder
when the set is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eval.locators import Locator, LocatorError, read_source, resolve

Kind = Literal["factual", "how-to", "conceptual", "multi-hop", "selected-text", "unanswerable"]


class GoldenQuestion(BaseModel):
    """One question with its reference answer and where the book answers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    reference_answer: str
    source_path: str | None
    evidence: str | None = None
    kind: Kind
    source_paths: list[str] | None = None
    selected_text: str | None = None
    evidence_at: Locator | None = None
    selection_at: Locator | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GoldenQuestion:
        if self.evidence_at is not None and self.evidence is not None:
            raise ValueError("give evidence or evidence_at, not both")
        if self.selection_at is not None and self.selected_text is not None:
            raise ValueError("give selected_text or selection_at, not both")
        if (self.evidence_at or self.selection_at) and not self.source_path:
            raise ValueError("a locator needs the source_path it points into")
        if self.kind == "unanswerable" and self.source_path is not None:
            raise ValueError("an unanswerable question has source_path null")
        if self.kind != "unanswerable" and not self.source_path:
            raise ValueError("source_path is required unless kind is unanswerable")
        if self.kind == "selected-text" and not (self.selected_text or self.selection_at):
            raise ValueError("a selected-text question needs selected_text")
        return self

    @property
    def has_locators(self) -> bool:
        """True while ``evidence_at`` or ``selection_at`` is not yet read from the book."""
        return (self.evidence_at is not None and self.evidence is None) or (
            self.selection_at is not None and self.selected_text is None
        )

    def resolved(self, docs_dir: Path) -> GoldenQuestion:
        """This question with the spans its locators name read from ``docs_dir``.

        Raises:
            LocatorError: a locator does not resolve (file missing, span past the end, digest).
        """
        if not self.has_locators:
            return self
        text = read_source(docs_dir, self.source_path or "")
        update = {}
        if self.evidence_at is not None:
            update["evidence"] = resolve(text, self.evidence_at)
        if self.selection_at is not None:
            update["selected_text"] = resolve(text, self.selection_at)
        # model_copy skips validation: the locators stay, next to the text they named
        return self.model_copy(update=update)

    @property
    def answerable(self) -> bool:
        """False for questions the book does not cover."""
        return self.kind != "unanswerable"

    @property
    def expected_paths(self) -> set[str]:
        """Every source path that counts as a hit."""
        return {p for p in [self.source_path, *(self.source_paths or [])] if p}


@dataclass(frozen=True)
class DatasetError(ValueError):
    """A line of the dataset is not valid; the message names the file and line."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def load_dataset(path: Path, docs_dir: Path | None = None) -> list[GoldenQuestion]:
    """Read and validate a JSONL question set.

    Args:
        path: The JSONL file.
        docs_dir: The docs folder that locators (``evidence_at``, ``selection_at``) point
            into; required when the set has any.
    """
    questions: list[GoldenQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = GoldenQuestion.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(path, number, f"not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DatasetError(path, number, f"{where}: {first['msg']}".lstrip(": ")) from exc
        if item.has_locators:
            if docs_dir is None:
                raise DatasetError(path, number, "evidence locators need the docs folder")
            try:
                item = item.resolved(docs_dir)
            except LocatorError as exc:
                raise DatasetError(path, number, f"{item.id}: {exc}") from exc
        if item.id in seen:
            raise DatasetError(path, number, f"duplicate id {item.id!r}")
        seen.add(item.id)
        questions.append(item)
    if not questions:
        raise DatasetError(path, 0, "no questions")
    return questions
