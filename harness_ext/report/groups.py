"""Accuracy per difficulty level and group disparity GD from the dataset's declared first and last level."""
from __future__ import annotations

import math

import numpy as np

from harness_ext import metrics, registry
from harness_ext.report.inputs import Checkpoint
from harness_ext.report.stats import statistic_ci
from harness_ext.samples import SampleLog


def group_logs(ck: Checkpoint) -> dict[str, SampleLog]:
    """The checkpoint's `*_groups` logs (greedy, with a level per doc), by dataset."""
    return {log.dataset: log for log in ck.logs.values() if registry.task_role(log.task) == "groups"}


def declared_levels(dataset: str) -> tuple[int, int] | None:
    """(first, last) declared level of a groups dataset (selfimp_math: 1, 5; selfimp_arith: 1, 4)."""
    levels = registry.declared_levels(dataset.removeprefix(registry.TASK_PREFIX))
    return (levels[0], levels[-1]) if levels else None


def level_of(doc: dict) -> int | None:
    level = doc.get("level")
    if isinstance(level, str):
        digits = "".join(ch for ch in level if ch.isdigit())
        return int(digits) if digits else None
    return int(level) if isinstance(level, (int, float)) else None


def level_log(log: SampleLog, level: int) -> SampleLog:
    """The docs of one level, as a log of their own (for the paired per-level tests)."""
    docs = {i: d for i, d in log.docs.items() if level_of(d.doc) == level}
    return SampleLog(task=log.task, path=log.path, docs=docs, rescored_with=log.rescored_with)


def level_arrays(log: SampleLog) -> tuple[np.ndarray, np.ndarray]:
    ids = [i for i, d in log.docs.items() if level_of(d.doc) is not None]
    return (np.array([level_of(log.docs[i].doc) for i in ids]),
            np.array([float(log.docs[i].solved) for i in ids]))


def acc_by_level(levels: np.ndarray, solved: np.ndarray) -> dict[int, float]:
    return {int(lv): float(solved[levels == lv].mean()) for lv in sorted(set(levels.tolist()))}


def gd(acc: dict[int, float], dataset: str) -> float:
    first_last = declared_levels(dataset)
    return metrics.group_disparity(acc, *first_last) if first_last else math.nan


def analyze_groups(checkpoints: list[Checkpoint], seed: int) -> dict:
    """Per groups dataset and checkpoint: accuracy and count per level, GD [bootstrap CI] or its reason."""
    out: dict = {}
    for ck in checkpoints:
        for ds, log in group_logs(ck).items():
            levels, solved = level_arrays(log)
            if not len(levels):
                continue
            acc = acc_by_level(levels, solved)
            est = statistic_ci(len(levels), lambda idx: gd(acc_by_level(levels[idx], solved[idx]), ds), seed)
            out.setdefault(ds, {})[ck.label] = {
                "task": log.task,
                "n_docs": int(len(levels)),
                "declared_levels": list(declared_levels(ds) or ()),
                "acc_by_level": {str(k): v for k, v in acc.items()},
                "n_by_level": {str(k): int((levels == k).sum()) for k in acc},
                "group_disparity": est.to_dict(),
                "group_disparity_undefined": None if not math.isnan(est.value) else metrics.UNDEFINED["group_disparity"],
            }
    return out
