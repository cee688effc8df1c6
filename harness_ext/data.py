"""Load the rows of any registered dataset (`harness_ext.registry`) in the normalised schema of
docs/architecture.md.

Rows come from the Hugging Face Hub by default, or from a local directory in the layout of
`shared/data` (`<dir>/<dataset>/<split>.jsonl`) when `data_dir` or $SELFIMP_DATA_DIR is set.
Synthetic datasets (`arith`) are always generated. Parsed rows are cached per process.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.io import read_jsonl
from harness_ext.registry import DatasetSpec

DATA_DIR_ENV = "SELFIMP_DATA_DIR"


def _normalise(spec: DatasetSpec, split: str, raw: Iterable[dict], source: str) -> list[dict]:
    rows = []
    for i, r in enumerate(raw):
        try:
            if spec.keep is None or spec.keep(r):
                rows.append(spec.normalise(r, split, i))
        except (KeyError, TypeError, ValueError) as e:
            raise SelfimpError(f"{source}: row {i + 1}: missing or bad field {e}") from None
    return rows


def _load_local(spec: DatasetSpec, split: str, data_dir: Path, from_env: bool) -> list[dict]:
    rel = f"{spec.local_dir or spec.name}/{spec.file_split(split)}.jsonl"
    path = data_dir / rel
    if not path.is_file():
        how = f"${DATA_DIR_ENV}={data_dir}" if from_env else f"data_dir={data_dir}"
        raise SelfimpError(f"{path}: file not found (from {how}; expected the layout <dir>/{rel})")
    return _normalise(spec, split, read_jsonl(path), str(path))


def _load_hub(spec: DatasetSpec, split: str) -> list[dict]:
    import datasets

    hub_split = spec.file_split(split)
    try:
        raw: list[dict] = []
        for config in spec.hub_configs:
            part = datasets.load_dataset(spec.hub_id, config, split=hub_split)
            raw += [{**r, "_config": config, "_index": i} for i, r in enumerate(part)]
    except Exception as e:  # offline, missing, renamed: all mean the same to the user
        raise SelfimpError(f"could not load {spec.hub_id} ({split}) from the Hugging Face Hub: "
                           f"{type(e).__name__}: {e}. Set ${DATA_DIR_ENV} to a local copy "
                           f"(layout of shared/data)") from None
    return _normalise(spec, split, raw, f"{spec.hub_id}:{hub_split}")


def _check(name: str, split: str) -> DatasetSpec:
    spec = registry.get(name)
    if split not in spec.splits:
        raise SelfimpError(f"unknown split {split!r} of {name}; valid: {', '.join(spec.splits)}")
    return spec


@lru_cache(maxsize=None)
def _cached_rows(name: str, split: str, data_dir: str | None, from_env: bool) -> tuple[dict, ...]:
    spec = registry.get(name)
    if spec.generate is not None:
        return tuple(spec.generate(split))
    if data_dir is not None:
        return tuple(_load_local(spec, split, Path(data_dir), from_env))
    return tuple(_load_hub(spec, split))


def load_rows(name: str, split: str, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Normalised rows of one dataset split (each with a stable string `id`)."""
    _check(name, split)
    env = os.environ.get(DATA_DIR_ENV) or None
    chosen = data_dir if data_dir is not None else env
    resolved = str(Path(chosen).expanduser().resolve()) if chosen is not None else None
    rows = _cached_rows(name, split, resolved, data_dir is None and env is not None)
    return [dict(r) for r in rows]


def load_hf_dataset(name: str, split: str, data_dir: str | os.PathLike | None = None):
    """`load_rows` as a `datasets.Dataset` (for lm-eval's `custom_dataset`)."""
    import datasets

    return datasets.Dataset.from_list(load_rows(name, split, data_dir))
