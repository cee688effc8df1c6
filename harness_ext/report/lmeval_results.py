"""What lm-eval's `results_<date>.json` says about each task of a run: its declared metrics (the task
config's `metric_list`, in order), their direction (`higher_is_better`), its filters, and the group
structure (`group_subtasks`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness_ext.errors import SelfimpError
from harness_ext.io import read_json

RESULTS_FILE_RE = re.compile(r"^results_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.json$")
DEFAULT_TARGET_DELIMITER = " "  # lm-eval's TaskConfig default


@dataclass(frozen=True)
class TaskInfo:
    """One task as its results file declares it."""

    metrics: tuple[str, ...]  # metric_list order: the first is the task's primary metric
    higher_is_better: dict[str, bool]
    filters: tuple[str, ...]  # filter_list names, "none" when the task has none
    output_type: str | None
    target_delimiter: str
    source: Path


@dataclass
class RunResults:
    """Every results file of one lm-eval output dir, merged (newest file wins per task)."""

    tasks: dict[str, TaskInfo] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # group -> its subtasks and subgroups
    models: dict[str, str] = field(default_factory=dict)  # task -> the model that answered it (config.model)


def read_run_results(path: str | Path) -> RunResults:
    """The results files under `path` (a dir, recursive; hidden dirs skipped); none is no error
    (logs copied without them fall back to the default metric order)."""
    path = Path(path)
    out = RunResults()
    if not path.is_dir():
        return out
    files = []
    for f in path.rglob("results_*.json"):
        m = RESULTS_FILE_RE.match(f.name)
        if m and not any(part.startswith(".") for part in f.relative_to(path).parts[:-1]):
            files.append((m["date"], f))
    for _, f in sorted(files):  # oldest first: a newer file overwrites what it also declares
        _merge(out, f)
    return out


def _merge(out: RunResults, path: Path) -> None:
    data = read_json(path)
    if not isinstance(data, dict):
        raise SelfimpError(f"{path}: not an lm-eval results file (expected a JSON object)")
    configs, hib = data.get("configs") or {}, data.get("higher_is_better") or {}
    if not isinstance(configs, dict) or not isinstance(hib, dict):
        raise SelfimpError(f"{path}: fields 'configs' and 'higher_is_better' must be objects")
    config = data.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    for task, cfg in configs.items():
        if isinstance(cfg, dict):
            out.tasks[task] = _task_info(cfg, hib.get(task), path)
            if isinstance(model, str):
                out.models[task] = model
    subtasks = data.get("group_subtasks") or {}
    if not isinstance(subtasks, dict):
        raise SelfimpError(f"{path}: field 'group_subtasks' must be an object")
    out.groups.update({g: [str(t) for t in ts] for g, ts in subtasks.items() if isinstance(ts, list) and ts})


def _task_info(cfg: dict, hib: dict | None, path: Path) -> TaskInfo:
    metrics = tuple(m["metric"] for m in cfg.get("metric_list") or []
                    if isinstance(m, dict) and isinstance(m.get("metric"), str))
    direction = {str(k): bool(v) for k, v in (hib or {}).items() if isinstance(v, bool)}
    for m in cfg.get("metric_list") or []:
        if isinstance(m, dict) and isinstance(m.get("higher_is_better"), bool):
            direction.setdefault(m["metric"], m["higher_is_better"])
    filters = tuple(f["name"] for f in cfg.get("filter_list") or [] if isinstance(f, dict) and "name" in f)
    delimiter = cfg.get("target_delimiter")
    return TaskInfo(metrics=metrics, higher_is_better=direction, filters=filters or ("none",),
                    output_type=cfg.get("output_type"),
                    target_delimiter=delimiter if isinstance(delimiter, str) else DEFAULT_TARGET_DELIMITER,
                    source=path)


def leaf_tasks(group: str, groups: dict[str, list[str]], seen: frozenset[str] = frozenset()) -> list[str]:
    """The tasks under `group`, subgroups expanded, in declared order."""
    if group not in groups:
        return [group]
    if group in seen:
        raise SelfimpError(f"group {group!r} contains itself in results_*.json's group_subtasks")
    out: list[str] = []
    for child in groups[group]:
        out += [t for t in leaf_tasks(child, groups, seen | {group}) if t not in out]
    return out


def top_groups(groups: dict[str, list[str]]) -> list[str]:
    """Groups that are no other group's member (`leaderboard` for a `--tasks leaderboard` run)."""
    members = {t for ts in groups.values() for t in ts}
    return [g for g in groups if g not in members]
