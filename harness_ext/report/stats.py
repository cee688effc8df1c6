"""Intervals and tests of the report: seeded bootstrap CIs over problems (tables), and the tests
behind the verdicts (exact McNemar with Agresti-Min, exact binomial with Clopper-Pearson, the
paired sign-flip test of a mean with its BCa interval, a stratified paired bootstrap) with Holm's
correction. Every verdict interval takes a `level`, so it can be shown at the level the family used."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

N_BOOT = 2000
N_BOOT_VERDICT = 9999  # verdict intervals reach Bonferroni levels (99.6% for 13 tests)
N_PERM = 9999
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval (95% unless made at another level)."""

    value: float
    lo: float
    hi: float

    @property
    def ci(self) -> tuple[float, float]:
        return self.lo, self.hi

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


def z_of(level: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 at 0.95)."""
    return float(scipy_stats.norm.ppf(0.5 + level / 2))


def paired_diff_agresti_min(both: int, forgotten: int, new: int, neither: int, level: float = LEVEL) -> Estimate:
    """acc(after) − acc(before) over paired binary outcomes with Agresti and Min's (2005) interval:
    the Wald interval of the table with 0.5 added to each cell. Valid at small counts and, unlike
    Newcombe's, never [0, 0] when no pair is discordant; clipped to [−1, 1]."""
    n = both + forgotten + new + neither
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    b, c, m = forgotten + 0.5, new + 0.5, n + 2
    centre = (c - b) / m
    half = z_of(level) * np.sqrt((b + c) - (c - b) ** 2 / m) / m
    return Estimate((new - forgotten) / n, float(max(-1.0, centre - half)), float(min(1.0, centre + half)))


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial share k/n (95% unless `level`)."""
    lo, hi = proportion_confint(k, n, alpha=1 - level, method="beta")
    return float(lo), float(hi)


def binom_central_p(k, n, p0: float):
    """Two-sided exact binomial p of k in n against share p0, 2 x the smaller tail (the test whose
    acceptance region is the Clopper-Pearson interval); vectorised."""
    k, n = np.asarray(k), np.asarray(n)
    tails = np.minimum(scipy_stats.binom.cdf(k, n, p0), scipy_stats.binom.sf(k - 1, n, p0))
    return np.minimum(1.0, 2.0 * tails)


def sign_flip_p(diffs: Sequence[float], seed: int = SEED) -> float:
    """Two-sided p of "the mean paired difference is 0" by flipping each difference's sign (the
    paired permutation test of the mean, `scipy.stats.permutation_test`; exact up to 2^13 pairs):
    valid whenever the two measurements of a problem are exchangeable under the null."""
    d = np.asarray(diffs, dtype=float)
    if not d.any():
        return 1.0
    res = scipy_stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
                                       vectorized=True, n_resamples=N_PERM, batch=500,
                                       random_state=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))


def swap_p(before: np.ndarray, after: np.ndarray, statistic: Callable[..., np.ndarray], seed: int = SEED) -> float:
    """Two-sided p of `statistic(before, after)` (vectorised over the last axis) by swapping each
    problem's two outcomes (`scipy.stats.permutation_test`, paired): exact whenever the two models
    are exchangeable on every problem, at any sample size."""
    res = scipy_stats.permutation_test((before, after), statistic, permutation_type="samples", vectorized=True,
                                       n_resamples=N_PERM, batch=500, random_state=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))


def mean_interval(diffs: Sequence[float], level: float = LEVEL, seed: int = SEED) -> tuple[float, float]:
    """BCa bootstrap interval of the mean (scipy); a constant sample gives (value, value)."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return float("nan"), float("nan")
    if np.allclose(d, d[0]):  # no spread: the bootstrap has nothing to resample
        return float(d[0]), float(d[0])
    ci = scipy_stats.bootstrap((d,), np.mean, n_resamples=N_BOOT_VERDICT, confidence_level=level, method="BCa",
                               batch=500, random_state=np.random.default_rng(seed)).confidence_interval
    return float(ci.low), float(ci.high)


def stratified_bootstrap(strata: Sequence[np.ndarray], statistic: Callable[..., np.ndarray],
                         seed: int = SEED) -> np.ndarray:
    """N_BOOT_VERDICT draws of `statistic(*resampled)`: each stratum (an array of paired rows, one per
    problem) is resampled by rows on its own, so pairs and stratum sizes are kept; vectorised
    (`statistic` gets arrays of shape (draws, n_i, ...))."""
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, N_BOOT_VERDICT, 500):
        size = min(500, N_BOOT_VERDICT - start)
        out.append(statistic(*(s[rng.integers(0, len(s), size=(size, len(s)))] for s in strata)))
    return np.concatenate(out)


def percentile_interval(draws: np.ndarray) -> Callable[[float], tuple[float, float]]:
    """The percentile bootstrap interval of `draws` at any level; undefined (NaN) draws left out."""
    d = draws[~np.isnan(draws)]
    if d.size == 0:
        return lambda level: (float("nan"), float("nan"))
    return lambda level: tuple(float(x) for x in np.quantile(d, [0.5 - level / 2, 0.5 + level / 2]))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of one family (statsmodels `multipletests`)."""
    if not len(pvalues):
        return []
    return [float(p) for p in multipletests(list(pvalues), alpha=ALPHA, method="holm")[1]]
