"""The checkpoints a sweep evaluates: a run's complete iterations, or checkpoints named on the command line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness_ext.errors import SelfimpError
from harness_ext.run_format import MANIFEST, RunManifest, is_dir_name


@dataclass(frozen=True)
class CheckpointSpec:
    """One checkpoint of a sweep: its output dir name, model dir or Hub id, t (M1 = 1) and method series."""

    label: str
    path: str
    t: int
    method: str


def run_checkpoints(run: RunManifest) -> list[CheckpointSpec]:
    """The complete iterations of a run."""
    specs = [CheckpointSpec(it.label, str(it.checkpoint), it.t, it.method) for it in run.iterations]
    if not specs:
        raise SelfimpError(f"{run.run_dir / MANIFEST}: no iteration with status 'complete' yet")
    return specs


def explicit_checkpoints(paths: list[str], labels: list[str] | None) -> list[CheckpointSpec]:
    """`--checkpoints` with their `--labels` (default: each directory's name), M1 first."""
    if labels is not None and len(labels) != len(paths):
        raise SelfimpError(f"--labels: {len(labels)} labels for {len(paths)} checkpoints")
    labels = labels or [Path(p).name or p.replace("/", "_") for p in paths]
    if len(set(labels)) != len(labels):
        raise SelfimpError(f"--labels: labels must be unique (got {', '.join(labels)}); pass --labels")
    for label in labels:
        if not is_dir_name(label):
            raise SelfimpError(f"--labels: {label!r} is not usable as a directory name")
    return [CheckpointSpec(lab, p, i, "run") for i, (lab, p) in enumerate(zip(labels, paths), 1)]


def is_hub_id(name: str) -> bool:
    """`org/name` as the Hugging Face Hub spells model ids (not a local path)."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~"))
