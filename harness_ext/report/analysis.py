"""Every number of the report, recomputed from sample logs: pass@1, IS(t) probes, coverage, diversity,
OOD, group disparity, and the family of verdicts (`family`, `verdicts`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from harness_ext import metrics, registry
from harness_ext.errors import SelfimpError
from harness_ext.improve import compare_logs
from harness_ext.report.diversity import DiversityOptions, matched_diversity, pooled_diversity
from harness_ext.report.family import headline, trajectory_table, verdict_family
from harness_ext.report.groups import analyze_groups, group_logs
from harness_ext.report.hardcoding import hardcoding_row
from harness_ext.report.inputs import Checkpoint, ReportInput, match_problems
from harness_ext.report.mechanisms import mechanisms
from harness_ext.report.passk_curves import compare_curves
from harness_ext.report.stats import clopper_pearson, mean_ci, paired_diff_agresti_min
from harness_ext.report.task_metrics import verifier_agreement
from harness_ext.report.task_groups import (
    category_verdicts,
    group_sections,
    group_verdicts,
    margin_verdicts,
    merged_groups,
    not_available,
)
from harness_ext.report.verdicts import MIN_CHANGE, doc_scores, finalize, is_avg_at_n
from harness_ext.samples import SampleLog

COVERAGE_THRESHOLD = 0.5  # paper: coverage > 0.5 -> DPO / SFT-DPO, < 0.5 -> SFT


@dataclass
class Options(DiversityOptions):
    """The report's options: Sentence-BERT on/off, its dtype and backend (the slowest part), the
    bootstrap seed, the smallest accuracy change that matters (below it "no significant change",
    else "inconclusive" when not excluded) and whether checkpoints whose logs hold different problems
    are compared on the problems they share (else refused)."""

    min_change: float = MIN_CHANGE
    common_problems: bool = False


@dataclass
class DatasetLogs:
    """One checkpoint's logs over one dataset, by role."""

    greedy: SampleLog | None = None
    sampled: SampleLog | None = None  # pass@k / coverage (N samples per doc)
    diversity: SampleLog | None = None


def task_role(log: SampleLog) -> str:
    """greedy | sampled | diversity | groups | improve, from the task name (built-ins: by sample count)."""
    return registry.task_role(log.task)


def dataset_logs(ck: Checkpoint) -> dict[str, DatasetLogs]:
    out: dict[str, DatasetLogs] = {}
    groups = group_logs(ck)
    for log in ck.logs.values():
        role = task_role(log)
        if role in ("groups", "improve"):
            continue
        entry = out.setdefault(log.dataset, DatasetLogs())
        setattr(entry, role, log)
        if role == "greedy" and log.n_samples > 1:  # a built-in task run with repeats: also a sampled log
            entry.sampled = entry.sampled or log
    for ds, log in groups.items():  # a groups log is a greedy log with levels: it stands in for a missing _pass1
        entry = out.setdefault(ds, DatasetLogs())
        entry.greedy = entry.greedy or log
    for entry in out.values():
        entry.diversity = entry.diversity or entry.sampled
    return out


def series_of(checkpoints: list[Checkpoint]) -> tuple[Checkpoint, dict[str, list[Checkpoint]]]:
    """M1 (smallest t) and, per method, [M1, M_2, ..., M_T] in order of t."""
    m1 = min(checkpoints, key=lambda c: c.t)
    series: dict[str, list[Checkpoint]] = {}
    for ck in checkpoints:
        if ck is not m1 and ck.t > m1.t:
            series.setdefault(ck.method, []).append(ck)
    if not series:
        return m1, {m1.method: [m1]}
    return m1, {m: [m1] + sorted(cks, key=lambda c: c.t) for m, cks in series.items()}


def dataset_of(key: str) -> str:
    """The registered dataset of a dataset key: selfimp_gsm8k -> gsm8k; built-in minerva_math -> math."""
    return registry.builtin_verifier_name(key) or key.removeprefix(registry.TASK_PREFIX)


def analyze(inp: ReportInput, opts: Options = Options()) -> dict:
    left_out = match_problems(inp.checkpoints, opts.common_problems)
    m1, series = series_of(inp.checkpoints)
    per_ck = {ck.label: dataset_logs(ck) for ck in inp.checkpoints}
    all_datasets = sorted({d for logs in per_ck.values() for d, e in logs.items() if e.greedy is not None})
    check_common_tasks(m1, inp.checkpoints, per_ck)
    with_pass1 = {d for logs in per_ck.values() for d, e in logs.items()
                  if e.greedy is not None and task_role(e.greedy) != "groups"}
    primaries = primary_datasets(all_datasets, with_pass1, inp.train_task)
    report = {
        "format": 2,
        "source": inp.source,
        "train_task": inp.train_task,
        "missing_checkpoints": inp.missing,
        "left_out": left_out,
        "checkpoints": [{"label": c.label, "t": c.t, "method": c.method} for c in inp.checkpoints],
        "m1": m1.label,
        "series": {m: [c.label for c in cks] for m, cks in series.items()},
        "datasets": {ds: analyze_dataset(ds, m1, series, per_ck, opts, inp.m1_probe) for ds in primaries},
    }
    if inp.train_samples is not None and primaries:
        report["datasets"][primaries[0]]["coverage_train"] = train_coverage(inp.train_samples)
    ood = [d for d in all_datasets if d not in primaries]
    report["ood"] = {d: pass1_table(d, inp.checkpoints, per_ck, opts.seed) for d in ood}
    report["ood_pooled"] = pooled_ood(m1, series, per_ck, ood)
    report["groups"] = analyze_groups(inp.checkpoints, opts.seed)
    family = verdict_family(report, m1, series, per_ck, primaries, ood, opts.seed)
    groups = merged_groups(inp.checkpoints)
    margins, margin_table = margin_verdicts(primaries, m1, series, per_ck)
    by_category, report["categories"] = category_verdicts(primaries, m1, series, per_ck)
    family += group_verdicts(groups, m1, series, per_ck) + by_category + margins
    report["mechanisms"], why = mechanisms(inp.run_dir, m1, series, per_ck, primaries, opts.seed)
    family += why
    finalize(family, opts.min_change)
    state_left_out(family, left_out)
    report["verdicts"] = [v.to_dict() for v in family]
    report["headline"] = headline(family, series, m1)
    for ds in primaries:
        d = report["datasets"][ds]
        d["trajectory"] = trajectory_table(family, ds, d["pass1"], series)
        d["margin"] = margin_table.get(ds)
        m1_logs = per_ck[m1.label].get(ds, DatasetLogs())
        if m1_logs.greedy is not None:
            d["not_available"] = not_available(m1_logs.greedy, m1_logs.sampled, ds in margin_table)
    report["task_groups"] = group_sections(groups, report) if groups else None
    return report


def state_left_out(family: list, left_out: dict[str, dict[str, int]]) -> None:
    """With --common-problems: each verdict over a task whose logs differed says what was left out."""
    by_dataset: dict[str, list[str]] = {}
    for task, counts in left_out.items():
        by_dataset.setdefault(registry.dataset_key(task), []).append(
            f"{task}: compared on the problems every checkpoint holds, left out "
            + ", ".join(f"{n} of {label}'s log" for label, n in counts.items() if n))
    for v in family:
        notes = by_dataset.get(v.dataset.split("[")[0], [])
        if notes:
            v.detail = "; ".join(filter(None, [v.detail, *notes]))


def check_common_tasks(m1: Checkpoint, checkpoints: list[Checkpoint], per_ck: dict) -> None:
    """Every checkpoint must share at least one task's dataset with M1, or nothing can be compared."""
    ref = {d for d, e in per_ck[m1.label].items() if e.greedy is not None}
    for ck in checkpoints:
        own = {d for d, e in per_ck[ck.label].items() if e.greedy is not None}
        if ck is not m1 and not ref & own:
            raise SelfimpError(
                f"checkpoint {ck.label!r} has logs of tasks {sorted(own) or 'none'} but M1 {m1.label!r} has "
                f"{sorted(ref) or 'none'}: no task in common to compare"
            )


def primary_datasets(datasets: list[str], with_pass1: set[str], train_task: str | None) -> list[str]:
    """The training task's dataset; without one, every dataset with a pass@1 log (not only a groups log)."""
    if train_task:
        wanted = [d for d in datasets if dataset_of(d) == train_task]
        if wanted:
            return wanted
    return [d for d in datasets if d in with_pass1] or datasets[:1]


# ---------------------------------------------------------------- pass@1


def pass1_table(ds: str, checkpoints: list[Checkpoint], per_ck: dict, seed: int) -> dict:
    """Per checkpoint: pass@1 [bootstrap CI]; `measure` says greedy pass@1 or avg@n (built-in repeats)."""
    out = {}
    for ck in checkpoints:
        log = per_ck[ck.label].get(ds, DatasetLogs()).greedy
        if log is not None:
            measure = f"avg@{log.n_samples}" if is_avg_at_n(log) else "greedy pass@1"
            if log.scored_by is not None:
                measure = f"lm-eval's {log.scored_by}"
            out[ck.label] = {"task": log.task, "n_docs": len(log.docs), "measure": measure,
                             "rescored_with": log.rescored_with, "lm_eval_agreement": verifier_agreement(log, ck.results),
                             **mean_ci(list(doc_scores(log).values()), seed).to_dict()}
    return out


# ---------------------------------------------------------------- one training dataset


def analyze_dataset(ds: str, m1: Checkpoint, series: dict, per_ck: dict, opts: Options,
                    run_probe: list[dict] | None = None) -> dict:
    checkpoints = unique(ck for cks in series.values() for ck in cks)
    m1_logs = per_ck[m1.label].get(ds, DatasetLogs())
    out: dict = {"pass1": pass1_table(ds, checkpoints, per_ck, opts.seed)}
    greedy = {ck.label: per_ck[ck.label].get(ds, DatasetLogs()).greedy for ck in checkpoints}
    out["hardcoding"] = {lab: row for lab, log in greedy.items() if log and (row := hardcoding_row(log))}
    out["improvement"] = improvement_table(ds, m1, checkpoints, per_ck, run_probe)
    out["coverage"] = coverage_advice(m1_logs.sampled)
    out["diversity"] = {
        ck.label: pooled_diversity(per_ck[ck.label][ds].diversity, dataset_of(ds), opts)
        for ck in checkpoints
        if ds in per_ck[ck.label] and per_ck[ck.label][ds].diversity is not None
    }
    out["sbert_dtype"] = opts.sbert_dtype if opts.sbert and out["diversity"] else None
    out["sbert_backend"] = opts.sbert_backend if opts.sbert and out["diversity"] else None
    out["matched_diversity"] = {}
    for cks in series.values():
        last = per_ck[cks[-1].label].get(ds, DatasetLogs()).diversity
        if cks[-1] is not m1 and m1_logs.diversity is not None and last is not None:
            out["matched_diversity"][cks[-1].label] = matched_diversity(m1_logs.diversity, last, dataset_of(ds), opts)
    out["passk_curves"] = passk_curves(ds, m1, checkpoints, per_ck, opts.seed)
    return out


def passk_curves(ds: str, m1: Checkpoint, checkpoints: list[Checkpoint], per_ck: dict, seed: int) -> dict:
    """Per M_t with a sampled log: M1's and M_t's pass@k curves on their common problems, the crossing
    and coverage lost / gained (`passk_curves`)."""
    m1_sampled = per_ck[m1.label].get(ds, DatasetLogs()).sampled
    out = {}
    for ck in checkpoints:
        sampled = per_ck[ck.label].get(ds, DatasetLogs()).sampled
        if ck is not m1 and m1_sampled is not None and sampled is not None:
            curves = compare_curves(m1_sampled, sampled, seed)
            if curves is not None:
                out[ck.label] = {"t": ck.t, "method": ck.method, **curves}
    return out


def unique(cks: Iterable[Checkpoint]) -> list[Checkpoint]:
    seen, out = set(), []
    for ck in cks:
        if ck.label not in seen:
            seen.add(ck.label)
            out.append(ck)
    return out


def improvement_table(ds: str, m1: Checkpoint, checkpoints: list[Checkpoint], per_ck: dict,
                      run_probe: list[dict] | None = None) -> dict:
    """Per M_t: IS(t) vs M1, the transition table, M1's pass@k on IS(t) for k = 1..N, from M1's
    sampled log or the training run's own probe (`m1_test_samples.jsonl`): the one holding more
    of IS(t), the deeper on a tie."""
    m1_logs = per_ck[m1.label].get(ds, DatasetLogs())
    out = {}
    if m1_logs.greedy is None:
        return out
    probes = [p for p in (log_counts(m1_logs.sampled), record_counts(run_probe)) if p is not None]
    for ck in checkpoints:
        logs = per_ck[ck.label].get(ds, DatasetLogs())
        if ck is m1 or logs.greedy is None:
            continue
        iset = compare_logs(m1_logs.greedy, logs.greedy)
        entry = {"t": ck.t, "method": ck.method, **iset.to_dict()}
        # the probe holding most of IS(t), the deeper one on a tie
        probe = max(probes, key=lambda p: (sum(i in p[0] for i in iset.ids), p[1]), default=None)
        entry.update(probe_is(iset.ids, probe))
        out[ck.label] = entry
    return out


Probe = tuple[dict[str, tuple[int, int]], int, str]  # {doc id: (n, correct)}, depth n, source


def log_counts(sampled: SampleLog | None) -> Probe | None:
    if sampled is None or not sampled.docs:
        return None
    counts = {i: (d.n, d.n_correct) for i, d in sampled.docs.items()}
    return counts, min(n for n, _ in counts.values()), sampled.task


def record_counts(records: list[dict] | None) -> Probe | None:
    """{question_id: (n, correct)} of the run's `m1_test_samples.jsonl` (M1's samples on the test
    questions it fails greedily)."""
    if not records:
        return None
    counts: dict[str, tuple[int, int]] = {}
    for r in records:
        n, c = counts.get(str(r["question_id"]), (0, 0))
        counts[str(r["question_id"])] = (n + 1, c + int(bool(r["correct"])))
    return counts, min(n for n, _ in counts.values()), "the training run's m1_test_samples.jsonl"


def probe_is(ids: tuple[str, ...], probe: Probe | None) -> dict:
    """M1's unbiased pass@k on the IS docs the probe holds, and the share it never solves
    (Clopper-Pearson interval)."""
    if probe is None:
        return {"m1_pass_at_k": None, "n_probed": 0,
                "note": "no IS probe: M1 has no log with several samples per doc (a passn log or repeats)"}
    counts, _, source = probe
    docs = [counts[i] for i in ids if i in counts]
    if not docs:
        return {"m1_pass_at_k": {}, "n_probed": 0, "m1_unsolved_within_n": None, "probe": source,
                "note": "empty improvement set" if not ids else "no IS problem in M1's samples"}
    n = min(d for d, _ in docs)
    curve = {k: float(np.mean([metrics.pass_at_k(d, c, k) for d, c in docs])) for k in range(1, n + 1)}
    unsolved = sum(c == 0 for _, c in docs)
    lo, hi = clopper_pearson(unsolved, len(docs))
    return {
        "n_samples": n,
        "n_probed": len(docs),
        "n_unsolved": int(unsolved),
        "probe": source,
        "m1_pass_at_k": curve,
        "m1_unsolved_within_n": {"value": unsolved / len(docs), "ci": [lo, hi], "ci_method": "Clopper-Pearson"},
    }


def coverage_advice(sampled: SampleLog | None, split: str = "test") -> dict | None:
    """M1's avg@n over the problems of its sampled log and the paper's method advice."""
    if sampled is None or not sampled.docs:
        return None
    n = sampled.n_samples
    docs = [d for d in sampled.docs.values() if d.n == n]
    return advice(float(metrics.coverage([d.n_correct for d in docs], n)), n, len(docs), sampled.task, split)


def train_coverage(records: list[dict]) -> dict | None:
    """M1's coverage on training questions, from the run's own round-2 samples (the paper's split)."""
    by_q: dict[str, list[bool]] = {}
    for r in records:
        by_q.setdefault(str(r["question_id"]), []).append(bool(r["correct"]))
    if not by_q:
        return None
    n = min(len(v) for v in by_q.values())
    value = float(metrics.coverage([sum(v[:n]) for v in by_q.values()], n))
    return advice(value, n, len(by_q), "the training run's round-2 samples", "train")


def advice(value: float, n: int, n_docs: int, task: str, split: str) -> dict:
    if value > COVERAGE_THRESHOLD:
        text = f"coverage {value:.3f} > {COVERAGE_THRESHOLD}: use Iterative DPO or SFT-DPO (enough correct/incorrect pairs)"
    else:
        text = f"coverage {value:.3f} <= {COVERAGE_THRESHOLD}: use Iterative SFT (too few correct samples for pairs)"
    return {"value": value, "n_samples": n, "n_docs": n_docs, "task": task, "split": split,
            "recommended": "dpo" if value > COVERAGE_THRESHOLD else "sft", "advice": text}


def pooled_ood(m1: Checkpoint, series: dict, per_ck: dict, ood: list[str]) -> dict:
    """Per method: last − M1 pass@1 pooled over every OOD dataset (a summary line, not a verdict)."""
    out = {}
    for method, cks in series.items():
        pairs = [(per_ck[m1.label].get(d), per_ck[cks[-1].label].get(d)) for d in ood]
        pairs = [(a.greedy, b.greedy) for a, b in pairs if a and b and a.greedy and b.greedy]
        if cks[-1] is m1 or not pairs:
            continue
        tr = [compare_logs(a, b).transitions() for a, b in pairs]
        est = paired_diff_agresti_min(*(sum(t[k] for t in tr) for k in ("both", "newly_forgotten", "newly_solved", "neither")))
        out[method] = {"last": cks[-1].label, "datasets": ood, "ci_method": "Agresti-Min", **est.to_dict()}
    return out


def json_ready(obj):
    """Drop `_`-prefixed keys (per-question arrays kept for verdicts) and turn NaN into null."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
