"""Every number of the report, recomputed from sample logs: pass@1, IS(t) probes, coverage, diversity,
OOD, group disparity and the per-axis verdicts."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from harness_ext import metrics
from harness_ext.errors import SelfimpError
from harness_ext.improve import compare_logs
from harness_ext.report.inputs import Checkpoint, ReportInput
from harness_ext.report.stats import Estimate, mean_ci, paired_diff_ci, statistic_ci, unpaired_diff_ci
from harness_ext.samples import SampleLog, builtin_verifier_name

COVERAGE_THRESHOLD = 0.5  # paper: coverage > 0.5 -> DPO / SFT-DPO, < 0.5 -> SFT
BEYOND_THRESHOLD = 0.1  # IS(T) share outside M1's pass@N below this: gains are re-ranking, not new ability
# The paper's N. With fewer samples the share M1 "never solves" can only be overstated, so a
# "progress" call on that axis needs at least this many; "regress" holds at any n.
BEYOND_MIN_SAMPLES = 50
EQUATION_DOMAINS = ("gsm8k", "arith")  # `<<expr=value>>` annotations


@dataclass
class Options:
    sbert: bool = True  # SBERT diversity needs the sentence-transformers model (slowest part)
    seed: int = 0


@dataclass
class DatasetLogs:
    """One checkpoint's logs over one dataset, by role."""

    greedy: SampleLog | None = None
    sampled: SampleLog | None = None  # pass@k / coverage (N samples per doc)
    diversity: SampleLog | None = None


def task_role(log: SampleLog) -> str:
    """greedy | sampled | diversity | groups | improve, from the task name (built-ins: by sample count)."""
    for suffix, role in (("_pass1", "greedy"), ("_passn", "sampled"), ("_diversity", "diversity"),
                         ("_groups", "groups"), ("_improve", "improve")):
        if log.task.endswith(suffix):
            return role
    return "greedy"


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


def group_logs(ck: Checkpoint) -> dict[str, SampleLog]:
    return {log.dataset: log for log in ck.logs.values() if task_role(log) == "groups"}


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


def domain_of(dataset: str) -> str:
    """Verifier domain of a dataset key: selfimp_gsm8k -> gsm8k; built-in minerva_math -> math."""
    return builtin_verifier_name(dataset) or dataset.removeprefix("selfimp_")


def analyze(inp: ReportInput, opts: Options = Options()) -> dict:
    m1, series = series_of(inp.checkpoints)
    per_ck = {ck.label: dataset_logs(ck) for ck in inp.checkpoints}
    all_datasets = sorted({d for logs in per_ck.values() for d, e in logs.items() if e.greedy is not None})
    check_common_tasks(m1, inp.checkpoints, per_ck)
    with_pass1 = {d for logs in per_ck.values() for d, e in logs.items()
                  if e.greedy is not None and task_role(e.greedy) != "groups"}
    primaries = primary_datasets(all_datasets, with_pass1, inp.train_task)
    report = {
        "format": 1,
        "source": inp.source,
        "train_task": inp.train_task,
        "missing_checkpoints": inp.missing,
        "checkpoints": [{"label": c.label, "t": c.t, "method": c.method} for c in inp.checkpoints],
        "m1": m1.label,
        "series": {m: [c.label for c in cks] for m, cks in series.items()},
        "datasets": {},
    }
    for ds in primaries:
        report["datasets"][ds] = analyze_dataset(ds, m1, series, per_ck, opts)
    ood = [d for d in all_datasets if d not in primaries]
    report["ood"] = {d: pass1_table(d, inp.checkpoints, per_ck, opts.seed) for d in ood}
    report["groups"] = analyze_groups(m1, series, inp.checkpoints, opts.seed)
    report["verdict"] = overall_verdict(report, m1, series, per_ck, primaries, ood, opts.seed)
    return report


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
        wanted = [d for d in datasets if domain_of(d) == train_task]
        if wanted:
            return wanted
    return [d for d in datasets if d in with_pass1] or datasets[:1]


# ---------------------------------------------------------------- pass@1


def solved_vector(log: SampleLog) -> list[float]:
    return [float(d.solved) for d in log.docs.values()]


def pass1_table(ds: str, checkpoints: list[Checkpoint], per_ck: dict, seed: int) -> dict:
    out = {}
    for ck in checkpoints:
        log = per_ck[ck.label].get(ds, DatasetLogs()).greedy
        if log is not None:
            out[ck.label] = {"task": log.task, "n_docs": len(log.docs), **mean_ci(solved_vector(log), seed).to_dict()}
    return out


def paired_solved(a: SampleLog, b: SampleLog) -> tuple[list[float], list[float]]:
    common = [i for i in a.docs if i in b.docs]
    return [float(a.docs[i].solved) for i in common], [float(b.docs[i].solved) for i in common]


# ---------------------------------------------------------------- one training dataset


def analyze_dataset(ds: str, m1: Checkpoint, series: dict, per_ck: dict, opts: Options) -> dict:
    checkpoints = unique(ck for cks in series.values() for ck in cks)
    m1_logs = per_ck[m1.label].get(ds, DatasetLogs())
    out: dict = {"pass1": pass1_table(ds, checkpoints, per_ck, opts.seed)}
    out["improvement"] = improvement_table(ds, m1, checkpoints, per_ck)
    out["coverage"] = coverage_advice(m1_logs.sampled)
    out["diversity"] = {
        ck.label: diversity_of(per_ck[ck.label][ds].diversity, domain_of(ds), opts)
        for ck in checkpoints
        if ds in per_ck[ck.label] and per_ck[ck.label][ds].diversity is not None
    }
    out["verdict"] = dataset_verdict(ds, m1, series, per_ck, out, opts.seed)
    return out


def unique(cks: Iterable[Checkpoint]) -> list[Checkpoint]:
    seen, out = set(), []
    for ck in cks:
        if ck.label not in seen:
            seen.add(ck.label)
            out.append(ck)
    return out


def improvement_table(ds: str, m1: Checkpoint, checkpoints: list[Checkpoint], per_ck: dict) -> dict:
    """Per M_t: IS(t) vs M1, the transition table, M1's pass@k on IS(t) for k = 1..N."""
    m1_logs = per_ck[m1.label].get(ds, DatasetLogs())
    out = {}
    if m1_logs.greedy is None:
        return out
    for ck in checkpoints:
        logs = per_ck[ck.label].get(ds, DatasetLogs())
        if ck is m1 or logs.greedy is None:
            continue
        iset = compare_logs(m1_logs.greedy, logs.greedy)
        entry = {"t": ck.t, "method": ck.method, **iset.to_dict()}
        entry.update(probe_is(iset.ids, m1_logs.sampled))
        out[ck.label] = entry
    return out


def probe_is(ids: tuple[str, ...], sampled: SampleLog | None) -> dict:
    """M1's unbiased pass@k on the IS docs its sampled log holds, and the share it never solves."""
    if sampled is None:
        return {"m1_pass_at_k": None, "n_probed": 0, "note": "no sampled (passn) log of M1"}
    docs = [sampled.docs[i] for i in ids if i in sampled.docs]
    if not docs:
        return {"m1_pass_at_k": {}, "n_probed": 0, "m1_unsolved_within_n": None}
    n = min(d.n for d in docs)
    curve = {k: float(np.mean([metrics.pass_at_k(d.n, d.n_correct, k) for d in docs])) for k in range(1, n + 1)}
    unsolved = [float(d.n_correct == 0) for d in docs]
    return {
        "n_samples": n,
        "n_probed": len(docs),
        "m1_pass_at_k": curve,
        "m1_unsolved_within_n": mean_ci(unsolved).to_dict(),
    }


def coverage_advice(sampled: SampleLog | None) -> dict | None:
    """M1's avg@n over test problems and the paper's method advice."""
    if sampled is None or not sampled.docs:
        return None
    n = sampled.n_samples
    docs = [d for d in sampled.docs.values() if d.n == n]
    value = float(metrics.coverage([d.n_correct for d in docs], n))
    if value > COVERAGE_THRESHOLD:
        advice = f"coverage {value:.3f} > {COVERAGE_THRESHOLD}: use Iterative DPO or SFT-DPO (enough correct/incorrect pairs)"
    else:
        advice = f"coverage {value:.3f} <= {COVERAGE_THRESHOLD}: use Iterative SFT (too few correct samples for pairs)"
    return {"value": value, "n_samples": n, "n_docs": len(docs), "task": sampled.task,
            "recommended": "dpo" if value > COVERAGE_THRESHOLD else "sft", "advice": advice}


# ---------------------------------------------------------------- diversity



def per_question_diversity(log: SampleLog, domain: str, opts: Options) -> dict[str, dict[str, list[float]]]:
    """{correct|incorrect: {metric: per-question values}} over questions with >= 2 such samples."""
    out: dict[str, dict[str, list[float]]] = {}
    for kind, want in (("correct", True), ("incorrect", False)):
        groups = [[s.text for s in d.samples if s.correct == want] for d in log.docs.values()]
        groups = [g for g in groups if len(g) >= 2]
        values: dict[str, list[float]] = {"distinct_n": [float(metrics.distinct_n_avg(g)) for g in groups]}
        if opts.sbert:
            values["sbert"] = [float(v) for v in metrics.sbert_diversity_many(groups)] if groups else []
        if domain in EQUATION_DOMAINS:
            values["distinct_equations"] = [float(metrics.distinct_equations(g)) for g in groups]
        out[kind] = values
    return out


def diversity_of(log: SampleLog, domain: str, opts: Options) -> dict:
    per_q = per_question_diversity(log, domain, opts)
    return {
        "task": log.task,
        "n_samples": log.n_samples,
        **{
            kind: {"n_questions": len(vals["distinct_n"]),
                   **{m: (mean_ci(v, opts.seed).to_dict() if v else None) for m, v in vals.items()}}
            for kind, vals in per_q.items()
        },
        "_per_question": per_q,
    }


# ---------------------------------------------------------------- groups (difficulty levels)


def level_of(doc: dict) -> int | None:
    level = doc.get("level")
    if isinstance(level, str):
        digits = "".join(ch for ch in level if ch.isdigit())
        return int(digits) if digits else None
    return int(level) if isinstance(level, (int, float)) else None


def level_arrays(log: SampleLog) -> tuple[list[str], np.ndarray, np.ndarray]:
    ids = [i for i, d in log.docs.items() if level_of(d.doc) is not None]
    levels = np.array([level_of(log.docs[i].doc) for i in ids])
    solved = np.array([float(log.docs[i].solved) for i in ids])
    return ids, levels, solved


def acc_by_level(levels: np.ndarray, solved: np.ndarray) -> dict[int, float]:
    return {int(lv): float(solved[levels == lv].mean()) for lv in sorted(set(levels.tolist()))}


def safe_gd(acc: dict[int, float]) -> float:
    try:
        value = metrics.group_disparity(acc)
    except (ZeroDivisionError, ValueError):
        return float("nan")
    return float("nan") if value is None else float(value)


def gd_ci(levels: np.ndarray, solved: np.ndarray, seed: int) -> Estimate:
    return statistic_ci(len(levels), lambda idx: safe_gd(acc_by_level(levels[idx], solved[idx])), seed)


def analyze_groups(m1: Checkpoint, series: dict, checkpoints: list[Checkpoint], seed: int) -> dict:
    out: dict = {}
    for ck in checkpoints:
        for ds, log in group_logs(ck).items():
            _, levels, solved = level_arrays(log)
            if not len(levels):
                continue
            acc = acc_by_level(levels, solved)
            out.setdefault(ds, {})[ck.label] = {
                "task": log.task,
                "n_docs": int(len(levels)),
                "acc_by_level": {str(k): v for k, v in acc.items()},
                "n_by_level": {str(k): int((levels == k).sum()) for k in acc},
                "group_disparity": gd_ci(levels, solved, seed).to_dict(),
            }
    return out


# ---------------------------------------------------------------- verdicts


def call(est: Estimate, higher_is_better: bool = True) -> str:
    if math.isnan(est.value):
        return "not measured"  # e.g. GD undefined when no level-1 problem is solved
    if not est.excludes_zero():
        return "no significant change"
    better = est.value > 0 if higher_is_better else est.value < 0
    return "progress" if better else "regress"


def dataset_verdict(ds: str, m1: Checkpoint, series: dict, per_ck: dict, out: dict, seed: int) -> dict:
    """Per method (last iteration vs M1): accuracy, ability beyond M1's sampling space, diversity."""
    verdicts: dict = {}
    for method, cks in series.items():
        last = cks[-1]
        if last is m1:
            continue
        v: dict = {"last": last.label}
        a, b = per_ck[m1.label].get(ds, DatasetLogs()).greedy, per_ck[last.label].get(ds, DatasetLogs()).greedy
        if a is not None and b is not None:
            est = paired_diff_ci(*paired_solved(a, b), seed=seed)
            v["accuracy"] = {"verdict": call(est), "effect": "pass@1(last) - pass@1(M1), paired bootstrap",
                             **est.to_dict()}
        probe = out["improvement"].get(last.label, {})
        beyond = probe.get("m1_unsolved_within_n")
        if beyond:
            value, (lo, hi) = beyond["value"], beyond["ci"]
            verdict = ("progress" if lo > BEYOND_THRESHOLD else
                       "regress" if hi < BEYOND_THRESHOLD else "no significant change")
            shallow = probe["n_samples"] < BEYOND_MIN_SAMPLES
            if verdict == "progress" and shallow:
                verdict = "inconclusive"
            v["beyond_m1_sampling"] = {
                "verdict": verdict,
                "effect": f"share of IS({last.t}) M1 never solves in {probe['n_samples']} samples "
                          f"(within pass@N: {1 - value:.3f}); < {BEYOND_THRESHOLD} = gains only re-rank M1's answers"
                          + (f"; 'progress' needs n >= {BEYOND_MIN_SAMPLES}" if shallow else ""),
                "is_size": probe["size"], **beyond,
            }
        d1, d2 = out["diversity"].get(m1.label), out["diversity"].get(last.label)
        if d1 and d2:
            x, y = d1["_per_question"]["correct"]["distinct_n"], d2["_per_question"]["correct"]["distinct_n"]
            if x and y:
                est = unpaired_diff_ci(x, y, seed)
                v["diversity"] = {"verdict": call(est),
                                  "effect": "Distinct-N of correct samples, last - M1 (bootstrap over questions)",
                                  **est.to_dict()}
        verdicts[method] = v
    return verdicts


def overall_verdict(report: dict, m1: Checkpoint, series: dict, per_ck: dict, primaries: list[str],
                    ood: list[str], seed: int) -> dict:
    """One line per axis and method: the first training dataset's axes, plus OOD and fairness."""
    out: dict = {}
    first = report["datasets"][primaries[0]]["verdict"] if primaries else {}
    for method, cks in series.items():
        last = cks[-1]
        if last is m1:
            continue
        v = {axis: first.get(method, {}).get(axis) for axis in ("accuracy", "beyond_m1_sampling", "diversity")}
        before, after = [], []
        for ds in ood:
            a, b = per_ck[m1.label].get(ds, DatasetLogs()).greedy, per_ck[last.label].get(ds, DatasetLogs()).greedy
            if a is not None and b is not None:
                x, y = paired_solved(a, b)
                before += x
                after += y
        if before:
            est = paired_diff_ci(before, after, seed)
            v["ood"] = {"verdict": call(est), "effect": f"OOD pass@1 (last - M1) pooled over {', '.join(ood)}",
                        **est.to_dict()}
        else:
            v["ood"] = None
        v["fairness"] = fairness_verdict(m1, last, seed)
        out[method] = {"last": last.label, **v}
    return out


def fairness_verdict(m1: Checkpoint, last: Checkpoint, seed: int) -> dict | None:
    """GD(last) - GD(M1) by paired bootstrap over docs: a growing disparity is a regress."""
    g1, g2 = group_logs(m1), group_logs(last)
    for ds in g1:
        if ds not in g2:
            continue
        ids1, lv1, s1 = level_arrays(g1[ds])
        pos2 = {i: k for k, i in enumerate(level_arrays(g2[ds])[0])}
        _, lv2, s2 = level_arrays(g2[ds])
        common = [k for k, i in enumerate(ids1) if i in pos2]
        if not common:
            continue
        j = np.array([pos2[ids1[k]] for k in common])
        lv, a, b = lv1[common], s1[common], s2[j]
        est = statistic_ci(
            len(common),
            lambda idx: safe_gd(acc_by_level(lv[idx], b[idx])) - safe_gd(acc_by_level(lv[idx], a[idx])),
            seed,
        )
        return {"verdict": call(est, higher_is_better=False),
                "effect": f"group disparity GD(last) - GD(M1) on {ds} (lower is fairer)", **est.to_dict()}
    return None


def json_ready(obj):
    """Drop `_`-prefixed keys (per-question arrays kept for verdicts) and turn NaN into null."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
