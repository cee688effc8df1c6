"""The verdicts of one report: one exact or rank test per comparison, all in one family whose
p-values are Holm-adjusted before any word is given (docs/verdicts.md)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from harness_ext import metrics
from harness_ext.improve import compare_solved
from harness_ext.report.stats import (
    ALPHA,
    binom_central_p,
    clopper_pearson,
    holm,
    mcnemar_exact_p,
    paired_diff_newcombe,
    paired_location_test,
)
from harness_ext.samples import SampleLog

NO_CHANGE = "no significant change"
PROGRESS, REGRESS = "progress", "regress"
BEYOND, WITHIN, INCONCLUSIVE = "new ability beyond M1", "gains within M1's sampling space", "inconclusive"
NOT_MEASURED = "not measured"
BEYOND_THRESHOLD = 0.1  # IS share M1 never solves: above = new ability, below = re-ranking M1's answers
# The paper's N. With fewer samples the share M1 "never solves" can only be overstated, so
# "new ability beyond M1" needs at least this many; "gains within M1's sampling space" holds at any n.
BEYOND_MIN_SAMPLES = 50


@dataclass
class Verdict:
    """One tested comparison. `direction` > 0 reads as `words[0]`, < 0 as `words[1]` once the
    Holm-adjusted p is below ALPHA; otherwise `null_word`. No p (undefined) -> "not measured"."""

    axis: str
    dataset: str
    method: str
    compare: str
    measure: str
    test: str
    ci_method: str
    value: float
    ci: tuple[float, float]
    p: float | None
    direction: float
    words: tuple[str, str] = (PROGRESS, REGRESS)
    null_word: str = NO_CHANGE
    detail: str = ""
    reason: str | None = None  # why a quantity is undefined
    before: float | None = None  # the two models' own values (accuracy: mean score)
    after: float | None = None
    p_adjusted: float | None = None
    verdict: str = NOT_MEASURED

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci)
        for key in ("direction", "words", "null_word"):
            out.pop(key)
        return out


def finalize(verdicts: list[Verdict]) -> list[Verdict]:
    """Holm-adjust every defined p of the family, then word each verdict."""
    tested = [v for v in verdicts if v.p is not None and not math.isnan(v.p)]
    for v, adjusted in zip(tested, holm([v.p for v in tested])):
        v.p_adjusted = adjusted
        if adjusted < ALPHA and v.direction:
            v.verdict = v.words[0] if v.direction > 0 else v.words[1]
        else:
            v.verdict = v.null_word
        if v.verdict == BEYOND and "shallow" in v.detail:
            v.verdict = INCONCLUSIVE
    return verdicts


# ---------------------------------------------------------------- accuracy (paired, per problem)


def is_avg_at_n(log: SampleLog) -> bool:
    """A built-in task's log run with `repeats`: its pass@1 is avg@n, not a greedy answer."""
    return log.rescored_with is not None and log.n_samples > 1


def doc_scores(log: SampleLog) -> dict[str, float]:
    """Per doc: greedy correct (0/1), or avg@n for built-in logs with several samples."""
    if is_avg_at_n(log):
        return {i: d.n_correct / d.n for i, d in log.docs.items() if d.n}
    return {i: float(d.solved) for i, d in log.docs.items()}


def accuracy_verdict(axis: str, dataset: str, method: str, compare: str, before: SampleLog,
                     after: SampleLog) -> Verdict:
    """after − before on the problems both logs hold: exact McNemar + Newcombe CI, or (avg@n)
    Wilcoxon signed-rank + BCa bootstrap CI of the per-problem differences."""
    if is_avg_at_n(before) or is_avg_at_n(after):
        a, b = doc_scores(before), doc_scores(after)
        common = [i for i in a if i in b]
        est, p = paired_location_test([b[i] - a[i] for i in common])
        return Verdict(axis, dataset, method, compare, f"avg@n (after − before), {len(common)} problems",
                       "Wilcoxon signed-rank (paired)", "BCa bootstrap", est.value, (est.lo, est.hi), p,
                       float(np.sign(est.value)), before=float(np.mean([a[i] for i in common])),
                       after=float(np.mean([b[i] for i in common])))
    iset = compare_solved({i: d.solved for i, d in before.docs.items()}, {i: d.solved for i, d in after.docs.items()})
    tr = iset.transitions()
    est = paired_diff_newcombe(tr["both"], tr["newly_forgotten"], tr["newly_solved"], tr["neither"])
    p = float(mcnemar_exact_p(tr["newly_solved"], tr["newly_forgotten"]))
    n = iset.n_common
    measure = f"solved by lm-eval's {before.scored_by.split(' (')[0]}" if before.scored_by else "pass@1"
    return Verdict(axis, dataset, method, compare, f"{measure} (after − before), {n} problems",
                   f"exact McNemar ({tr['newly_solved']} newly solved vs {tr['newly_forgotten']} forgotten)",
                   "Newcombe hybrid score (method 10)", est.value, (est.lo, est.hi), p, float(np.sign(est.value)),
                   before=(tr["both"] + tr["newly_forgotten"]) / n, after=(tr["both"] + tr["newly_solved"]) / n)


# ---------------------------------------------------------------- beyond M1's sampling space


def beyond_verdict(dataset: str, method: str, compare: str, probe: dict) -> Verdict:
    """Share of IS(t) that M1 never solves within its n samples vs BEYOND_THRESHOLD: exact binomial
    test (central, dual to the Clopper-Pearson interval)."""
    k, n, depth = probe.get("n_unsolved", 0), probe.get("n_probed", 0), probe.get("n_samples", 0)
    common = dict(axis="beyond M1's sampling space", dataset=dataset, method=method, compare=compare,
                  measure=f"share of IS M1 never solves in {depth} samples (threshold {BEYOND_THRESHOLD})",
                  test="exact binomial vs threshold", ci_method="Clopper-Pearson", words=(BEYOND, WITHIN),
                  null_word=INCONCLUSIVE)
    if not n:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason=probe.get("note") or "empty improvement set: nothing to probe", **common)
    lo, hi = clopper_pearson(k, n)
    share = k / n
    shallow = depth < BEYOND_MIN_SAMPLES
    detail = f"{k} of {n} IS problems never solved by M1"
    if shallow:
        detail += f"; shallow probe: 'new ability' needs n >= {BEYOND_MIN_SAMPLES} samples"
    return Verdict(value=share, ci=(lo, hi), p=float(binom_central_p(k, n, BEYOND_THRESHOLD)),
                   direction=float(np.sign(share - BEYOND_THRESHOLD)), detail=detail, **common)


# ---------------------------------------------------------------- diversity (matched count, paired)


def diversity_verdict(dataset: str, method: str, compare: str, matched: dict, kind: str = "correct") -> Verdict:
    """Paired per-problem Distinct-N change at matched sample counts (higher is more diverse)."""
    entry = matched.get(kind, {}).get("distinct_n") or {}
    diffs = entry.get("_diffs", [])
    common = dict(axis="diversity", dataset=dataset, method=method, compare=compare,
                  measure=f"Distinct-N of {kind} samples at matched count (after − before)",
                  test="Wilcoxon signed-rank (paired)", ci_method="BCa bootstrap")
    if not diffs:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason=f"no problem with >= 2 {kind} samples from both models", **common)
    est, p = paired_location_test(diffs)
    m = matched[kind]["m"]
    detail = f"{len(diffs)} problems, m = {m['min']}-{m['max']} (median {m['median']}) samples each"
    return Verdict(value=est.value, ci=(est.lo, est.hi), p=p, direction=float(np.sign(est.value)),
                   detail=detail, **common)


# ---------------------------------------------------------------- fairness (first and last level)


def fairness_summary(first: Verdict, last: Verdict, levels: tuple[int, int]) -> dict:
    """What happened across difficulty, from the paired tests of the first and last level."""
    lo, hi = levels
    gd = tuple(metrics.group_disparity({lo: getattr(first, k), hi: getattr(last, k)}, lo, hi)
               for k in ("before", "after"))
    worse_easy, better_easy = first.verdict == REGRESS, first.verdict == PROGRESS
    worse_hard, better_hard = last.verdict == REGRESS, last.verdict == PROGRESS
    if worse_easy:
        verdict, what = REGRESS, (f"level {lo} got worse ({first.before:.3f} → {first.after:.3f}): "
                                  "a GD that falls for this is no progress")
    elif worse_hard:
        verdict, what = REGRESS, f"level {hi} got worse ({last.before:.3f} → {last.after:.3f})"
    elif better_hard and not better_easy:
        verdict, what = PROGRESS, f"level {hi} caught up ({last.before:.3f} → {last.after:.3f}) while level {lo} held"
    elif better_easy and not better_hard:
        verdict, what = REGRESS, (f"disparity grew: level {lo} improved ({first.before:.3f} → {first.after:.3f}), "
                                  f"level {hi} did not")
    elif better_easy and better_hard:
        verdict, what = NO_CHANGE, f"both levels improved ({first.value:+.3f}, {last.value:+.3f})"
    else:
        verdict, what = NO_CHANGE, f"neither level {lo} nor level {hi} changed significantly"
    gd_text = " → ".join("undefined" if math.isnan(g) else f"{g:.3f}" for g in gd)
    return {"axis": "fairness", "dataset": first.dataset, "method": first.method, "compare": first.compare,
            "verdict": verdict, "what_happened": what, "group_disparity": [None if math.isnan(g) else g for g in gd],
            "measure": f"GD = (acc L{lo} − acc L{hi}) / acc L{lo}: {gd_text}; paired tests per level",
            "levels": [first.to_dict(), last.to_dict()]}
