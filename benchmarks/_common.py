"""Shared by the benchmark scripts: the machine line, figure printing, timing, synthetic data."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The offline datasets: $SELFIMP_DATA_DIR, else <repo>/../shared/data."""
    return Path(os.environ.get("SELFIMP_DATA_DIR", REPO.parent / "shared" / "data"))


def offline_env() -> None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parse_bench_args(parser: argparse.ArgumentParser, quick: dict) -> argparse.Namespace:
    """Add the shared `--quick` / `--json` flags, parse, apply the `quick` sizes, go offline."""
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI (seconds)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(quick)
    offline_env()
    return args


def machine() -> str:
    """Cores, GPU (if any), load average and UTC time: to print beside every figure."""
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no GPU"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{os.cpu_count()} cores, {gpu}, load {load}, {when}"


@dataclass
class Report:
    """Figures of one benchmark run, printed as `name: value unit` after the command line."""

    title: str
    figures: list[tuple[str, float | str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        print(f"== {self.title}")
        print("command:", " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]))
        print("machine:", machine(), flush=True)

    def add(self, name: str, value: float | str, unit: str = "") -> None:
        self.figures.append((name, value, unit))
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"  {name}: {shown} {unit}".rstrip(), flush=True)

    def finish(self, json_path: str | None = None) -> None:
        print("machine at end:", machine())
        if json_path:
            from harness_ext.io import atomic_write_json

            atomic_write_json(Path(json_path), {
                "title": self.title, "command": sys.argv, "machine": machine(),
                "figures": {n: {"value": v, "unit": u} for n, v, u in self.figures}})


@contextmanager
def timed(into: dict, key: str):
    """Add the wall time of the block to `into[key]` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - start


def rows(name: str, split: str) -> list[dict]:
    """Normalised rows of a local dataset (harness_ext.data.load_rows on `data_dir()`)."""
    from harness_ext.data import load_rows

    return load_rows(name, split, data_dir())
