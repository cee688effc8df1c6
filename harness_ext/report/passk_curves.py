"""pass@k curves of M1 and a later checkpoint on the same problems, and where they cross.

Yue et al. (2025, "Does Reinforcement Learning Really Incentivize Reasoning Capacity in LLMs Beyond
the Base Model?") compare a base and a tuned model by their pass@k curves over large k: the tuned
model wins at small k, the base model overtakes it at large k. Per pair (M1, M_t), on the problems
both have sampled logs for, with both cut to the same n samples per problem (the smaller of the two
logs' counts): the unbiased pass@k for k = 1..n with 95% bootstrap intervals over problems (paired:
both curves and their difference from the same resampled problems), the smallest k at which M1's
pass@k is no longer below M_t's, and the problems one model solves within its n samples and the
other never does ("coverage lost" / "coverage gained"). Descriptive: no test, not in the verdict
family (docs/verdicts.md).
"""
from __future__ import annotations

import numpy as np

from harness_ext import metrics
from harness_ext.report.stats import LEVEL, N_BOOT, clopper_pearson
from harness_ext.samples import SampleLog

TIE = 1e-12  # "no longer below": M1's pass@k >= M_t's up to float rounding


def matched_counts(m1: SampleLog, other: SampleLog) -> tuple[list[str], int, np.ndarray, np.ndarray] | None:
    """(common doc ids, n, M1's correct counts, the other's) over each doc's first n samples, where n
    is the smallest sample count of either log on the common docs; None without a common doc."""
    ids = [i for i in m1.docs if i in other.docs and m1.docs[i].n and other.docs[i].n]
    if not ids:
        return None
    n = min(min(m1.docs[i].n, other.docs[i].n) for i in ids)

    def counts(log: SampleLog) -> np.ndarray:
        return np.array([sum(s.correct for s in log.docs[i].samples[:n]) for i in ids], dtype=int)

    return ids, n, counts(m1), counts(other)


def pass_at_k_table(n: int) -> np.ndarray:
    """table[c, k - 1] = unbiased pass@k of a problem with c correct of n samples (`metrics.pass_at_k`)."""
    return np.array([[metrics.pass_at_k(n, c, k) for k in range(1, n + 1)] for c in range(n + 1)])


def crossing_k(m1_curve: np.ndarray, other_curve: np.ndarray) -> np.ndarray:
    """The smallest k (1-based) at which M1's pass@k is no longer below the other's, along the last
    axis; n + 1 where M1 stays below up to k = n."""
    not_below = m1_curve >= other_curve - TIE
    first = np.argmax(not_below, axis=-1) + 1
    return np.where(not_below.any(axis=-1), first, m1_curve.shape[-1] + 1)


def _band(boots: np.ndarray, value: np.ndarray) -> dict:
    lo, hi = np.quantile(boots, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2], axis=0)
    return {"pass_at_k": value.tolist(), "ci_low": lo.tolist(), "ci_high": hi.tolist()}


def _share(count: int, total: int) -> dict:
    lo, hi = clopper_pearson(count, total)
    return {"count": int(count), "value": count / total, "ci": [lo, hi], "ci_method": "Clopper-Pearson"}


def compare_curves(m1: SampleLog, other: SampleLog, seed: int = 0) -> dict | None:
    """M1's and `other`'s pass@k curves on their common problems, their crossing and coverage lost /
    gained (module docstring); None when they share no problem."""
    matched = matched_counts(m1, other)
    if matched is None:
        return None
    ids, n, c1, c2 = matched
    table = pass_at_k_table(n)
    per_doc1, per_doc2 = table[c1], table[c2]  # (problems, n)
    curve1, curve2 = per_doc1.mean(axis=0), per_doc2.mean(axis=0)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=N_BOOT) / len(ids)
    boot1, boot2 = weights @ per_doc1, weights @ per_doc2  # the same resampled problems for both
    k = int(crossing_k(curve1, curve2))
    boot_k = crossing_k(boot1, boot2)
    k_lo, k_hi = (int(x) for x in np.quantile(boot_k, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2], method="nearest"))
    solved1, solved2 = c1 > 0, c2 > 0
    return {
        "m1_task": m1.task,
        "task": other.task,
        "n_problems": len(ids),
        "n_samples": n,
        "curves": {"m1": _band(boot1, curve1), "model": _band(boot2, curve2),
                   "difference": _band(boot2 - boot1, curve2 - curve1)},  # model − M1
        "crossing": {
            "k": k if k <= n else None,
            "k_ci": [k_lo if k_lo <= n else None, k_hi if k_hi <= n else None],  # null: beyond n
            "share_of_draws_crossing": float(np.mean(boot_k <= n)),
            "text": f"k = {k}" if k <= n else f"no crossing up to n = {n}",
        },
        "m1_solved_within_n": int(solved1.sum()),
        "model_solved_within_n": int(solved2.sum()),
        "coverage_lost": _share(int((solved1 & ~solved2).sum()), len(ids)),
        "coverage_gained": _share(int((solved2 & ~solved1).sum()), len(ids)),
    }
