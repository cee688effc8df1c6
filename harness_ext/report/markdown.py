"""report.md: the numbers of report.json as readable tables, verdicts first."""
from __future__ import annotations

K_SHOWN = (1, 2, 4, 8, 16, 32, 50, 64)


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _est(e: dict | None) -> str:
    if not e or e.get("value") is None:
        return "–"
    lo, hi = e["ci"]
    return f"{_f(e['value'])} [{_f(lo)}, {_f(hi)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def verdict_section(report: dict) -> list[str]:
    lines = ["## Verdict (last iteration vs M1, 95% bootstrap CI)", ""]
    if not report["verdict"]:
        return lines + ["Only one checkpoint: nothing to compare.", ""]
    axes = (("accuracy", "accuracy"), ("beyond_m1_sampling", "ability beyond M1's sampling space"),
            ("diversity", "diversity"), ("ood", "OOD"), ("fairness", "fairness across difficulty"))
    rows = []
    for method, v in report["verdict"].items():
        for key, name in axes:
            e = v.get(key)
            rows.append([method, name, e["verdict"] if e else "not measured", _est(e), e["effect"] if e else ""])
    return lines + _table(["method", "axis", "verdict", "effect [95% CI]", "measure"], rows) + [""]


def dataset_section(ds: str, d: dict, plots: list[str]) -> list[str]:
    lines = [f"## {ds}", "", "### Greedy pass@1", ""]
    lines += _table(["checkpoint", "task", "docs", "pass@1 [95% CI]"],
                    [[lab, e["task"], str(e["n_docs"]), _est(e)] for lab, e in d["pass1"].items()])
    lines += ["", f"![pass@1](pass1_{ds}.png)" if f"pass1_{ds}.png" in plots else "", ""]
    if d["improvement"]:
        lines += ["### Improvement sets IS(t) and transitions M1 → M_t", ""]
        rows = []
        for lab, e in d["improvement"].items():
            tr = e["transitions"]
            curve = e.get("m1_pass_at_k") or {}
            passk = ", ".join(f"k={k}: {_f(curve[str(k)])}" for k in K_SHOWN if str(k) in curve)
            rows.append([lab, str(e["t"]), str(e["size"]), str(tr["newly_forgotten"]), str(tr["both"]),
                         str(tr["neither"]), passk or "–", _est(e.get("m1_unsolved_within_n"))])
        lines += _table(["checkpoint", "t", "IS size (newly solved)", "newly forgotten", "both", "neither",
                         "M1 pass@k on IS", "IS share M1 never solves"], rows)
        if f"is_passk_{ds}.png" in plots:
            lines += ["", f"![M1 pass@k on IS(t)](is_passk_{ds}.png)"]
        lines.append("")
    cov = d.get("coverage")
    if cov:
        lines += ["### M1 coverage and method advice", "",
                  f"M1's correct-answer coverage (avg@{cov['n_samples']} over {cov['n_docs']} problems, "
                  f"{cov['task']}): **{_f(cov['value'])}**. {cov['advice']}.", ""]
    if d["diversity"]:
        lines += ["### Diversity of sampled answers (per question, mean [95% CI])", ""]
        rows = []
        for lab, e in d["diversity"].items():
            for kind in ("correct", "incorrect"):
                k = e[kind]
                rows.append([lab, kind, str(k["n_questions"]), _est(k.get("distinct_n")), _est(k.get("sbert")),
                             _est(k.get("distinct_equations"))])
        lines += _table(["checkpoint", "samples", "questions", "Distinct-N", "SBERT 1-cos", "Distinct Eq."], rows)
        if f"diversity_{ds}.png" in plots:
            lines += ["", f"![diversity](diversity_{ds}.png)"]
        lines.append("")
    return lines


def trainer_comparison_lines(report: dict) -> list[str]:
    """A note when the sweep did not evaluate in the run's recorded evaluation setting."""
    comparison = report.get("trainer_comparison")
    if not comparison or comparison.get("comparable"):
        return []
    why = "; ".join(comparison.get("differences") or []) or "unknown"
    return ["**Not comparable with `selfimp-train`'s numbers**: this sweep's greedy completions were not made in "
            f"the run's evaluation setting ({why}), so its pass@1 and IS(t) may differ from the trainer's table.", ""]


def render(report: dict, plots: list[str]) -> str:
    lines = ["# Self-improvement report: progress or regress?", "",
             f"Source: {', '.join(report['source'])}. M1 = `{report['m1']}`. "
             f"Series: " + "; ".join(f"{m}: {' → '.join(labs)}" for m, labs in report["series"].items()) + ".", ""]
    lines += trainer_comparison_lines(report)
    if report["missing_checkpoints"]:
        lines += [f"Not evaluated yet (left out): {', '.join(report['missing_checkpoints'])}.", ""]
    lines += verdict_section(report)
    for ds, d in report["datasets"].items():
        lines += dataset_section(ds, d, plots)
    if report["ood"]:
        lines += ["## Out-of-distribution pass@1", ""]
        rows = [[ds, lab, str(e["n_docs"]), _est(e)] for ds, t in report["ood"].items() for lab, e in t.items()]
        lines += _table(["dataset", "checkpoint", "docs", "pass@1 [95% CI]"], rows)
        lines += ["", "![OOD](ood.png)" if "ood.png" in plots else "", ""]
    for ds, table in report["groups"].items():
        lines += [f"## Accuracy per difficulty level: {ds}", ""]
        levels = sorted({lv for e in table.values() for lv in e["acc_by_level"]}, key=int)
        rows = [[lab] + [_f(e["acc_by_level"].get(lv)) for lv in levels] + [_est(e["group_disparity"])]
                for lab, e in table.items()]
        lines += _table(["checkpoint"] + [f"L{lv}" for lv in levels] + ["GD [95% CI]"], rows)
        lines += ["", f"![groups](groups_{ds}.png)" if f"groups_{ds}.png" in plots else "", ""]
    return "\n".join(lines) + "\n"
