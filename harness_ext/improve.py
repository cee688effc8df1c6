"""Improvement sets IS(t) and per-problem transition tables between two greedy runs, joined by doc id."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from harness_ext.errors import SelfimpError
from harness_ext.samples import SampleLog, read_sample_log


@dataclass(frozen=True)
class ImprovementSet:
    """Transitions reference -> candidate over the docs both logs hold.

    `ids` (= IS) are the docs the candidate solves and the reference does not."""

    ids: tuple[str, ...]
    forgotten: tuple[str, ...]
    both: tuple[str, ...]
    neither: tuple[str, ...]
    only_reference: int = 0  # docs in one log only (ignored)
    only_candidate: int = 0

    @property
    def n_common(self) -> int:
        return len(self.ids) + len(self.forgotten) + len(self.both) + len(self.neither)

    def transitions(self) -> dict[str, int]:
        return {
            "newly_solved": len(self.ids),
            "newly_forgotten": len(self.forgotten),
            "both": len(self.both),
            "neither": len(self.neither),
        }

    def to_dict(self) -> dict:
        return {
            "size": len(self.ids),
            "ids": list(self.ids),
            "forgotten_ids": list(self.forgotten),
            "transitions": self.transitions(),
            "n_common": self.n_common,
            "only_reference": self.only_reference,
            "only_candidate": self.only_candidate,
        }


def compare_solved(reference: Mapping[str, bool], candidate: Mapping[str, bool]) -> ImprovementSet:
    """Transition table from two `{doc id: solved}` maps; ids present in only one map are counted, not used."""
    common = [i for i in reference if i in candidate]
    if not common:
        raise SelfimpError("the two runs share no doc ids: they are not over the same problems")
    groups: dict[tuple[bool, bool], list[str]] = {(a, b): [] for a in (True, False) for b in (True, False)}
    for i in common:
        groups[(bool(reference[i]), bool(candidate[i]))].append(i)
    return ImprovementSet(
        ids=tuple(groups[(False, True)]),
        forgotten=tuple(groups[(True, False)]),
        both=tuple(groups[(True, True)]),
        neither=tuple(groups[(False, False)]),
        only_reference=len(reference) - len(common),
        only_candidate=sum(1 for i in candidate if i not in reference),
    )


def compare_logs(reference: SampleLog, candidate: SampleLog) -> ImprovementSet:
    """IS and transitions between two greedy sample logs of the same dataset."""
    if reference.dataset != candidate.dataset:
        raise SelfimpError(
            f"{reference.path} (task {reference.task}) and {candidate.path} (task {candidate.task}) "
            "are logs of different tasks"
        )
    try:
        return compare_solved(
            {i: d.solved for i, d in reference.docs.items()}, {i: d.solved for i, d in candidate.docs.items()}
        )
    except SelfimpError:
        raise SelfimpError(f"{reference.path} and {candidate.path}: no docs in common") from None


def improvement_set(reference: str | Path, candidate: str | Path, task: str | None = None) -> ImprovementSet:
    """IS(candidate vs reference) from two sample logs (files or lm-eval output dirs; `task` picks one)."""
    return compare_logs(read_sample_log(reference, task), read_sample_log(candidate, task))
