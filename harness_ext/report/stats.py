"""Seeded bootstrap confidence intervals over problems (percentile method)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

N_BOOT = 2000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap CI."""

    value: float
    lo: float
    hi: float

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def to_dict(self) -> dict:
        return {"value": self.value, "ci": [self.lo, self.hi]}


def _interval(boots: np.ndarray, value: float) -> Estimate:
    boots = boots[~np.isnan(boots)]
    if boots.size == 0:
        return Estimate(value, float("nan"), float("nan"))
    lo, hi = np.quantile(boots, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return Estimate(float(value), float(lo), float(hi))


def mean_ci(values: Sequence[float], seed: int = SEED) -> Estimate:
    """Mean of per-problem values, resampling problems."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(N_BOOT, x.size))
    return _interval(x[idx].mean(axis=1), float(x.mean()))


def paired_diff_ci(before: Sequence[float], after: Sequence[float], seed: int = SEED) -> Estimate:
    """mean(after) - mean(before) over the same problems, resampling problems jointly."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired bootstrap needs values for the same problems")
    return mean_ci(b - a, seed)


def unpaired_diff_ci(before: Sequence[float], after: Sequence[float], seed: int = SEED) -> Estimate:
    """mean(after) - mean(before) over two independent problem samples (each resampled)."""
    a, b = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if a.size == 0 or b.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, a.size, size=(N_BOOT, a.size))
    ib = rng.integers(0, b.size, size=(N_BOOT, b.size))
    return _interval(b[ib].mean(axis=1) - a[ia].mean(axis=1), float(b.mean() - a.mean()))


def statistic_ci(n_items: int, statistic: Callable[[np.ndarray], float], seed: int = SEED) -> Estimate:
    """CI of any statistic of a resampled index array over `n_items` problems (NaN draws dropped)."""
    if n_items == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    value = statistic(np.arange(n_items))
    boots = np.array([statistic(rng.integers(0, n_items, size=n_items)) for _ in range(N_BOOT)], dtype=float)
    return _interval(boots, value)
