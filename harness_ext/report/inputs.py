"""Find the checkpoints and their sample logs behind a report: a sweep dir, a run dir or plain log dirs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness_ext.errors import SelfimpError
from harness_ext.report.lmeval_results import RunResults, read_run_results
from harness_ext.report.task_metrics import MetricOverride, apply_primary_metric
from harness_ext.run_format import (
    DEFAULT_SWEEP_SUBDIR,
    RunManifest,
    is_run_dir,
    is_sweep_dir,
    lm_eval_samples_file,
    read_m1_probe,
    read_sweep,
)
from harness_ext.samples import SampleLog, read_sample_logs


@dataclass
class Checkpoint:
    """One evaluated model: M1 has t == 1; `method` names its series (sft, dpo, sft-dpo, ...)."""

    label: str
    t: int
    method: str
    logs: dict[str, SampleLog]
    results: RunResults = field(default_factory=RunResults)  # its results_*.json: metrics, groups


@dataclass
class ReportInput:
    source: list[str]
    checkpoints: list[Checkpoint]
    train_task: str | None = None
    missing: list[str] = field(default_factory=list)  # sweep checkpoints with no logs yet
    train_samples: list[dict] | None = None  # the run's round-2 samples of M1 on training questions
    m1_probe: list[dict] | None = None  # the run's m1_test_samples.jsonl (M1's deep probe of test questions)
    trainer_comparison: dict | None = None  # sweep.json's: same evaluation setting as the trainer's?
    run_dir: Path | None = None  # the training run behind the sweep (its rounds: report.mechanisms)


def read_checkpoint(path: Path, label: str, t: int, method: str,
                    overrides: list[MetricOverride] = ()) -> Checkpoint:
    """One lm-eval output dir: its sample logs, each task's per-doc verdicts (our records, a
    verifier, or the task's primary metric) and its results files."""
    results = read_run_results(path)
    logs = read_sample_logs(path, unscored_ok=True)
    for log in logs.values():
        apply_primary_metric(log, results, list(overrides))
    return Checkpoint(label=label, t=t, method=method, logs=logs, results=results)


def check_doc_id_joins(checkpoints: list[Checkpoint]) -> None:
    """Logs without doc_hash join by doc_id only: the docs under one doc_id must then be the same."""
    first: dict[tuple[str, str], tuple[str, dict]] = {}
    for ck in checkpoints:
        for task, log in ck.logs.items():
            for key, record in log.docs.items():
                if record.doc_hash or not key.startswith("doc-"):
                    continue
                label, doc = first.setdefault((task, key), (ck.label, record.doc))
                if doc != record.doc:
                    raise SelfimpError(
                        f"{log.path}: doc_id {record.doc_id} of task {task!r} is another doc than in {label!r}: "
                        "logs without doc_hash join by doc_id, so both runs must hold the same docs in the same order")


def match_problems(checkpoints: list[Checkpoint], common_only: bool = False) -> dict[str, dict[str, int]]:
    """Every task logged by several checkpoints must hold the same problems in each: refused with the
    counts unless `common_only`, which keeps only the problems all of them hold (in place) and returns
    {task: {label: problems left out of its log}}."""
    left_out: dict[str, dict[str, int]] = {}
    for task in sorted({t for ck in checkpoints for t in ck.logs}):
        logs = {ck.label: ck.logs[task] for ck in checkpoints if task in ck.logs}
        ids = {label: set(log.docs) for label, log in logs.items()}
        shared = set.intersection(*ids.values())
        if len(logs) < 2 or all(len(v) == len(shared) for v in ids.values()):
            continue
        counts = ", ".join(f"{label!r} {len(v)} ({len(v - shared)} of them missing from another log)" for label, v in ids.items())
        if not common_only:
            raise SelfimpError(
                f"task {task!r}: the checkpoints' logs hold different problems: {counts}; {len(shared)} are in all. "
                f"Pass --common-problems to compare on those {len(shared)} (the report then says how many were left out)")
        for label, log in logs.items():
            log.docs = {i: d for i, d in log.docs.items() if i in shared}
        left_out[task] = {label: len(v - shared) for label, v in ids.items()}
    return left_out


def load_inputs(paths: list[str | Path], overrides: list[MetricOverride] = ()) -> ReportInput:
    """A sweep dir (sweep.json), a run dir (manifest.json + sweep/), or one log dir per checkpoint, M1 first."""
    if not paths:
        raise SelfimpError("no input: give a sweep dir, a run dir or sample-log dirs")
    if len(paths) == 1:
        path = Path(paths[0])
        if is_sweep_dir(path):
            return load_sweep(path, overrides)
        if is_run_dir(path):
            sweep = path / DEFAULT_SWEEP_SUBDIR
            if not is_sweep_dir(sweep):
                raise SelfimpError(f"{path}: training run with no sweep yet: run `selfimp-eval sweep {path}` first")
            inp = load_sweep(sweep, overrides)
            inp.train_samples = RunManifest.read(path).round_samples(2)  # M1's samples on training questions
            inp.m1_probe = read_m1_probe(path)
            return inp
    return load_log_dirs([Path(p) for p in paths], overrides=overrides)


def load_log_dirs(paths: list[Path], method: str = "run", overrides: list[MetricOverride] = ()) -> ReportInput:
    """Each path holds one checkpoint's lm-eval output; the first is the reference M1."""
    labels = [p.name or str(p) for p in paths]
    if len(set(labels)) != len(labels):
        labels = [str(p) for p in paths]
    checkpoints = [read_checkpoint(p, label, i, method, overrides) for i, (label, p) in enumerate(zip(labels, paths), 1)]
    check_doc_id_joins(checkpoints)
    return ReportInput(source=[str(p) for p in paths], checkpoints=checkpoints)


def load_sweep(sweep: Path, overrides: list[MetricOverride] = ()) -> ReportInput:
    meta = read_sweep(sweep)
    checkpoints, missing = [], []
    for entry in meta["checkpoints"]:
        out = sweep / entry["label"]
        if not out.is_dir() or not any(out.rglob(lm_eval_samples_file("*", "*"))):
            missing.append(entry["label"])
            continue
        method = entry.get("method") or "run"
        checkpoints.append(read_checkpoint(out, entry["label"], entry["t"], str(method), overrides))
    if not checkpoints:
        raise SelfimpError(f"{sweep}: no checkpoint of the sweep has sample logs yet")
    check_doc_id_joins(checkpoints)
    return ReportInput(
        source=[str(sweep)], checkpoints=checkpoints, train_task=meta.get("train_task"), missing=missing,
        trainer_comparison=meta.get("trainer_comparison"), run_dir=run_of_sweep(sweep, meta),
    )


def run_of_sweep(sweep: Path, meta: dict) -> Path | None:
    """The training run a sweep evaluated when the sweep lies inside it (`<run>/sweep`, the default)."""
    parent = sweep.resolve().parent
    return parent if is_run_dir(parent) and Path(str(meta.get("source"))).name == parent.name else None
