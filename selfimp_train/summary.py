"""The run's summary, recomputed from the files in the run dir: per model greedy pass@1,
coverage / correct samples / Distinct-N of the samples drawn from it, and the paper's
improvement-set check (M1's pass@k on IS(t), the test questions M_t solves and M1 does not)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness_ext.data import load_rows
from harness_ext.improve import compare_solved
from harness_ext.io import atomic_write_json, read_jsonl
from harness_ext.metrics import pass_at_k, problem_diversity, problem_mean
from harness_ext.report.mechanisms import level_coverage, question_levels
from harness_ext.run_format import EVAL_RECORDS, M1_TEST_SAMPLES, SUMMARY, checkpoint_dir
from selfimp_train.config import TrainConfig
from selfimp_train.generation import generate_judged, sampling
from selfimp_train.pairs import group_by_question
from selfimp_train.task_loading import load_task



ROLLOUT_FIELDS = ("rollouts", "n_samples", "n_correct", "reward_mean", "mixed_reward_groups", "kl")


def correct_diversity(records: list[dict]) -> float | None:
    """Mean over questions of Distinct-N (n=1..5) of the correct samples (where defined: >= 2 texts)."""
    value, kept = problem_mean([problem_diversity("distinct_n", [r["completion"] for r in recs if r["correct"]])
                                for recs in group_by_question(records).values()])
    return value if kept else None


def greedy_solved(run_dir: Path, checkpoint: str) -> dict[str, bool]:
    return {r["question_id"]: r["correct"] for r in read_jsonl(run_dir / checkpoint / EVAL_RECORDS)}


def m1_test_samples(cfg: TrainConfig, run_dir: Path, question_ids: list[str]) -> list[dict]:
    """`cfg.is_samples` samples from M1 per test question of `question_ids`, in the evaluation dtype.
    Cached in the run dir; questions the cache lacks (a run extended with more rounds) are sampled and added."""
    path = run_dir / M1_TEST_SAMPLES
    cached = read_jsonl(path) if path.is_file() else []
    have = {r["question_id"] for r in cached}
    missing = [qid for qid in question_ids if qid not in have]
    if not missing:
        return cached
    data = load_task(cfg)
    decoding = sampling(cfg, cfg.is_samples, seed=cfg.seed * 1000 + 1, dtype=data.eval.dtype)
    return generate_judged(cfg, data, run_dir / checkpoint_dir(1), missing, decoding, path, before=cached)


def improvement_check(cfg: TrainConfig, run_dir: Path, iterations: list[dict]) -> dict[str, dict[str, Any]]:
    """Per model M_t (t >= 2): |IS(t)| and M1's pass@k on IS(t) for k = 1, sqrt(N'), N'. M1 is probed
    on the union of the IS(t) only: a few hundred questions, however large the test split."""
    m1 = greedy_solved(run_dir, checkpoint_dir(1))
    later = [it for it in iterations if it["t"] >= 2]
    sets = {it["label"]: compare_solved(m1, greedy_solved(run_dir, it["checkpoint"])).ids for it in later}
    union = sorted({qid for ids in sets.values() for qid in ids})
    records = m1_test_samples(cfg, run_dir, union) if union else []
    correct = {qid: sum(r["correct"] for r in recs) for qid, recs in group_by_question(records).items()}
    n = cfg.is_samples
    ks = sorted({1, max(1, round(math.sqrt(n))), n})
    return {label: {"is_size": len(ids),
                    **{f"m1_pass@{k}": (sum(pass_at_k(n, correct[q], k) for q in ids) / len(ids) if ids else None)
                       for k in ks}}
            for label, ids in sets.items()}


def summarize(cfg: TrainConfig, manifest: dict) -> dict[str, Any]:
    """Per model: pass@1 and stats of the samples it produced; written to <run>/summary.json."""
    run_dir = cfg.run_dir
    iterations = sorted(manifest["iterations"], key=lambda r: (r["method"] != cfg.method, r["method"], r["t"]))
    rows = []
    for it in iterations:
        row = {"label": it["label"], "t": it["t"], "method": it["method"], "update": it["update"],
               "pass@1": it["eval"].get("pass@1")}
        if it.get("rollouts"):  # an online round: what it drew while training, and its trainer's metrics
            row["rollouts"] = {k: it.get(k) for k in ROLLOUT_FIELDS}
        rows.append(row)
    by_label = {r["label"]: r for r in rows}
    levels, kind = question_levels(cfg.task, load_rows(cfg.task, "train", cfg.data_dir))
    summary: dict[str, Any] = {"run": str(run_dir), "task": cfg.task, "method": cfg.method, "models": rows,
                               "levels": kind, "coverage_by_level": {}}
    for it in iterations:
        source = it["samples"] or it.get("rollouts")
        if not source:
            continue
        records = read_jsonl(run_dir / source)
        per_level = level_coverage(group_by_question(records), levels)
        summary["coverage_by_level"][it["label"]] = {
            "candidates": source, "levels": {str(lv): [e["covered"], e["n_questions"]] for lv, e in per_level.items()}}
        # Round t's samples come from M_{t-1}: report them on the parent's row.
        if it["samples"] and it["parent"] in by_label:
            parent = by_label[it["parent"]]
            parent.setdefault("samples_of", {})
            parent["samples_of"][it["samples"]] = {
                "coverage": it["coverage"], "n_correct": it["n_correct"], "n_samples": it["n_samples"],
                "distinct_n_correct": correct_diversity(records),
            }
    evaluated = all(it["eval"] for it in iterations)
    if cfg.is_samples > 0 and evaluated and len(iterations) > 1:
        summary["improvement_sets"] = improvement_check(cfg, run_dir, iterations)
    atomic_write_json(run_dir / SUMMARY, summary)
    return summary


def _fmt(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\nsummary of {summary['run']} ({summary['task']}, {summary['method']})")
    print(f"{'model':<12} {'update':<9} {'pass@1':>7} {'cover.':>7} {'#correct':>9} {'distinct':>9}")
    for row in summary["models"]:
        children = list(row.get("samples_of", {}).values()) or [{}]
        for s in children:
            print(f"{row['label']:<12} {row['update']:<9} {_fmt(row['pass@1']):>7} {_fmt(s.get('coverage')):>7} "
                  f"{_fmt(s.get('n_correct')):>9} {_fmt(s.get('distinct_n_correct')):>9}")
    print("(cover., #correct, distinct: the model's samples on training questions, which train its child;"
          " distinct = Distinct-N of correct samples)")
    online = [row for row in summary["models"] if "rollouts" in row]
    if online:
        print("\nOnline rounds (GRPO): the completions each drew while training, and its trainer's logged metrics:")
        for row in online:
            r = row["rollouts"]
            print(f"  {row['label']:<12} {r['n_correct']}/{r['n_samples']} correct  reward mean={_fmt(r['reward_mean'])}"
                  f"  mixed groups={_fmt(r['mixed_reward_groups'])}  KL={_fmt(r['kl'], 4)}")
    if summary.get("coverage_by_level"):
        print(f"\nTail narrowing: per round (the candidates that train the model named), training questions with "
              f">= 1 correct candidate per level ({summary['levels']}):")
        for label, row in summary["coverage_by_level"].items():
            cells = "  ".join(f"L{lv} {k}/{n}={k / n:.2f}" for lv, (k, n) in row["levels"].items())
            print(f"  {label:<12} {row['candidates']:<24} {cells}")
    if "improvement_sets" in summary:
        print("\nM1's pass@k on the improvement set IS(t) (test questions M_t solves greedily and M1 does not):")
        for label, s in summary["improvement_sets"].items():
            ks = "  ".join(f"{k.removeprefix('m1_')}={_fmt(v)}" for k, v in s.items() if k != "is_size")
            print(f"  {label:<12} |IS|={s['is_size']:<4} {ks}")
