"""The on-disk formats of a training run directory and of a sweep directory (docs/architecture.md):
file names, schema versions, readers and writers. `selfimp_train` writes runs, `harness_ext.sweep`
writes sweeps, `harness_ext.report` reads both; none of them spells a file name itself.

    runs/<name>/manifest.json                 MANIFEST (format MANIFEST_FORMAT)
    runs/<name>/[<method>/]iter_<t>/          checkpoint_dir(t, prefix)
        eval_greedy.jsonl, selfimp_iteration.json   EVAL_RECORDS, ITERATION_RECORD
    runs/<name>/[<method>/]samples_<t>.jsonl  samples_file(t, prefix)
    runs/<name>/[<method>/]rollouts_<t>.jsonl rollouts_file(t, prefix): an online update's (GRPO's) own samples
    runs/<name>/m1_test_samples.jsonl, summary.json  M1_TEST_SAMPLES, SUMMARY
    runs/<name>/tensorboard/<label>/          tensorboard_dir(label): --report_to tensorboard's event files
    <sweep>/sweep.json                        SWEEP_FILE (format SWEEP_FORMAT); default <run>/sweep
    <sweep>/<label>/<date>/results_<date>.json, samples_<task>_<date>.jsonl   lm-eval's own files
    <sweep>/<label>/.tmp-*/                   TMP_PREFIX: a checkpoint in progress (readers skip it)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting
from harness_ext.io import atomic_write_json, read_json, read_jsonl

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
EVAL_RECORDS = "eval_greedy.jsonl"  # greedy test completions of a checkpoint, with their prompts
ITERATION_RECORD = "selfimp_iteration.json"  # the iteration's manifest record, inside its checkpoint
TRAINER_GREEDY_MODEL = "TrainerGreedyLM"  # results_*.json config.model of greedy logs scored from EVAL_RECORDS
M1_TEST_SAMPLES = "m1_test_samples.jsonl"  # M1's samples on the test questions of the improvement sets
SUMMARY = "summary.json"  # what selfimp-train prints at the end
SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = 1
DEFAULT_SWEEP_SUBDIR = "sweep"  # default sweep dir of a run: runs/<name>/sweep (where selfimp-report looks)
TMP_PREFIX = ".tmp-"  # hidden: an evaluation in progress, renamed to <date>/ when complete


RESULTS_PREFIX = "results_"


def results_file(date: str) -> str:
    """lm-eval's aggregated results of one run (EvaluationTracker's name)."""
    return f"{RESULTS_PREFIX}{date}.json"


def lm_eval_samples_file(task: str, date: str) -> str:
    """lm-eval's sample log of one task of one run (EvaluationTracker's name)."""
    return f"samples_{task}_{date}.jsonl"


def checkpoint_dir(t: int, prefix: str = "") -> str:
    """`iter_<t>`, inside `<method>/` (prefix "<method>/") under `--method all`."""
    return f"{prefix}iter_{t}"


def samples_file(t: int, prefix: str = "") -> str:
    """`samples_<t>.jsonl`: round t's samples from M_{t-1}."""
    return f"{prefix}samples_{t}.jsonl"


def rollouts_file(t: int, prefix: str = "") -> str:
    """`rollouts_<t>.jsonl`: the completions an online update (GRPO) drew and judged while training M_t."""
    return f"{prefix}rollouts_{t}.jsonl"


def tensorboard_dir(label: str) -> str:
    """`tensorboard/<label>`: the event files of the trainer of model `label` (`--report_to tensorboard`)."""
    return f"tensorboard/{label}"


def is_run_dir(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def is_sweep_dir(path: Path) -> bool:
    return (path / SWEEP_FILE).is_file()


# ---------------------------------------------------------------- run directory
def read_manifest(run_dir: Path) -> dict[str, Any]:
    """A run's manifest.json as an object (field checks: the reader's own)."""
    path = run_dir / MANIFEST
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise SelfimpError(f"{path}: not a selfimp-train manifest (expected an object)")
    return manifest


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(run_dir / MANIFEST, manifest)


def read_m1_probe(run_dir: Path) -> list[dict] | None:
    """The run's m1_test_samples.jsonl (None: the run wrote none)."""
    path = run_dir / M1_TEST_SAMPLES
    return read_jsonl(path) if path.is_file() else None


@dataclass(frozen=True)
class RunIteration:
    """A complete iteration of a run: its label, checkpoint (absolute), t and method series."""

    label: str
    checkpoint: Path
    t: int
    method: str


@dataclass(frozen=True)
class RunManifest:
    """A run's manifest.json with the fields its readers (sweep, report) use, checked once."""

    run_dir: Path
    task: str
    model: str | None  # config.model: None is the embedded tiny model
    eval_setting: EvalSetting | None  # None: a run made before the setting was recorded
    iterations: tuple[RunIteration, ...]  # the complete ones, by (t, method)
    samples: dict[int, str]  # round t -> its samples file (relative), listed by any iteration

    @property
    def embedded(self) -> bool:
        return self.task == "arith" and self.model is None

    def round_samples(self, t: int) -> list[dict] | None:
        """The samples file of round t (None: the run lists none, or it is not on disk)."""
        path = self.run_dir / self.samples[t] if t in self.samples else None
        return read_jsonl(path) if path is not None and path.is_file() else None

    @classmethod
    def read(cls, run_dir: Path) -> RunManifest:
        manifest, where = read_manifest(run_dir), run_dir / MANIFEST
        if not isinstance(manifest.get("iterations"), list):
            raise SelfimpError(f"{where}: field 'iterations' must be a list")
        if not isinstance(manifest.get("task"), str):
            raise SelfimpError(f"{where}: field 'task' must be a task name")
        config = manifest.get("config", {})
        if not isinstance(config, dict):
            raise SelfimpError(f"{where}: field 'config' must be an object, got {config!r:.80}")
        iterations, samples = [], {}
        for i, it in enumerate(manifest["iterations"]):
            if isinstance(it, dict) and isinstance(it.get("t"), int) and it.get("samples"):
                samples.setdefault(it["t"], str(it["samples"]))
            if not isinstance(it, dict) or it.get("status") != "complete":
                continue
            for key, kind in (("label", str), ("checkpoint", str), ("t", int)):
                if not isinstance(it.get(key), kind):
                    raise SelfimpError(f"{where}: iterations[{i}].{key} must be a {kind.__name__}")
            if not is_dir_name(it["label"]):
                raise SelfimpError(f"{where}: iterations[{i}].label {it['label']!r} is not a directory name")
            iterations.append(RunIteration(it["label"], (run_dir / it["checkpoint"]).resolve(), it["t"],
                                           str(it.get("method") or manifest.get("method") or "run")))
        setting = EvalSetting.from_dict(manifest["eval_setting"], str(where)) if "eval_setting" in manifest else None
        return cls(run_dir=run_dir, task=manifest["task"], model=config.get("model"), eval_setting=setting,
                   iterations=tuple(sorted(iterations, key=lambda it: (it.t, it.method))), samples=samples)


# ---------------------------------------------------------------- sweep directory
def sweep_meta(source: str, train_task: str, checkpoints: list[dict], tasks: list[str], n: int | None,
               settings: dict, trainer_comparison: dict | None) -> dict[str, Any]:
    """The content of sweep.json."""
    return {"format": SWEEP_FORMAT, "source": source, "train_task": train_task, "checkpoints": checkpoints,
            "tasks": tasks, "n": n, "settings": settings, "trainer_comparison": trainer_comparison}


def read_sweep(sweep_dir: Path) -> dict[str, Any]:
    """sweep.json with the fields a report reads checked: `checkpoints` (label, t) and `trainer_comparison`."""
    where = sweep_dir / SWEEP_FILE
    meta = read_json(where)
    if not isinstance(meta, dict) or not isinstance(meta.get("checkpoints"), list):
        raise SelfimpError(f"{where}: field 'checkpoints' must be a list")
    for i, entry in enumerate(meta["checkpoints"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str) or not isinstance(entry.get("t"), int):
            raise SelfimpError(f"{where}: checkpoints[{i}] needs a str 'label' and an int 't'")
        if not is_dir_name(entry["label"]):
            raise SelfimpError(f"{where}: checkpoints[{i}].label {entry['label']!r} is not a directory name")
    comparison = meta.get("trainer_comparison")
    if comparison is not None and not isinstance(comparison, dict):
        raise SelfimpError(f"{where}: field 'trainer_comparison' must be an object or null")
    return meta


def read_sweep_settings(sweep_dir: Path) -> dict[str, Any] | None:
    """The `settings` of an existing sweep.json (None: no sweep there yet)."""
    path = sweep_dir / SWEEP_FILE
    if not path.is_file():
        return None
    old = read_json(path)
    if not isinstance(old, dict) or not isinstance(old.get("settings"), dict):
        raise SelfimpError(f"{path}: not a sweep.json of selfimp-eval sweep (no 'settings' object); use another --out")
    return old["settings"]


def write_sweep(sweep_dir: Path, meta: dict[str, Any]) -> None:
    atomic_write_json(sweep_dir / SWEEP_FILE, meta)


def is_dir_name(label: object) -> bool:
    """A checkpoint label names one visible directory inside the sweep dir: no path, no dot-name."""
    return isinstance(label, str) and bool(label) and not label.startswith(".") and not set(label) & set("/\\\0")
