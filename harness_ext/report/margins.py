"""Confidence of a multiple-choice (log-likelihood) task per doc: the margin between the gold
choice's log-likelihood and the best wrong choice's, as lm-eval logged them; length-normalised
(per character of the choice, as lm-eval's acc_norm) when the task is scored by acc_norm.
A margin > 0 is exactly a doc lm-eval scores correct (ties aside)."""
from __future__ import annotations

import math

from harness_ext.report.lmeval_results import DEFAULT_TARGET_DELIMITER, RunResults
from harness_ext.report.verdicts import Verdict, mean_change_verdict
from harness_ext.samples import DocRecord, SampleLog

AXIS = "confidence (log-likelihood margin)"


def doc_margin(record: DocRecord, delimiter: str, normalise: bool, solved: bool | None = None) -> float | None:
    """Gold ll − best wrong ll of one multiple-choice doc; None when the line is not one. The log
    holds str(target), an index or a choice's text: the reading that agrees with lm-eval's own
    verdict `solved` (margin > 0 iff solved) is taken."""
    lls = _choice_lls(record.resps)
    conts = _continuations(record.arguments)
    if lls is None or conts is None or len(lls) != len(conts) or len(lls) < 2:
        return None
    choices = [c[len(delimiter):] if c.startswith(delimiter) else c for c in conts]
    if normalise:
        lls = [ll / max(len(c), 1) for ll, c in zip(lls, choices)]
    margins = [lls[g] - max(ll for i, ll in enumerate(lls) if i != g) for g in _gold_indices(record.target, choices)]
    agreeing = [m for m in margins if solved is None or (m > 0) == solved or m == 0]
    return agreeing[0] if agreeing else None


def _choice_lls(resps) -> list[float] | None:
    """[[ (ll, is_greedy) ], ...] per choice (lm-eval writes each tuple as a list of strings)."""
    if not isinstance(resps, list):
        return None
    out = []
    for r in resps:
        if not (isinstance(r, list) and len(r) == 1 and isinstance(r[0], (list, tuple)) and len(r[0]) == 2):
            return None
        try:
            out.append(float(r[0][0]))
        except (TypeError, ValueError):
            return None
    return out if all(math.isfinite(x) for x in out) else None


def _continuations(arguments) -> list[str] | None:
    """The continuation (arg_1) of each loglikelihood request, in request order."""
    if not isinstance(arguments, dict):
        return None
    args = [arguments.get(f"gen_args_{i}") for i in range(len(arguments))]
    if not all(isinstance(a, dict) and isinstance(a.get("arg_1"), str) for a in args):
        return None
    return [a["arg_1"] for a in args]


def _gold_indices(target, choices: list[str]) -> list[int]:
    """The possible gold indices of str(target): a choice's text, or an index."""
    if not isinstance(target, str):
        return []
    out = [choices.index(target)] if target in choices else []
    if target.strip().isdigit() and int(target) < len(choices) and int(target) not in out:
        out.append(int(target))
    return out


def log_margins(log: SampleLog, results: RunResults) -> dict[str, float] | None:
    """{doc id: margin} when every doc of the log is a scorable multiple-choice line, else None."""
    info = results.tasks.get(log.task)
    delimiter = info.target_delimiter if info else DEFAULT_TARGET_DELIMITER
    normalise = (log.scored_by or "").startswith("acc_norm,")
    out = {}
    for key, record in log.docs.items():
        m = doc_margin(record, delimiter, normalise, record.solved if log.scored_by else None)
        if m is None:
            return None
        out[key] = m
    return out or None


def margin_summary(before: dict[str, float], after: dict[str, float]) -> dict:
    common = [i for i in before if i in after]
    return {"n_docs": len(common), "before": _mean([before[i] for i in common]),
            "after": _mean([after[i] for i in common])}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def margin_verdict(dataset: str, method: str, compare: str, before: dict[str, float],
                   after: dict[str, float], normalised: bool) -> Verdict:
    """Paired change of the mean per-doc margin: sign-flip permutation test + BCa interval of the mean."""
    common = [i for i in before if i in after]
    unit = "per character" if normalised else "nats"
    return mean_change_verdict([after[i] - before[i] for i in common], axis=AXIS, dataset=dataset, method=method,
                               compare=compare,
                               measure=f"gold − best wrong log-likelihood ({unit}; after − before), {len(common)} problems",
                               words=("more confident", "less confident"),
                               before=_mean([before[i] for i in common]), after=_mean([after[i] for i in common]))
