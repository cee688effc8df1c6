"""Intervals and tests of the report: seeded bootstrap CIs over problems (tables), and the exact or
rank tests behind the verdicts (McNemar, Clopper-Pearson, Wilcoxon) with Holm's correction."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

N_BOOT = 2000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% bootstrap CI."""

    value: float
    lo: float
    hi: float

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


def statistic_ci(n_items: int, statistic: Callable[[np.ndarray], float], seed: int = SEED) -> Estimate:
    """CI of any statistic of a resampled index array over `n_items` problems (NaN draws dropped)."""
    if n_items == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    value = statistic(np.arange(n_items))
    boots = np.array([statistic(rng.integers(0, n_items, size=n_items)) for _ in range(N_BOOT)], dtype=float)
    return _interval(boots, value)


# ---------------------------------------------------------------- exact tests (the verdicts)

ALPHA = 0.05


def mcnemar_exact_p(newly_solved, newly_forgotten):
    """Exact McNemar p (two-sided binomial test of the discordant pairs at 1/2); vectorised.

    Equals statsmodels' `mcnemar(table, exact=True)`; no discordant pair gives p = 1.
    """
    c, b = np.asarray(newly_solved), np.asarray(newly_forgotten)
    n = b + c
    return np.minimum(1.0, 2.0 * scipy_stats.binom.cdf(np.minimum(b, c), n, 0.5))


def paired_diff_newcombe(both: int, forgotten: int, new: int, neither: int) -> Estimate:
    """acc(after) − acc(before) over paired binary outcomes with Newcombe's hybrid score CI
    (1998, method 10: Wilson intervals of both accuracies joined with their phi correlation),
    valid at small counts and never outside [−1, 1]."""
    n = both + forgotten + new + neither
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    p1, p2 = (both + forgotten) / n, (both + new) / n
    l1, u1 = proportion_confint(both + forgotten, n, alpha=1 - LEVEL, method="wilson")
    l2, u2 = proportion_confint(both + new, n, alpha=1 - LEVEL, method="wilson")
    margins = (both + forgotten) * (new + neither) * (both + new) * (forgotten + neither)
    phi = (both * neither - forgotten * new) / np.sqrt(margins) if margins else 0.0
    diff = p2 - p1
    lower = np.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    upper = np.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return Estimate(float(diff), float(diff - lower), float(diff + upper))


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% interval of a binomial share k/n."""
    lo, hi = proportion_confint(k, n, alpha=1 - LEVEL, method="beta")
    return float(lo), float(hi)


def binom_central_p(k, n, p0: float):
    """Two-sided exact binomial p of k in n against share p0, 2 x the smaller tail (the test whose
    acceptance region is the Clopper-Pearson interval); vectorised."""
    k, n = np.asarray(k), np.asarray(n)
    tails = np.minimum(scipy_stats.binom.cdf(k, n, p0), scipy_stats.binom.sf(k - 1, n, p0))
    return np.minimum(1.0, 2.0 * tails)


def paired_location_test(diffs: Sequence[float], seed: int = SEED) -> tuple[Estimate, float]:
    """Mean of per-problem paired differences with a BCa bootstrap CI (scipy) and the Wilcoxon
    signed-rank p (scipy, zero differences split between ranks); p = 1 when every difference is 0."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan")), float("nan")
    value = float(d.mean())
    if not d.any():
        return Estimate(value, value, value), 1.0
    p = float(scipy_stats.wilcoxon(d, zero_method="zsplit").pvalue) if d.size >= 2 else 1.0
    if np.allclose(d, d[0]):  # no spread: the bootstrap has nothing to resample
        return Estimate(value, value, value), p
    ci = scipy_stats.bootstrap((d,), np.mean, n_resamples=N_BOOT, confidence_level=LEVEL, method="BCa",
                               random_state=np.random.default_rng(seed)).confidence_interval
    return Estimate(value, float(ci.low), float(ci.high)), p


def holm_rows(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of many families at once, one per row (the calibration simulation;
    equal to `holm` row by row, which calls statsmodels and is too slow for thousands of rows)."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, axis=-1)
    k = p.shape[-1]
    stepped = np.minimum(1.0, (k - np.arange(k)) * np.take_along_axis(p, order, axis=-1))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.maximum.accumulate(stepped, axis=-1), axis=-1)
    return adjusted


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of one family (statsmodels `multipletests`)."""
    if not len(pvalues):
        return []
    return [float(p) for p in multipletests(list(pvalues), alpha=ALPHA, method="holm")[1]]
