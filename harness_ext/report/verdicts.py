"""The verdicts of one report: one test per comparison, all in one family whose p-values are
Holm-adjusted and whose intervals are shown at the family's Bonferroni level before any word is
given (docs/verdicts.md).

A new axis joins the family by appending a `Verdict` with its raw `p`, the sign of its estimate
(`direction`) and `interval(level)`, the interval of the same estimate at any confidence level, to
the list `analyze` passes to `finalize`."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from harness_ext import metrics
from harness_ext.improve import compare_solved
from harness_ext.report.stats import (
    ALPHA,
    LEVEL,
    binom_central_p,
    clopper_pearson,
    holm,
    mcnemar_exact_p,
    mean_interval,
    paired_diff_agresti_min,
    percentile_interval,
    sign_flip_p,
    stratified_bootstrap,
    swap_p,
)
from harness_ext.samples import SampleLog

NO_CHANGE = "no significant change"
PROGRESS, REGRESS = "progress", "regress"
BEYOND, WITHIN, INCONCLUSIVE = "new ability beyond M1", "gains within M1's sampling space", "inconclusive"
NOT_MEASURED, DOES_NOT_APPLY = "not measured", "does not apply"
BEYOND_THRESHOLD = 0.1  # IS share M1 never solves: above = new ability, below = re-ranking M1's answers
# The paper's N. With fewer samples the share M1 "never solves" can only be overstated, so
# "new ability beyond M1" needs at least this many; "gains within M1's sampling space" holds at any n.
BEYOND_MIN_SAMPLES = 50
MIN_CHANGE = 0.05  # default smallest accuracy (or GD) change that matters (`--min-change`)

Interval = Callable[[float], tuple[float, float]]
HIDDEN = ("direction", "words", "null_word", "null_value", "interval", "min_change_applies", "requires")


@dataclass
class Verdict:
    """One tested comparison. Its word, once Holm's adjusted p is below ALPHA *and* the interval at
    the family's level excludes `null_value` on the estimate's side: `words[0]` for `direction` > 0,
    `words[1]` for < 0. Otherwise `null_word`, or "inconclusive" where the test and the interval
    disagree or (`min_change_applies`) the interval reaches beyond ±min_change. No p -> "not measured"."""

    axis: str
    dataset: str
    method: str
    compare: str
    measure: str
    test: str
    ci_method: str
    value: float
    ci: tuple[float, float]  # 95%, not adjusted for the family
    p: float | None
    direction: float
    words: tuple[str, str] = (PROGRESS, REGRESS)
    null_word: str = NO_CHANGE
    null_value: float = 0.0
    detail: str = ""
    reason: str | None = None  # why a quantity is undefined, or why a word does not apply
    before: float | None = None  # the two models' own values (accuracy: mean score)
    after: float | None = None
    interval: Interval | None = None  # the estimate's interval at any level (None: `ci` at every level)
    min_change_applies: bool = False
    requires: Verdict | None = None  # a word only when this verdict says its words[0] (beyond-M1: a gain)
    p_adjusted: float | None = None
    ci_adjusted: tuple[float, float] | None = None  # at `ci_adjusted_level`, the level of the decision
    ci_adjusted_level: float | None = None
    verdict: str = NOT_MEASURED

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in HIDDEN}
        out["ci"] = list(self.ci)
        out["ci_level"] = LEVEL
        out["ci_adjusted"] = None if self.ci_adjusted is None else list(self.ci_adjusted)
        return out


def finalize(verdicts: list[Verdict], min_change: float = MIN_CHANGE) -> list[Verdict]:
    """Holm-adjust every defined p of the family, show each interval at the Bonferroni level
    1 − ALPHA/m (m tests: simultaneous, so no word rests on a narrower interval than the decision's),
    then word each verdict; a verdict that `requires` another's gain says "does not apply" without it."""
    tested = [v for v in verdicts if v.p is not None and not math.isnan(v.p)]
    level = 1 - ALPHA / max(1, len(tested))
    for v, adjusted in zip(tested, holm([v.p for v in tested])):
        v.p_adjusted, v.ci_adjusted_level = adjusted, level
        v.ci_adjusted = v.interval(level) if v.interval is not None else v.ci
        v.verdict = word(v, min_change)
    for v in tested:
        if v.requires is not None and v.requires.verdict != v.requires.words[0]:
            v.verdict = DOES_NOT_APPLY
            v.reason = (f"no significant gain of {v.requires.axis} to explain ({v.requires.axis}: "
                        f"{v.requires.verdict})")
    return verdicts


def word(v: Verdict, min_change: float) -> str:
    lo, hi = v.ci_adjusted
    significant = v.p_adjusted < ALPHA and v.direction != 0
    if significant and v.direction > 0 and lo > v.null_value:
        chosen = v.words[0]
    elif significant and v.direction < 0 and hi < v.null_value:
        chosen = v.words[1]
    elif significant or (v.min_change_applies and not (-min_change <= lo and hi <= min_change)):
        return INCONCLUSIVE  # the test and its interval disagree, or a change that matters is not excluded
    else:
        return v.null_word
    if chosen == BEYOND and "shallow" in v.detail:
        return INCONCLUSIVE
    return chosen


# ---------------------------------------------------------------- accuracy (paired, per problem)


def is_avg_at_n(log: SampleLog) -> bool:
    """A built-in task's log run with `repeats`: its pass@1 is avg@n, not a greedy answer."""
    return log.rescored_with is not None and log.n_samples > 1


def doc_scores(log: SampleLog) -> dict[str, float]:
    """Per doc: greedy correct (0/1), or avg@n for built-in logs with several samples."""
    if is_avg_at_n(log):
        return {i: d.n_correct / d.n for i, d in log.docs.items() if d.n}
    return {i: float(d.solved) for i, d in log.docs.items()}


def first_k_scores(log: SampleLog, ids: list[str], k: int) -> np.ndarray:
    """Per doc of `ids`: the share correct of its first k samples."""
    return np.array([np.mean([s.correct for s in log.docs[i].samples[:k]]) for i in ids])


def accuracy_verdict(axis: str, dataset: str, method: str, compare: str, before: SampleLog,
                     after: SampleLog) -> Verdict:
    """after − before on the problems both logs hold: exact McNemar + Agresti-Min interval; for
    built-in logs with `repeats`, avg@k over the first k samples of each problem, k the fewest
    either log holds (so both sides average the same number of samples; k = 1 is the binary case),
    with the paired sign-flip test of the mean and its BCa interval."""
    common = [i for i in before.docs if i in after.docs]
    if common and (is_avg_at_n(before) or is_avg_at_n(after)):
        k = min((min(log.docs[i].n for i in common) for log in (before, after)), default=0)
        if k > 1:
            a, b = first_k_scores(before, common, k), first_k_scores(after, common, k)
            counts = f"{before.n_samples} and {after.n_samples}"
            return Verdict(axis, dataset, method, compare,
                           f"avg@{k} (after − before; the first {k} samples of each problem, of {counts}), "
                           f"{len(common)} problems", "paired sign-flip permutation test of the mean",
                           "BCa bootstrap of the mean", float(np.mean(b - a)), mean_interval(b - a), sign_flip_p(b - a),
                           float(np.sign(np.mean(b - a))), before=float(a.mean()), after=float(b.mean()),
                           interval=lambda level: mean_interval(b - a, level), min_change_applies=True)
    iset = compare_solved({i: d.solved for i, d in before.docs.items()}, {i: d.solved for i, d in after.docs.items()})
    tr = iset.transitions()
    cells = (tr["both"], tr["newly_forgotten"], tr["newly_solved"], tr["neither"])
    est = paired_diff_agresti_min(*cells)
    p = float(mcnemar_exact_p(tr["newly_solved"], tr["newly_forgotten"]))
    n = iset.n_common
    measure = f"solved by lm-eval's {before.scored_by.split(' (')[0]}" if before.scored_by else "pass@1"
    if is_avg_at_n(before) or is_avg_at_n(after):
        measure = f"first sample solved (of {before.n_samples} and {after.n_samples} per problem)"
    return Verdict(axis, dataset, method, compare, f"{measure} (after − before), {n} problems",
                   f"exact McNemar ({tr['newly_solved']} newly solved vs {tr['newly_forgotten']} forgotten)",
                   "Agresti-Min", est.value, (est.lo, est.hi), p, float(np.sign(est.value)),
                   before=(tr["both"] + tr["newly_forgotten"]) / n, after=(tr["both"] + tr["newly_solved"]) / n,
                   interval=lambda level: paired_diff_agresti_min(*cells, level=level).ci,
                   min_change_applies=True)


# ---------------------------------------------------------------- beyond M1's sampling space


def beyond_verdict(dataset: str, method: str, compare: str, probe: dict, gain: Verdict | None) -> Verdict:
    """Share of IS(t) that M1 never solves within its n samples vs BEYOND_THRESHOLD: exact binomial
    test (central, dual to the Clopper-Pearson interval). It explains an accuracy gain, so it has a
    word only when `gain` (the accuracy verdict of the same comparison) says progress."""
    k, n, depth = probe.get("n_unsolved", 0), probe.get("n_probed", 0), probe.get("n_samples", 0)
    common = dict(axis="beyond M1's sampling space", dataset=dataset, method=method, compare=compare,
                  measure=f"share of IS M1 never solves in {depth} samples (threshold {BEYOND_THRESHOLD})",
                  test="exact binomial vs threshold", ci_method="Clopper-Pearson", words=(BEYOND, WITHIN),
                  null_word=INCONCLUSIVE, null_value=BEYOND_THRESHOLD)
    if not n:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason=probe.get("note") or "empty improvement set: nothing to probe", **common)
    if gain is None:
        return Verdict(value=k / n, ci=clopper_pearson(k, n), p=None, direction=0.0,
                       reason="no accuracy verdict of this comparison: no gain to explain", **common)
    share = k / n
    detail = f"{k} of {n} IS problems never solved by M1"
    if depth < BEYOND_MIN_SAMPLES:
        detail += f"; shallow probe: 'new ability' needs n >= {BEYOND_MIN_SAMPLES} samples"
    return Verdict(value=share, ci=clopper_pearson(k, n), p=float(binom_central_p(k, n, BEYOND_THRESHOLD)),
                   direction=float(np.sign(share - BEYOND_THRESHOLD)), detail=detail,
                   interval=lambda level: clopper_pearson(k, n, level), requires=gain, **common)


# ---------------------------------------------------------------- diversity (matched count, paired)


def mean_change_verdict(diffs: list[float], **fields_) -> Verdict:
    """A paired mean change: the sign-flip permutation test and the BCa interval of the same mean."""
    d = np.asarray(diffs, dtype=float)
    value = float(d.mean())
    return Verdict(value=value, ci=mean_interval(d), p=sign_flip_p(d), direction=float(np.sign(value)),
                   test="paired sign-flip permutation test of the mean", ci_method="BCa bootstrap of the mean",
                   interval=lambda level: mean_interval(d, level), **fields_)


def diversity_verdict(dataset: str, method: str, compare: str, matched: dict, kind: str = "correct") -> Verdict:
    """Paired per-problem Distinct-N change at matched sample counts (higher is more diverse)."""
    entry = matched.get(kind, {}).get("distinct_n") or {}
    diffs = entry.get("_diffs", [])
    common = dict(axis="diversity", dataset=dataset, method=method, compare=compare,
                  measure=f"Distinct-N of {kind} samples at matched count (after − before)")
    if not diffs:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       test="paired sign-flip permutation test of the mean", ci_method="BCa bootstrap of the mean",
                       reason=f"no problem with >= 2 {kind} samples from both models", **common)
    m = matched[kind]["m"]
    detail = f"{len(diffs)} problems, m = {m['min']}-{m['max']} (median {m['median']}) samples each"
    return mean_change_verdict(diffs, detail=detail, **common)


# ---------------------------------------------------------------- fairness (first and last level)


def disparity_change(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """GD(after) − GD(before) from solved arrays of shape (..., problems, 2) (columns: before, after)
    of the first and last level; NaN where the first level's accuracy is 0."""
    acc_first, acc_last = first.mean(axis=-2), last.mean(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        gd = np.where(acc_first > 0, (acc_first - acc_last) / acc_first, np.nan)
    return gd[..., 1] - gd[..., 0]


def disparity_swap_p(first: np.ndarray, last: np.ndarray, seed: int) -> float:
    """`swap_p` of GD's change over the discordant problems only (swapping a concordant one changes
    nothing), so the test is exact by enumeration up to 13 of them."""
    both = np.concatenate([first, last])
    on_last = np.arange(len(both)) >= len(first)
    disc = both[:, 0] != both[:, 1]
    if not disc.any():
        return 1.0
    fixed = [both[~disc & (on_last == k), 0].sum() for k in (False, True)]  # the same for both models
    sizes, where = (len(first), len(last)), on_last[disc]

    def change(before: np.ndarray, after: np.ndarray, axis: int = -1) -> np.ndarray:
        def gd(x: np.ndarray) -> np.ndarray:
            acc_first, acc_last = ((fixed[k] + x[..., where == k].sum(-1)) / sizes[k] for k in (False, True))
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(acc_first > 0, (acc_first - acc_last) / acc_first, np.nan)
        return gd(after) - gd(before)

    return swap_p(both[disc, 0], both[disc, 1], change, seed)


def disparity_verdict(dataset: str, method: str, compare: str, levels: tuple[int, int],
                      first: tuple[SampleLog, SampleLog], last: tuple[SampleLog, SampleLog], seed: int) -> Verdict:
    """The change in GD (after − before): p from swapping each problem's two outcomes (exact when the
    models are exchangeable), interval from a paired bootstrap stratified by level (each problem
    keeps both outcomes, each level its size). GD rising is regress, falling progress."""
    def solved(pair: tuple[SampleLog, SampleLog]) -> np.ndarray:
        before, after = pair
        return np.array([[before.docs[i].solved, after.docs[i].solved] for i in before.docs if i in after.docs],
                        dtype=float)

    lo, hi = levels
    f, l_ = solved(first), solved(last)
    value = float(disparity_change(f, l_))
    common = dict(axis="fairness: disparity", dataset=dataset, method=method, compare=compare,
                  measure=f"GD = (acc L{lo} − acc L{hi}) / acc L{lo}, after − before; {len(f)} and {len(l_)} problems",
                  test="paired swap permutation test of GD's change", ci_method="bootstrap by level (percentile)")
    if math.isnan(value):
        return Verdict(value=value, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason=f"GD undefined: level {lo} accuracy is 0 for a model", **common)
    p = disparity_swap_p(f, l_, seed)
    interval = percentile_interval(stratified_bootstrap([f, l_], disparity_change, seed))
    return Verdict(value=value, ci=interval(LEVEL), p=p, direction=float(np.sign(value)), interval=interval,
                   words=(REGRESS, PROGRESS), min_change_applies=True, **common)


def fairness_summary(first: Verdict, last: Verdict, disparity: Verdict, levels: tuple[int, int]) -> dict:
    """What happened across difficulty: a level that got worse decides; else the test of GD's change."""
    lo, hi = levels
    gd = tuple(metrics.group_disparity({lo: getattr(first, k), hi: getattr(last, k)}, lo, hi)
               for k in ("before", "after"))
    gd_text = " → ".join("undefined" if math.isnan(g) else f"{g:.3f}" for g in gd)
    per_level = (f"level {lo} {first.before:.3f} → {first.after:.3f}, "
                 f"level {hi} {last.before:.3f} → {last.after:.3f}")
    if first.verdict == REGRESS:
        verdict, what = REGRESS, (f"level {lo} got worse ({first.before:.3f} → {first.after:.3f}): "
                                  "a GD that falls for this is no progress")
    elif last.verdict == REGRESS:
        verdict, what = REGRESS, f"level {hi} got worse ({last.before:.3f} → {last.after:.3f})"
    else:
        verdict = disparity.verdict
        what = {PROGRESS: f"disparity narrowed: GD {gd_text} ({per_level})",
                REGRESS: f"disparity grew: GD {gd_text} ({per_level})",
                NO_CHANGE: f"GD {gd_text}: no change beyond the smallest that matters ({per_level})",
                INCONCLUSIVE: f"GD {gd_text}: too few problems to tell a change in disparity ({per_level})",
                }.get(verdict, f"GD not measured: {disparity.reason}")
    return {"axis": "fairness", "dataset": first.dataset, "method": first.method, "compare": first.compare,
            "verdict": verdict, "what_happened": what, "group_disparity": [None if math.isnan(g) else g for g in gd],
            "measure": f"GD = (acc L{lo} − acc L{hi}) / acc L{lo}: {gd_text}; paired tests per level and of GD's change",
            "disparity": disparity.to_dict(), "levels": [first.to_dict(), last.to_dict()]}
