"""Which per-doc score makes a doc "solved" for a task that selfimp does not rescore.

Order (docs/verdicts.md): a `--metric TASK=NAME` override; else the first metric of the task's
`metric_list` as the run's results_*.json declares it (with its first filter); else the first of
DEFAULT_ORDER the log holds. The score must be binary per doc (bool or 0/1) and higher-is-better;
any other number needs an explicit threshold (`--metric TASK=NAME>=T`)."""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.report.lmeval_results import RunResults
from harness_ext.samples import SampleLog, score_by_metric

DEFAULT_ORDER = ("acc_norm", "acc", "exact_match", "prompt_level_strict_acc", "pass@1", "pass_at_1", "em")
OVERRIDE_RE = re.compile(r"^(?P<task>[^=]+)=(?P<metric>[^,>=\s]+)(,(?P<filter>[^>=\s]+))?(>=(?P<threshold>[-+.\deE]+))?$")


@dataclass(frozen=True)
class MetricOverride:
    """`--metric TASK=METRIC[,FILTER][>=THRESHOLD]`; TASK may be a glob (`leaderboard_bbh_*`)."""

    task: str
    metric: str
    filter: str | None = None
    threshold: float | None = None


def parse_overrides(specs: list[str] | None) -> list[MetricOverride]:
    out = []
    for spec in specs or []:
        m = OVERRIDE_RE.match(spec.strip())
        try:
            threshold = None if m is None or m["threshold"] is None else float(m["threshold"])
        except ValueError:
            m = None
        if m is None:
            raise SelfimpError(f"--metric {spec!r}: expected TASK=METRIC[,FILTER][>=THRESHOLD], e.g. "
                               "leaderboard_bbh_*=acc_norm or my_task=f1>=0.5")
        out.append(MetricOverride(m["task"].strip(), m["metric"], m["filter"], threshold))
    return out


def apply_primary_metric(log: SampleLog, results: RunResults, overrides: list[MetricOverride]) -> None:
    """Give every doc of `log` its verdict from the chosen per-doc score, unless our records or a
    verifier already did and no override names the task."""
    override = next((o for o in reversed(overrides) if fnmatch.fnmatchcase(log.task, o.task)), None)
    if override is None and (log.rescored_with is not None or all(d.samples for d in log.docs.values())):
        return
    key, threshold, source = choose_metric(log, results, override)
    score_by_metric(log, key, threshold)
    log.rescored_with = None
    log.scored_by = f"{log.scored_by} ({source})"


def choose_metric(log: SampleLog, results: RunResults,
                  override: MetricOverride | None) -> tuple[str, float | None, str]:
    """("metric,filter", threshold, where the choice came from) for one task's log."""
    try:
        return _choose(log, results, override)
    except SelfimpError as e:
        raise SelfimpError(f"{log.path}: task {log.task!r}: {e}") from None


def _choose(log: SampleLog, results: RunResults, override: MetricOverride | None) -> tuple[str, float | None, str]:
    logged = logged_keys(log)
    info = results.tasks.get(log.task)
    if override is not None:
        key = _with_filter(override.metric, override.filter, logged, info.filters if info else ())
        source, threshold = "--metric", override.threshold
    elif info is not None and info.metrics:
        key = _with_filter(info.metrics[0], None, logged, info.filters)
        source, threshold = "the task's declared metric_list", None
    else:
        names = [m for m in DEFAULT_ORDER if any(k.split(",")[0] == m for k in logged)]
        if not names:
            raise SelfimpError("none of the default metrics "
                               f"({', '.join(DEFAULT_ORDER)}) is logged per doc (it logs: "
                               f"{', '.join(logged) or 'none'}); name one with --metric {log.task}=NAME")
        key, source, threshold = _with_filter(names[0], None, logged, ()), "default order", None
    metric = key.split(",")[0]
    if info is not None and info.higher_is_better.get(metric) is False:
        raise SelfimpError(f"metric {metric!r} is lower-is-better, so it "
                           f"cannot say which docs are solved; name another with --metric {log.task}=NAME")
    return key, threshold, source


def logged_keys(log: SampleLog) -> list[str]:
    """The "metric,filter" scores every doc of the log carries, in log order."""
    docs = list(log.docs.values())
    if not docs:
        return []
    return [k for k in docs[0].metrics if all(k in d.metrics for d in docs)]


def _with_filter(metric: str, filt: str | None, logged: list[str], declared: tuple[str, ...]) -> str:
    """`metric,filter`: the given filter, else the first declared one the log holds, else the first logged."""
    if filt is not None:
        candidates = [f"{metric},{filt}"]
    else:
        candidates = [f"{metric},{f}" for f in declared] + [k for k in logged if k.split(",")[0] == metric]
    for key in candidates:
        if key in logged:
            return key
    raise SelfimpError(f"metric {candidates[0] if candidates else metric!r} is not logged per doc "
                       f"(logged: {', '.join(logged) or 'none'})")


def verifier_agreement(log: SampleLog, results: RunResults) -> dict | None:
    """For a log rescored by selfimp's verifier: on how many docs lm-eval's own declared binary
    score gives the same verdict (None when the task declares none, or it is not binary)."""
    info = results.tasks.get(log.task)
    if log.rescored_with is None or info is None or not info.metrics:
        return None
    try:
        key = _with_filter(info.metrics[0], None, logged_keys(log), info.filters)
    except SelfimpError:
        return None
    theirs = [d.metrics[key] for d in log.docs.values()]
    if not all(isinstance(v, bool) or v in (0, 1) for v in theirs):
        return None
    agree = sum(bool(v) == d.solved for v, d in zip(theirs, log.docs.values()))
    return {"metric": key, "agree": agree, "n_docs": len(theirs)}
