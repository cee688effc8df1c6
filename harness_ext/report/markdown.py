"""report.md: the numbers of report.json as readable tables, verdicts first."""
from __future__ import annotations

from harness_ext.report.hardcoding import hardcoding_lines

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


def _p(x) -> str:
    return "–" if x is None else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def _ci(v: dict) -> str:
    """The effect with the interval the verdict used: at the family's level where it was tested
    (labelled with that level), else the plain 95% one."""
    if v.get("value") is None:
        return "–"
    lo, hi = v.get("ci_adjusted") or v["ci"]
    level = v.get("ci_adjusted_level") or 0.95
    return f"{v['value']:+.3f} [{_f(lo)}, {_f(hi)}]" + (f" ({level:.2%})" if level != 0.95 else "")


def _level_note(report: dict) -> str:
    levels = {v["ci_adjusted_level"] for v in report["verdicts"] if v.get("ci_adjusted_level")}
    if not levels:
        return ""
    return (f"Intervals are simultaneous (Bonferroni) at {max(levels):.2%}, the level the Holm decisions use; "
            "report.json also holds each unadjusted 95% interval (`ci`).")


def grouped_tasks(report: dict) -> set[str]:
    """Tasks shown in a group section (not in the headline or a dataset section of their own)."""
    groups = report.get("task_groups") or {}
    return {t for sec in groups.get("sections", []) for t in sec["tasks"]}


def headline_section(report: dict) -> list[str]:
    lines = ["## Verdict: last round vs M1", ""]
    if not report["headline"]:
        return lines + ["Only one checkpoint: nothing to compare.", ""]
    in_groups = grouped_tasks(report)
    for method, h in report["headline"].items():
        lines += [f"**{method}** ({h['last']} vs {report['m1']}); p adjusted by Holm over all "
                  f"{len(report['verdicts'])} tests of this report"
                  + ("; each task of an lm-eval group is in its group's section below" if in_groups else "") + ":", ""]
        rows = []
        for v in h["rows"]:
            if v["dataset"].split("[")[0] in in_groups:
                continue
            if v["axis"] == "fairness":
                gd = v.get("disparity") or {}
                rows.append([v["axis"], v["dataset"], f"**{v['verdict']}**",
                             f"{v.get('what_happened') or v.get('reason', '')}; GD change {_ci(gd) if gd else '–'}",
                             _p(gd.get("p")), _p(gd.get("p_adjusted")),
                             v.get("measure", "") + (f"; {gd['test']}, CI {gd['ci_method']}" if gd else "")])
            else:
                rows.append([v["axis"], v["dataset"], f"**{v['verdict']}**", _ci(v), _p(v["p"]), _p(v["p_adjusted"]),
                             f"{v['measure']}; {v['test']}, CI {v['ci_method']}" + (f"; {v['detail']}" if v["detail"] else "")
                             + (f"; undefined: {v['reason']}" if v["reason"] else "")])
        lines += _table(["axis", "dataset", "verdict", "effect [adjusted CI]", "p", "p (Holm)", "measure, test, CI"],
                        rows)
        lines.append("")
    lines += [_level_note(report), ""]
    for task, counts in (report.get("left_out") or {}).items():
        lines.append(f"- {task}: compared on the problems every checkpoint holds (--common-problems), left out "
                     + ", ".join(f"{n} of {label}'s log" for label, n in counts.items() if n))
    if report.get("left_out"):
        lines.append("")
    return lines


def family_section(report: dict) -> list[str]:
    lines = ["## Every test of this report (one family, Holm-Bonferroni)", ""]
    rows = [[v["method"], v["axis"], v["dataset"], v["compare"], v["verdict"], _ci(v), _p(v["p"]), _p(v["p_adjusted"]),
             v["test"]] for v in report["verdicts"]]
    return lines + _table(["method", "axis", "dataset", "comparison", "verdict", "effect [adjusted CI]", "p", "p (Holm)",
                           "test"], rows) + [""]


def trajectory_section(d: dict) -> list[str]:
    lines = ["### Trajectory: each round vs M1 and vs its parent", ""]
    for method, tr in d.get("trajectory", {}).items():
        rows = [[r["label"], _f(r["pass1"]),
                 *(f"{_ci(r[k])} {r[k]['verdict']} (p_Holm {_p(r[k]['p_adjusted'])})" if r[k] else "–"
                   for k in ("vs_m1", "vs_parent"))] for r in tr["rounds"]]
        lines += [f"{method}: best round **{tr['best']}**.", ""]
        lines += _table(["round", "pass@1", "vs M1", "vs parent"], rows) + [""]
    return lines


def matched_section(d: dict) -> list[str]:
    if not d.get("matched_diversity"):
        return []
    lines = ["### Diversity at matched sample count (paired, same problems, m samples per model)", ""]
    rows = []
    for lab, e in d["matched_diversity"].items():
        for kind in ("correct", "incorrect"):
            k = e[kind]
            m = k["m"]
            for name, v in k.items():
                if isinstance(v, dict) and "before" in v:
                    rows.append([lab, kind, name, str(v["n_problems"]), f"{m['min']}–{m['max']}" if m else "–",
                                 _f(v["before"]), _f(v["after"])])
    return lines + _table(["vs M1", "samples", "metric", "problems", "m", "M1", "this model"], rows) + [""]


def _verdict_cell(v: dict | None) -> str:
    if v is None:
        return "–"
    return f"**{v['verdict']}** {_ci(v)}, p {_p(v['p'])}, p_Holm {_p(v['p_adjusted'])}"


def group_section(sec: dict, report: dict) -> list[str]:
    """One lm-eval group (or lone task) of the run: its pooled verdict and one row per task."""
    kind = f"group of {len(sec['tasks'])} tasks" if sec["is_group"] else "task"
    lines = [f"## {sec['name']} ({kind} of `{sec['top']}`)", ""]
    for v in sec["group_verdicts"]:
        lines += [f"Pooled ({v['compare']}): {_verdict_cell(v)}; {v['measure']}; {v['test']}.", ""]
    rows = []
    for v in (v for v in sec["task_verdicts"] if v["axis"] == "accuracy"):
        d = report["datasets"].get(v["dataset"], {})
        label = v["compare"].split(" vs ")[0]
        tr = (d.get("improvement", {}).get(label) or {}).get("transitions") \
            or (report.get("categories") or {}).get(v["dataset"], {}).get(label) or {}
        margin = next((m for m in sec["task_verdicts"] if m["axis"] != "accuracy" and m["dataset"] == v["dataset"]
                       and m["compare"] == v["compare"]), None)
        entry = d.get("pass1", {}).get(label) or {}
        metric = entry.get("measure", "")
        if entry.get("rescored_with"):
            metric += f", rescored by selfimp's {entry['rescored_with']} verifier"
        if entry.get("lm_eval_agreement"):
            a = entry["lm_eval_agreement"]
            metric += f"; lm-eval's {a['metric']} agrees on {a['agree']}/{a['n_docs']} docs"
        rows.append([v["dataset"], metric, str(tr.get("both", "–") + tr.get("neither", 0) + tr.get("newly_solved", 0)
                                               + tr.get("newly_forgotten", 0)) if tr else "–",
                     f"{_f(v['before'])} → {_f(v['after'])}", str(tr.get("newly_solved", "–")),
                     str(tr.get("newly_forgotten", "–")), _verdict_cell(v), _verdict_cell(margin)])
    lines += _table(["task", "solved by", "docs", "before → after", "IS (newly solved)", "newly forgotten",
                     "accuracy verdict", "confidence (log-likelihood margin) verdict"], rows)
    return lines + [""]


def not_available_lines(report: dict) -> list[str]:
    notes: dict[str, list[str]] = {}
    for ds, d in report["datasets"].items():
        for note in d.get("not_available") or []:
            notes.setdefault(note, []).append(ds)
    if not notes:
        return []
    lines = ["## Not available from these logs", ""]
    for note, tasks in notes.items():
        shown = ", ".join(tasks[:6]) + (f" and {len(tasks) - 6} more" if len(tasks) > 6 else "")
        lines.append(f"- {note} ({shown})")
    return lines + [""]


def dataset_section(ds: str, d: dict, plots: list[str], series: dict) -> list[str]:
    lines = [f"## {ds}", "", "### Greedy pass@1", ""]
    lines += _table(["checkpoint", "task", "docs", "measure", "pass@1 [95% bootstrap CI]"],
                    [[lab, e["task"], str(e["n_docs"]), e["measure"], _est(e)] for lab, e in d["pass1"].items()])
    lines += ["", f"![pass@1](pass1_{ds}.png)" if f"pass1_{ds}.png" in plots else "", ""]
    for lab, m in (d.get("margin") or {}).items():
        lines += [f"Confidence ({lab} vs M1, {m['n_docs']} problems): mean margin of the gold choice over the best "
                  f"wrong one {_f(m['before'])} → {_f(m['after'])} (test in the family table).", ""]
    lines += trajectory_section(d)
    lines += hardcoding_lines(d.get("hardcoding") or {})
    if d["improvement"]:
        lines += ["### Improvement sets IS(t) and transitions M1 → M_t", ""]
        rows = []
        for lab, e in d["improvement"].items():
            tr = e["transitions"]
            curve = e.get("m1_pass_at_k") or {}
            passk = ", ".join(f"k={k}: {_f(curve[str(k)])}" for k in K_SHOWN if str(k) in curve)
            rows.append([lab, str(e["t"]), str(e["size"]), str(tr["newly_forgotten"]), str(tr["both"]),
                         str(tr["neither"]), passk or "–", _est(e.get("m1_unsolved_within_n")),
                         f"{e['probe']}, n = {e['n_samples']}" if e.get("n_probed") else "–"])
        lines += _table(["checkpoint", "t", "IS size (newly solved)", "newly forgotten", "both", "neither",
                         "M1 pass@k on IS", "IS share M1 never solves [Clopper-Pearson]", "M1's samples"], rows)
        if f"is_passk_{ds}.png" in plots:
            lines += ["", f"![M1 pass@k on IS(t)](is_passk_{ds}.png)"]
        lines.append("")
    for cov in (c for c in (d.get("coverage_train"), d.get("coverage")) if c):
        lines += [f"### M1 coverage on {cov['split']} questions and method advice", "",
                  f"M1's correct-answer coverage (avg@{cov['n_samples']} over {cov['n_docs']} {cov['split']} problems, "
                  f"{cov['task']}): **{_f(cov['value'])}**. {cov['advice']}.", ""]
    if d["diversity"]:
        backend = f" ({d['sbert_backend']})" if d.get("sbert_backend", "torch") != "torch" else ""
        sbert = f"; Sentence-BERT in {d['sbert_dtype']}{backend}" if d.get("sbert_dtype") else ""
        lines += ["### Diversity of sampled answers, pooled as in the paper (all samples per problem; "
                  f"counts not matched across models{sbert}), mean [95% CI]", ""]
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
    lines += matched_section(d)
    lines += passk_section(ds, d, series, plots)
    return lines


def _crossing_cell(c: dict) -> str:
    lo, hi = c["k_ci"]
    return f"{c['text']} [{lo or '> n'}, {hi or '> n'}]"


def _coverage_cell(e: dict) -> str:
    return f"{e['count']} ({_f(e['value'])})"


def passk_section(ds: str, d: dict, series: dict, plots: list[str]) -> list[str]:
    """Per method: M1's and each M_t's pass@k curves on the same problems, the crossing, coverage lost / gained."""
    curves = d.get("passk_curves") or {}
    if not curves:
        return []
    lines = ["### pass@k curves: M1 vs each round (same problems, same n samples each; descriptive, no test)", "",
             "Crossing: the smallest k at which M1's unbiased pass@k is no longer below the round's "
             "[95% bootstrap interval over problems]. Coverage lost: problems M1 solves in some of its n samples "
             "and the round in none; gained: the reverse.", ""]
    for method, labels in series.items():
        rows = []
        for lab in (lab for lab in labels if lab in curves):
            e = curves[lab]
            m1, model = e["curves"]["m1"]["pass_at_k"], e["curves"]["model"]["pass_at_k"]
            rows.append([lab, str(e["n_problems"]), str(e["n_samples"]), f"{_f(m1[0])} / {_f(model[0])}",
                         f"{_f(m1[-1])} / {_f(model[-1])}", _crossing_cell(e["crossing"]),
                         _coverage_cell(e["coverage_lost"]), _coverage_cell(e["coverage_gained"])])
        if rows:
            lines += [f"{method}:", ""]
            lines += _table(["vs M1", "problems", "n", "pass@1 M1 / round", "pass@n M1 / round", "crossing k [95% CI]",
                             "coverage lost", "coverage gained"], rows) + [""]
    if f"passk_curves_{ds}.png" in plots:
        lines += [f"![pass@k curves](passk_curves_{ds}.png)", ""]
    return lines


def trainer_comparison_lines(report: dict) -> list[str]:
    """A note when the sweep did not evaluate in the run's recorded evaluation setting."""
    comparison = report.get("trainer_comparison")
    if not comparison or comparison.get("comparable"):
        return []
    why = "; ".join(comparison.get("differences") or []) or "unknown"
    return ["**Not comparable with `selfimp-train`'s numbers**: this sweep's greedy completions were not made in "
            f"the run's evaluation setting ({why}), so its pass@1 and IS(t) may differ from the trainer's table.", ""]


def greedy_source_lines(report: dict) -> list[str]:
    """Which greedy logs lm-eval scored from the trainer's own completions (harness_ext.replay)."""
    replayed = report.get("greedy_from_trainer") or {}
    if not replayed:
        return []
    tasks = sorted({t for ts in replayed.values() for t in ts})
    return [f"Greedy completions of {', '.join(f'`{t}`' for t in tasks)} for {', '.join(replayed)}: the trainer's "
            "own (`eval_greedy.jsonl`, made in the run's evaluation setting, prompt for prompt the same), scored by "
            "lm-eval; `selfimp-eval sweep --regenerate-greedy` generates them anew.", ""]


def render(report: dict, plots: list[str]) -> str:
    lines = ["# Self-improvement report: progress or regress?", "",
             f"Source: {', '.join(report['source'])}. M1 = `{report['m1']}`. "
             f"Series: " + "; ".join(f"{m}: {' → '.join(labs)}" for m, labs in report["series"].items()) + ".", ""]
    lines += trainer_comparison_lines(report) + greedy_source_lines(report)
    if report["missing_checkpoints"]:
        lines += [f"Not evaluated yet (left out): {', '.join(report['missing_checkpoints'])}.", ""]
    lines += headline_section(report)
    groups = report.get("task_groups") or {}
    for sec in groups.get("sections", []):
        lines += group_section(sec, report)
    in_groups = grouped_tasks(report)
    for ds, d in report["datasets"].items():
        if ds not in in_groups:
            lines += dataset_section(ds, d, plots, report["series"])
    lines += not_available_lines(report)
    lines += family_section(report)
    if report["ood"]:
        lines += ["## Out-of-distribution pass@1", ""]
        rows = [[ds, lab, str(e["n_docs"]), _est(e)] for ds, t in report["ood"].items() for lab, e in t.items()]
        lines += _table(["dataset", "checkpoint", "docs", "pass@1 [95% CI]"], rows)
        lines += [""] + [f"Pooled over {', '.join(e['datasets'])} ({method}, {e['last']} − M1; a summary, "
                         f"not a verdict — each dataset has its own above): {_ci(e)}"
                         for method, e in report.get("ood_pooled", {}).items()]
        lines += ["", "![OOD](ood.png)" if "ood.png" in plots else "", ""]
    for ds, table in report["groups"].items():
        lines += [f"## Accuracy per difficulty level: {ds}", ""]
        levels = sorted({lv for e in table.values() for lv in e["acc_by_level"]}, key=int)
        rows = [[lab] + [_f(e["acc_by_level"].get(lv)) for lv in levels]
                + [_est(e["group_disparity"]) if e["group_disparity_undefined"] is None
                   else f"undefined: {e['group_disparity_undefined']}"] for lab, e in table.items()]
        lines += _table(["checkpoint"] + [f"L{lv}" for lv in levels] + ["GD [95% CI]"], rows)
        lines += ["", f"![groups](groups_{ds}.png)" if f"groups_{ds}.png" in plots else "", ""]
    return "\n".join(lines) + "\n"
