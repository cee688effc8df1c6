"""`selfimp-report --report_to`: the report's numbers where a TRL user's training curves already go —
TensorBoard event files under the output dir (`<out>/tensorboard/`), or a Weights & Biases or Trackio
run (project `selfimp-report`). Scalars: each method's pass@1 per checkpoint on every primary and OOD
dataset, at step t (M1 = 1); the verdict table goes along as text (TensorBoard) or summary (W&B)."""
from __future__ import annotations

import importlib.util
import math
from collections import defaultdict
from pathlib import Path

from harness_ext.errors import SelfimpError

REPORT_TO = ("none", "tensorboard", "wandb", "trackio")
PROJECT = "selfimp-report"


def check_report_to(report_to: list[str]) -> None:
    """Every value is one of REPORT_TO and its package is installed (checked before any analysis)."""
    for value in report_to:
        if value not in REPORT_TO:
            raise SelfimpError(f"--report_to: unknown value {value!r} (choose from {', '.join(REPORT_TO)})")
    missing = [v for v in report_to if v != "none" and importlib.util.find_spec(v) is None]
    if missing:
        raise SelfimpError(f"--report_to: {', '.join(missing)} not installed (pip install {' '.join(missing)})")


def scalars(report: dict) -> list[tuple[str, int, float]]:
    """(tag, step t, value): `pass1/<dataset>/<method>` and `ood_pass1/<dataset>/<method>` for each
    checkpoint of each method's series with a defined pass@1."""
    t_of = {c["label"]: c["t"] for c in report["checkpoints"]}
    tables = {**{("pass1", ds): d["pass1"] for ds, d in report["datasets"].items()},
              **{("ood_pass1", ds): table for ds, table in report.get("ood", {}).items()}}
    out = []
    for method, labels in report["series"].items():
        for (kind, ds), table in tables.items():
            for label in labels:
                value = table.get(label, {}).get("value")
                if value is not None and math.isfinite(value):
                    out.append((f"{kind}/{ds}/{method}", t_of[label], float(value)))
    return out


def verdict_rows(report: dict) -> dict[str, str]:
    """`verdict/<axis>/<dataset>/<method>` -> the word with its Holm-adjusted p."""
    return {f"verdict/{v['axis']}/{v['dataset']}/{v['method']}":
            f"{v['verdict']}" + ("" if v.get("p_adjusted") is None else f" (Holm p {v['p_adjusted']:.3g})")
            for v in report["verdicts"]}


def log_report(report: dict, report_to: list[str], out: Path) -> None:
    """Send the report's scalars and verdicts to every logger of `report_to`."""
    points, verdicts = scalars(report), verdict_rows(report)
    if "tensorboard" in report_to:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(out / "tensorboard")) as writer:
            for tag, step, value in points:
                writer.add_scalar(tag, value, step)
            writer.add_text("verdicts", "\n".join(f"- {k}: {w}" for k, w in verdicts.items()))
    by_step: dict[int, dict[str, float]] = defaultdict(dict)
    for tag, step, value in points:
        by_step[step][tag] = value
    for name in ("wandb", "trackio"):
        if name in report_to:
            module = __import__(name)
            run = module.init(project=PROJECT, config={"source": report.get("source")})
            for step in sorted(by_step):
                module.log(by_step[step], step=step)
            if hasattr(run, "summary"):
                run.summary.update(verdicts)
            module.finish()
