"""The one family of verdicts of a report, its headline (last round vs M1 on every axis) and the
trajectory (each round vs M1 and vs its parent, with the best round)."""
from __future__ import annotations

from harness_ext.report.inputs import Checkpoint
from harness_ext.report.groups import declared_levels, group_logs, level_log
from harness_ext.report.verdicts import (
    NOT_MEASURED,
    Verdict,
    accuracy_verdict,
    beyond_verdict,
    disparity_verdict,
    diversity_verdict,
    fairness_summary,
)

HEADLINE_AXES = ("accuracy", "beyond M1's sampling space", "diversity", "OOD", "confidence (log-likelihood margin)")


def greedy(per_ck: dict, ck: Checkpoint, ds: str):
    entry = per_ck[ck.label].get(ds)
    return entry.greedy if entry is not None else None


def vs(a: Checkpoint, b: Checkpoint) -> str:
    return f"{b.label} vs {a.label}"


def verdict_family(report: dict, m1: Checkpoint, series: dict, per_ck: dict, primaries: list[str],
                   ood: list[str], seed: int = 0) -> list[Verdict]:
    """Every tested comparison of the report, in display order."""
    family: list[Verdict] = []
    for method, cks in series.items():
        last = cks[-1]
        if last is m1:
            continue
        for ds in primaries:
            family += primary_verdicts(report["datasets"][ds], ds, method, m1, cks, per_ck)
        for ds in ood:
            a, b = greedy(per_ck, m1, ds), greedy(per_ck, last, ds)
            if a is not None and b is not None:
                family.append(accuracy_verdict("OOD", ds, method, vs(m1, last), a, b))
        family += level_verdicts(m1, last, method, seed)
    return family


def primary_verdicts(d: dict, ds: str, method: str, m1: Checkpoint, cks: list[Checkpoint],
                     per_ck: dict) -> list[Verdict]:
    """Accuracy, beyond-M1 and diversity of the last round vs M1, then the trajectory: each round vs
    its parent and vs M1 (the last round's vs M1 is the accuracy verdict itself, not tested twice)."""
    last, out, gain = cks[-1], [], None
    a, b = greedy(per_ck, m1, ds), greedy(per_ck, last, ds)
    if a is not None and b is not None:
        gain = accuracy_verdict("accuracy", ds, method, vs(m1, last), a, b)
        out.append(gain)
    if last.label in d["improvement"]:
        out.append(beyond_verdict(ds, method, vs(m1, last), d["improvement"][last.label], gain))
    if last.label in d["matched_diversity"]:
        out.append(diversity_verdict(ds, method, vs(m1, last), d["matched_diversity"][last.label]))
    for parent, ck in zip(cks, cks[1:]):
        logs = {c.label: greedy(per_ck, c, ds) for c in (m1, parent, ck)}
        if logs[ck.label] is None:
            continue
        refs = {parent.label: parent, m1.label: m1}.values()
        out += [accuracy_verdict("trajectory", ds, method, vs(ref, ck), logs[ref.label], logs[ck.label])
                for ref in refs if logs[ref.label] is not None and not (ck is last and ref is m1)]
    return out


def level_verdicts(m1: Checkpoint, last: Checkpoint, method: str, seed: int = 0) -> list[Verdict]:
    """Per groups dataset: the paired accuracy change on its declared first and last level, and the
    change in GD between them."""
    out = []
    mine = group_logs(last)
    for log in group_logs(m1).values():
        levels = declared_levels(log.dataset)
        if log.dataset not in mine or levels is None:
            continue
        pairs = [(level_log(log, level), level_log(mine[log.dataset], level)) for level in levels]
        for level, (before, after) in zip(levels, pairs):
            if before.docs and after.docs:
                out.append(accuracy_verdict(f"fairness: level {level}", log.dataset, method, vs(m1, last),
                                            before, after))
        if all(before.docs and after.docs for before, after in pairs):
            out.append(disparity_verdict(log.dataset, method, vs(m1, last), levels, *pairs, seed))
    return out


def headline(family: list[Verdict], series: dict, m1: Checkpoint) -> dict:
    """Per method: the last round vs M1 on every axis, primary datasets first, then fairness."""
    out: dict = {}
    for method, cks in series.items():
        if cks[-1] is m1:
            continue
        compare = vs(m1, cks[-1])
        mine = [v for v in family if v.method == method and v.compare == compare]
        rows = [v.to_dict() for v in mine if v.axis in HEADLINE_AXES]
        rows += fairness_rows([v for v in mine if v.axis.startswith("fairness")])
        out[method] = {"last": cks[-1].label, "rows": rows}
    return out


def fairness_rows(tests: list[Verdict]) -> list[dict]:
    rows = []
    for ds in dict.fromkeys(v.dataset for v in tests):
        pair = [v for v in tests if v.dataset == ds and v.axis.startswith("fairness: level")]
        disparity = [v for v in tests if v.dataset == ds and v.axis == "fairness: disparity"]
        first_last = declared_levels(ds)
        if len(pair) == 2 and disparity and first_last:
            rows.append(fairness_summary(pair[0], pair[1], disparity[0], first_last))
        else:
            rows.append({"axis": "fairness", "dataset": ds, "verdict": NOT_MEASURED,
                         "reason": "the first or last declared level has no problem in both logs"})
    return rows


def trajectory_table(family: list[Verdict], ds: str, pass1: dict, series: dict) -> dict:
    """Per method: each round's pass@1, its change vs M1 and vs its parent (tests of the family), best round."""
    out = {}
    for method, cks in series.items():
        tests = {v.compare: v.to_dict() for v in family
                 if v.dataset == ds and v.method == method and v.axis in ("accuracy", "trajectory")}
        rounds = []
        for i, ck in enumerate(cks):
            rounds.append({"label": ck.label, "t": ck.t, "pass1": (pass1.get(ck.label) or {}).get("value"),
                           "vs_m1": tests.get(vs(cks[0], ck)) if i else None,
                           "vs_parent": tests.get(vs(cks[i - 1], ck)) if i else None})
        scored = [r for r in rounds if r["pass1"] is not None]
        best = max(scored, key=lambda r: r["pass1"])["label"] if scored else None
        out[method] = {"rounds": rounds, "best": best}
    return out
