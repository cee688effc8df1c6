"""lm-eval's own groups in a report (`group_subtasks` of results_*.json, e.g. `leaderboard` →
`leaderboard_bbh` → its 24 subtasks): a pooled paired test per group, a confidence-margin test per
multiple-choice task, and the report sections (the top group's members: one per leaderboard group)."""
from __future__ import annotations

from harness_ext.report.family import greedy, vs
from harness_ext.report.inputs import Checkpoint
from harness_ext.report.lmeval_results import leaf_tasks, top_groups
from harness_ext.report.margins import AXIS as MARGIN_AXIS
from harness_ext.report.margins import log_margins, margin_summary, margin_verdict
from harness_ext.improve import compare_logs
from harness_ext.report.verdicts import Verdict, accuracy_verdict
from harness_ext.samples import SampleLog

CATEGORY_FIELD = "category"  # MMLU-Pro's 14 subject categories live in this doc field


def merged_groups(checkpoints: list[Checkpoint]) -> dict[str, list[str]]:
    """The group structure the runs' results files declare (M1's first, then the others')."""
    out: dict[str, list[str]] = {}
    for ck in checkpoints:
        for g, members in ck.results.groups.items():
            out.setdefault(g, members)
    return out


def pooled_log(group: str, tasks: list[str], per_ck: dict, ck: Checkpoint) -> SampleLog | None:
    """Every doc of the group's tasks in one log (ids `task/doc`), each solved by its task's metric."""
    logs = [log for log in (greedy(per_ck, ck, t) for t in tasks) if log is not None]
    if not logs:
        return None
    docs = {f"{log.task}/{i}": d for log in logs for i, d in log.docs.items()}
    return SampleLog(task=group, path=logs[0].path.parent, docs=docs)


def group_verdicts(groups: dict[str, list[str]], m1: Checkpoint, series: dict, per_ck: dict) -> list[Verdict]:
    """Per group, last round vs M1 on the pooled docs of its tasks: exact McNemar + Agresti-Min."""
    out = []
    for method, cks in series.items():
        if cks[-1] is m1:
            continue
        for group in groups:
            tasks = leaf_tasks(group, groups)
            a, b = pooled_log(group, tasks, per_ck, m1), pooled_log(group, tasks, per_ck, cks[-1])
            if a is None or b is None:
                continue
            v = accuracy_verdict("accuracy", group, method, vs(m1, cks[-1]), a, b)
            v.measure = f"share solved by each task's verdict, pooled over {len(tasks)} tasks (after − before), " \
                        f"{v.measure.rsplit(', ', 1)[-1]}"
            out.append(v)
    return out


def last_vs_m1(datasets: list[str], m1: Checkpoint, series: dict, per_ck: dict):
    """(method, last checkpoint, dataset, M1's log, its log) for every method's last round that has a
    greedy log of the dataset, as M1 has."""
    for method, cks in series.items():
        last = cks[-1]
        if last is m1:
            continue
        for ds in datasets:
            a, b = greedy(per_ck, m1, ds), greedy(per_ck, last, ds)
            if a is not None and b is not None:
                yield method, last, ds, a, b


def margin_verdicts(datasets: list[str], m1: Checkpoint, series: dict, per_ck: dict) -> tuple[list[Verdict], dict]:
    """Per multiple-choice task, last round vs M1: the paired change of the gold-vs-best-wrong margin."""
    out, summaries = [], {}
    for method, last, ds, a, b in last_vs_m1(datasets, m1, series, per_ck):
        ma, mb = log_margins(a, m1.results), log_margins(b, last.results)
        if ma is None or mb is None:
            continue
        normalised = (a.scored_by or "").startswith("acc_norm,")
        out.append(margin_verdict(ds, method, vs(m1, last), ma, mb, normalised))
        summaries.setdefault(ds, {})[last.label] = margin_summary(ma, mb)
    return out, summaries


def categories(log: SampleLog) -> dict[str, SampleLog]:
    """The log split by its docs' `category` field, when every doc has one and there are several."""
    values = [d.doc.get(CATEGORY_FIELD) for d in log.docs.values()]
    if not values or not all(isinstance(v, str) and v for v in values) or len(set(values)) < 2:
        return {}
    return {c: SampleLog(task=log.task, path=log.path, scored_by=log.scored_by, rescored_with=log.rescored_with,
                         docs={i: d for i, d in log.docs.items() if d.doc[CATEGORY_FIELD] == c})
            for c in sorted(set(values))}


def category_verdicts(datasets: list[str], m1: Checkpoint, series: dict, per_ck: dict) -> tuple[list[Verdict], dict]:
    """Per category of a task's docs (MMLU-Pro), last round vs M1: the paired accuracy test and transitions."""
    out, table = [], {}
    for method, last, ds, a, b in last_vs_m1(datasets, m1, series, per_ck):
        mine = categories(b)
        for cat, before in categories(a).items():
            if cat in mine:
                name = f"{ds}[{CATEGORY_FIELD}={cat}]"
                out.append(accuracy_verdict("accuracy", name, method, vs(m1, last), before, mine[cat]))
                table.setdefault(name, {})[last.label] = compare_logs(before, mine[cat]).transitions()
    return out, table


def not_available(log: SampleLog, m1_sampled: SampleLog | None, has_margin: bool) -> list[str]:
    """What the report cannot measure for this task from its logs, and why."""
    out = []
    if m1_sampled is None:
        out.append("IS probe (M1's pass@k on the improvement set) and diversity: they need several samples "
                   "per doc with a verdict each (a selfimp *_passn task, or a rescored family run with repeats)")
    if log.scored_by is not None:
        repeats = max((len(d.resps[0]) for d in log.docs.values()
                       if isinstance(d.resps, list) and d.resps and isinstance(d.resps[0], list)), default=1)
        if repeats > 1 and not has_margin:
            out.append(f"pass@k: the task ran with {repeats} samples per doc, but lm-eval logs one score per "
                       "doc (after its filter), not one per sample")
    if not has_margin:
        out.append("confidence margin: not a multiple-choice log-likelihood task (or M1's and the last "
                   "round's logs do not both hold every choice's log-likelihood)")
    return out


def group_sections(groups: dict[str, list[str]], report: dict) -> dict:
    """The report's sections: each member of a top group (a leaderboard group or a lone task), or
    the top group itself when its members are all tasks; per section its verdicts, in family order."""
    verdicts = report["verdicts"]
    sections = []
    for top in top_groups(groups):
        members = groups[top]
        for name in (members if any(m in groups for m in members) else [top]):
            tasks = leaf_tasks(name, groups)
            sections.append({
                "name": name, "top": top, "is_group": name in groups, "tasks": tasks,
                "group_verdicts": [v for v in verdicts if v["dataset"] == name and name in groups],
                "task_verdicts": [v for v in verdicts if v["dataset"].split(f"[{CATEGORY_FIELD}=")[0] in tasks
                                  and v["axis"] in ("accuracy", MARGIN_AXIS)],
            })
    return {"top": top_groups(groups),
            "top_verdicts": [v for v in verdicts if v["dataset"] in top_groups(groups)],
            "sections": sections}
