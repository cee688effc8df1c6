"""The verifier interface shared by every domain."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from harness_ext.errors import SelfimpError


class Verifier(ABC):
    """Extracts a model's final answer and judges it against a dataset row's gold reference."""

    name: str = ""

    @abstractmethod
    def extract(self, completion: str, reference: Any = None) -> str | None:
        """The final answer as written in `completion`, or None when there is none.

        `reference` (from `self.reference`) is optional; only csqa uses it, to also recognise
        a choice written out as its text.
        """

    @abstractmethod
    def reference(self, doc: dict) -> Any:
        """The gold reference of a dataset row (HF Hub, local JSONL or normalised schema)."""

    @abstractmethod
    def is_correct(self, completion: str, reference: Any) -> bool:
        """Whether `completion` answers correctly given `reference` (from `self.reference`)."""

    def judge(self, completions: list[str], references: list) -> list[bool]:
        """`is_correct` for many (completion, reference) pairs."""
        check_same_length(completions, references)
        return [self.is_correct(c, r) for c, r in zip(completions, references)]

    def records(self, completions: list[str], references: list) -> list[dict]:
        """Judge many completions at once: one `{"text", "answer", "correct"}` record each,
        the per-sample format of sample logs and training rounds (docs/architecture.md)."""
        verdicts = self.judge(completions, references)
        return [{"text": c, "answer": self.extract(c, r), "correct": bool(v)}
                for c, r, v in zip(completions, references, verdicts)]


def check_same_length(completions: list, references: list) -> None:
    if len(completions) != len(references):
        raise ValueError(
            f"judge: {len(completions)} completions but {len(references)} references"
        )


def row_label(doc: dict) -> str:
    """A short name for a row in error messages."""
    for key in ("id", "task_id", "unique_id", "ID", "idx"):
        if key in doc:
            return f"row {key}={doc[key]!r}"
    return "row"


def missing_field(task: str, doc: dict, expected: str) -> SelfimpError:
    return SelfimpError(
        f"{task} {row_label(doc)}: no usable reference: expected {expected} "
        f"(fields present: {', '.join(sorted(map(str, doc))) or 'none'})"
    )
