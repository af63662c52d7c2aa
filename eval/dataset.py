"""Golden question sets (JSONL), validated on load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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

    @model_validator(mode="after")
    def _consistent(self) -> GoldenQuestion:
        if self.kind == "unanswerable" and self.source_path is not None:
            raise ValueError("an unanswerable question has source_path null")
        if self.kind != "unanswerable" and not self.source_path:
            raise ValueError("source_path is required unless kind is unanswerable")
        if self.kind == "selected-text" and not self.selected_text:
            raise ValueError("a selected-text question needs selected_text")
        return self

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


def load_dataset(path: Path) -> list[GoldenQuestion]:
    """Read and validate a JSONL question set."""
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
        if item.id in seen:
            raise DatasetError(path, number, f"duplicate id {item.id!r}")
        seen.add(item.id)
        questions.append(item)
    if not questions:
        raise DatasetError(path, 0, "no questions")
    return questions
