"""The run directory's `manifest.json` (format in docs/architecture.md): creation, resume
checks, and atomic per-iteration updates. An iteration counts only once its status is complete."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting
from harness_ext.io import atomic_write_json, check_output_dir, read_json
from harness_ext.run_format import MANIFEST
from harness_ext.run_format import MANIFEST_FORMAT as FORMAT
from selfimp_train.config import RESUME_FREE_FIELDS, TrainConfig


def versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers."""
    out = {}
    for dist in ("torch", "transformers", "trl", "peft", "selfimp"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = (set(old) | set(new)) - set(RESUME_FREE_FIELDS)
    return sorted(k for k in keys if old.get(k) != new.get(k))


def check_run_dir(cfg: TrainConfig, eval_setting: EvalSetting) -> dict[str, Any] | None:
    """Refuse a bad `--out` before anything runs: a file, a used dir without `--resume`, or a `--resume`
    dir without a manifest of this config and evaluation setting. Returns the manifest to resume
    (None: a new run); writes nothing."""
    run_dir = cfg.run_dir
    check_output_dir(run_dir)
    if not (run_dir.is_dir() and any(run_dir.iterdir())):
        return None
    if not cfg.resume:
        raise SelfimpError(f"--out: {run_dir} already exists; pass --resume to continue it or choose another --out")
    path = run_dir / MANIFEST
    if not path.is_file():
        raise SelfimpError(f"--resume: {run_dir} has no {MANIFEST}; it is not a selfimp-train run directory")
    manifest = read_json(path)
    check_manifest(manifest, path)
    changed = _config_differences(manifest["config"], cfg.to_dict())
    if changed:
        detail = ", ".join(f"{k}: {manifest['config'].get(k)!r} -> {getattr(cfg, k, None)!r}" for k in changed)
        raise SelfimpError(f"--resume: config differs from the run in {run_dir} ({detail})")
    recorded = manifest.get("eval_setting")
    if recorded is None or EvalSetting.from_dict(recorded, str(path)) != eval_setting:
        raise SelfimpError(f"--resume: {path}: field 'eval_setting' differs from this run's "
                           f"({manifest.get('eval_setting')!r} -> {eval_setting.to_dict()!r})")
    return manifest


def check_manifest(manifest: Any, path: Path) -> None:
    """The fields `--resume` reads, with the types selfimp-train writes."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SelfimpError(f"{path}: not a format-{FORMAT} selfimp-train manifest")
    if not isinstance(manifest.get("config"), dict):
        raise SelfimpError(f"{path}: field 'config' must be an object, got {manifest.get('config')!r:.80}")
    records = manifest.get("iterations")
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("label"), str) and isinstance(r.get("status"), str)
            for r in records):
        raise SelfimpError(f"{path}: field 'iterations' must be a list of objects with a str 'label' and 'status'")
    samples = manifest.get("samples")
    if not isinstance(samples, dict) or not all(isinstance(v, dict) for v in samples.values()):
        raise SelfimpError(f"{path}: field 'samples' must be an object of sample-file records")


def open_manifest(cfg: TrainConfig, eval_setting: EvalSetting) -> dict[str, Any]:
    """A fresh manifest for a new run dir, or the existing one for `--resume` (config and
    evaluation setting must match)."""
    manifest = check_run_dir(cfg, eval_setting)
    if manifest is not None:
        manifest["config"] = cfg.to_dict()
        return manifest
    manifest = {
        "format": FORMAT,
        "name": cfg.run_name,
        "task": cfg.task,
        "method": cfg.method,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "versions": versions(),
        "eval_setting": eval_setting.to_dict(),
        "samples": {},
        "iterations": [],
    }
    save(cfg.run_dir, manifest)
    return manifest


def save(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(run_dir / MANIFEST, manifest)


def completed(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    """The complete iteration record with this label, if any."""
    for record in manifest["iterations"]:
        if record["label"] == label and record["status"] == "complete":
            return record
    return None


def add_iteration(run_dir: Path, manifest: dict[str, Any], record: dict[str, Any]) -> None:
    """Mark an iteration complete (replacing any earlier record with its label) and save."""
    manifest["iterations"] = [r for r in manifest["iterations"] if r["label"] != record["label"]]
    manifest["iterations"].append({**record, "status": "complete"})
    save(run_dir, manifest)
