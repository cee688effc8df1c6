"""Calibration of a checkpoint from its n samples per test problem (docs/mechanisms.md): confidence =
the share of the samples that give the majority answer; the model's answer = that majority answer.
Reliability diagram, ECE over fixed equal-width bins, Brier score, accuracy at high confidence, and
the paired test of ECE between two checkpoints on the same problems."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from harness_ext.report.stats import LEVEL, N_BOOT, clopper_pearson, percentile_interval
from harness_ext.report.verdicts import INCONCLUSIVE, Verdict
from harness_ext.samples import Sample, SampleLog

N_BINS = 10  # equal-width confidence bins (0, 0.1], (0.1, 0.2], ..., (0.9, 1]; 0 falls in the first
HIGH_CONFIDENCE = 0.9  # "high confidence": at least 90% of the samples agree
BATCH = 100  # resamples evaluated at once: memory ~ BATCH x problems x N_BINS
WORSE, BETTER = "calibration worse (ECE rose)", "calibration better (ECE fell)"


@dataclass(frozen=True)
class Calibrated:
    """Per problem: the majority answer's share of the samples and whether that answer is correct."""

    confidence: np.ndarray
    correct: np.ndarray


def majority_vote(samples: list[Sample]) -> tuple[float, bool]:
    """(share of samples giving the most frequent extracted answer, is that answer correct). Samples
    without an answer count in the share's denominator; none answered: confidence 0, not correct.
    A tie goes to the answer drawn first."""
    answers = Counter(s.answer for s in samples if s.answer is not None)
    if not samples or not answers:
        return 0.0, False
    answer, votes = answers.most_common(1)[0]
    return votes / len(samples), next(s.correct for s in samples if s.answer == answer)


def calibrated(per_problem: list[list[Sample]]) -> Calibrated:
    votes = [majority_vote(s) for s in per_problem]
    return Calibrated(np.array([c for c, _ in votes], dtype=float), np.array([k for _, k in votes], dtype=float))


def bin_index(confidence: np.ndarray) -> np.ndarray:
    """Bin of each confidence in the right-closed equal-width bins (0 goes to the first bin); rounded
    first so that a share on a bin edge (0.3 = 3/10) stays in the bin it closes."""
    return np.clip(np.ceil(np.round(confidence * N_BINS, 9)).astype(int) - 1, 0, N_BINS - 1)


def ece_rows(confidence: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Expected calibration error over the last axis (problems), any leading axes (resamples): sum
    over the N_BINS bins of (share of problems) x |accuracy − mean confidence|."""
    inside = bin_index(confidence)[..., None] == np.arange(N_BINS)
    gaps = ((correct - confidence)[..., None] * inside).sum(axis=-2)
    return np.abs(gaps).sum(axis=-1) / confidence.shape[-1]


def ece(confidence: np.ndarray, correct: np.ndarray) -> float:
    """ECE of one model's problems (NaN: no problem)."""
    return float(ece_rows(confidence, correct)) if confidence.size else math.nan


def reliability(cal: Calibrated) -> list[dict]:
    """The reliability diagram's bins: range, problems, mean confidence, accuracy (None when empty)."""
    bins = bin_index(cal.confidence)
    out = []
    for b in range(N_BINS):
        inside = bins == b
        n = int(inside.sum())
        out.append({"bin": [b / N_BINS, (b + 1) / N_BINS], "n": n,
                    "confidence": float(cal.confidence[inside].mean()) if n else None,
                    "accuracy": float(cal.correct[inside].mean()) if n else None})
    return out


def calibration_table(log: SampleLog) -> dict:
    """One checkpoint's calibration on the problems of its sampled log."""
    cal = calibrated([d.samples for d in log.docs.values()])
    high = cal.confidence >= HIGH_CONFIDENCE
    k, n = int(cal.correct[high].sum()), int(high.sum())
    high_acc = {"value": k / n, "ci": list(clopper_pearson(k, n)), "n": n} if n else {
        "value": None, "ci": [None, None], "n": 0, "reason": f"no problem with confidence >= {HIGH_CONFIDENCE}"}
    return {"task": log.task, "n_problems": int(cal.confidence.size), "n_samples": log.n_samples,
            "accuracy": float(cal.correct.mean()) if cal.correct.size else None,
            "mean_confidence": float(cal.confidence.mean()) if cal.confidence.size else None,
            "ece": ece(cal.confidence, cal.correct),
            "brier": float(np.mean((cal.confidence - cal.correct) ** 2)) if cal.correct.size else None,
            "high_confidence_accuracy": high_acc, "reliability": reliability(cal)}


def matched_problems(before: SampleLog, after: SampleLog) -> tuple[Calibrated, Calibrated, int]:
    """Both checkpoints on the problems both logs hold, each problem with the same number of samples
    (the first min(n_before, n_after) of each); returns the smallest count used."""
    common = [i for i in before.docs if i in after.docs and before.docs[i].n and after.docs[i].n]
    m = [min(before.docs[i].n, after.docs[i].n) for i in common]
    a = calibrated([before.docs[i].samples[:k] for i, k in zip(common, m)])
    b = calibrated([after.docs[i].samples[:k] for i, k in zip(common, m)])
    return a, b, min(m, default=0)


def ece_verdict(dataset: str, method: str, compare: str, before: SampleLog, after: SampleLog,
                seed: int = 0) -> Verdict:
    """ECE(after) − ECE(before) on matched problems: paired bootstrap CI over problems (percentile) and
    the paired permutation test (each problem's two models swapped at random; scipy)."""
    a, b, m = matched_problems(before, after)
    n = a.confidence.size
    common = dict(axis="calibration", dataset=dataset, method=method, compare=compare,
                  measure=f"ECE ({N_BINS} equal-width bins, confidence = majority-answer share) (after − before)",
                  test="paired permutation test over problems", ci_method="paired bootstrap over problems (percentile)",
                  words=(WORSE, BETTER), null_word=INCONCLUSIVE)
    if n < 2:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason=f"{n} problem(s) sampled by both checkpoints: nothing to resample", **common)
    conf, corr = np.concatenate([a.confidence, b.confidence]), np.concatenate([a.correct, b.correct])

    def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:  # x, y: indices into conf / corr
        return ece_rows(conf[y], corr[y]) - ece_rows(conf[x], corr[x])

    x, y = np.arange(n), np.arange(n, 2 * n)
    rng = np.random.default_rng(seed)
    resampling = dict(vectorized=True, n_resamples=N_BOOT, batch=BATCH, random_state=rng)
    p = float(scipy_stats.permutation_test((x, y), diff, permutation_type="samples", **resampling).pvalue)
    boot = scipy_stats.bootstrap((x, y), diff, paired=True, method="percentile", confidence_level=LEVEL,
                                 **resampling)
    ci = boot.confidence_interval
    before_ece, after_ece = ece(a.confidence, a.correct), ece(b.confidence, b.correct)
    value = after_ece - before_ece
    return Verdict(value=value, ci=(float(ci.low), float(ci.high)), p=p, direction=float(np.sign(value)),
                   detail=f"{n} problems, {m}+ samples each; ECE {before_ece:.3f} → {after_ece:.3f}",
                   before=before_ece, after=after_ece, interval=percentile_interval(boot.bootstrap_distribution),
                   **common)
