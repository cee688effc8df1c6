"""report.md's section and the figures of `report["mechanisms"]`: tail narrowing, exploration,
exploitation per round, calibration per checkpoint, and their verdicts (docs/mechanisms.md)."""
from __future__ import annotations

from pathlib import Path

from harness_ext.report.markdown import K_SHOWN, _ci, _est, _f, _p, _table
from harness_ext.report.plots import _ci_line, _save, plt

AXES = ("tail narrowing", "calibration")


def _share(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def verdict_lines(report: dict) -> list[str]:
    rows = [[v["method"], v["axis"], v["dataset"], v["compare"], f"**{v['verdict']}**", _ci(v), _p(v["p"]),
             _p(v["p_adjusted"]), f"{v['measure']}; {v['test']}, CI {v['ci_method']}"
             + (f"; {v['detail']}" if v["detail"] else "") + (f"; undefined: {v['reason']}" if v["reason"] else "")]
            for v in report["verdicts"] if v["axis"] in AXES]
    if not rows:
        return ["No mechanism verdict: it needs a run dir with two sampled rounds, or sampled logs of M1 and a "
                "later round.", ""]
    return _table(["method", "axis", "dataset", "comparison", "verdict", "effect [adjusted CI]", "p", "p (Holm)",
                   "measure, test, CI"], rows) + [""]


def rounds_lines(rounds: dict, plots: list[str]) -> list[str]:
    if not rounds.get("methods"):
        return [f"Training rounds: {rounds.get('note', 'none')}.", ""]
    lines = [f"### Tail narrowing: training questions per difficulty level ({rounds['levels']}; "
             f"hardest: {rounds['hardest']})", "",
             "Per level: share of the round's training questions with >= 1 correct candidate [Clopper-Pearson "
             "95% CI] (questions), then the level's share of what the round trained on.", ""]
    for method, rows in rounds["methods"].items():
        levels = sorted({lv for r in rows for lv in r["levels"]}, key=int)
        table = [[r["label"], r["drawn_by"], r["training_unit"] or "–"]
                 + [(f"{_est(e['coverage'])} ({e['n_questions']}) / {_share(e['train_share'])}"
                     if (e := r["levels"].get(lv)) else "–") for lv in levels] for r in rows]
        lines += [f"**{method}**", ""] + _table(["round", "candidates of", "trained on"]
                                              + [f"L{lv}: coverage (n) / data share" for lv in levels], table)
        name = f"tail_{method}.png"
        lines += ["", f"![tail narrowing {method}]({name})" if name in plots else "", ""]
    lines += ["### Exploration: pass@k on the training questions and diversity of the correct candidates", ""]
    table = []
    for method, rows in rounds["methods"].items():
        for r in rows:
            ex = r["exploration"]
            ks = [k for k in K_SHOWN if str(k) in ex["pass_at_k"]]  # report.json's keys are strings
            curve = ", ".join(f"{k}: {_f(ex['pass_at_k'][str(k)])}" for k in ks)
            div = ex["correct_distinct_n"]
            table.append([method, r["label"], str(ex["n_questions"]), curve,
                          f"{_est(div)} ({div['n_problems']})" if div else "undefined (no question with >= 2 correct)"])
    lines += _table(["method", "round", "questions", "pass@k (k: value)",
                     "Distinct-N of correct candidates [CI] (questions)"], table) + [""]
    table = [[method, r["label"], r["update"], e["unit"], str(e["n"]), str(e["all_correct"]), str(e["all_wrong"]),
              _est(e["no_signal"])] for method, rows in rounds["methods"].items() for r in rows
             if (e := r["exploitation"])]
    if table:
        lines += ["### Exploitation: candidate sets that give the update no signal (all correct or all wrong)", ""]
        lines += _table(["method", "round", "update", "unit", "sets", "all correct", "all wrong",
                         "no-signal share [CP CI]"], table) + [""]
    return lines


def calibration_lines(calibration: dict, plots: list[str]) -> list[str]:
    lines = []
    for ds, sec in calibration.items():
        if not sec["checkpoints"]:
            continue
        lines += [f"### Calibration: {ds}", "",
                  f"Confidence = {sec['confidence']}; ECE over {sec['ece_bins']} equal-width bins; high confidence: "
                  f">= {sec['high_confidence']}.", ""]
        rows = [[lab, str(c["n_problems"]), str(c["n_samples"]), _f(c["accuracy"]), _f(c["mean_confidence"]),
                 _f(c["ece"]), _f(c["brier"]),
                 f"{_est(c['high_confidence_accuracy'])} ({c['high_confidence_accuracy']['n']})"]
                for lab, c in sec["checkpoints"].items()]
        lines += _table(["checkpoint", "problems", "samples", "majority accuracy", "mean confidence", "ECE", "Brier",
                         "accuracy at high confidence [CP CI] (problems)"], rows)
        name = f"reliability_{ds}.png"
        lines += ["", f"![reliability {ds}]({name})" if name in plots else "", ""]
    return lines


def mechanism_lines(report: dict, plots: list[str]) -> list[str]:
    """The section of report.md (measures and tests: docs/mechanisms.md)."""
    mech = report.get("mechanisms")
    if not mech:
        return []
    lines = ["## Why: tail narrowing, exploration, exploitation, calibration", "",
             "Tests in the report's one Holm family (docs/mechanisms.md):", ""] + verdict_lines(report)
    if mech["rounds"] is not None:
        lines += rounds_lines(mech["rounds"], plots)
    return lines + calibration_lines(mech["calibration"], plots)


# ---------------------------------------------------------------- figures


def plot_tail(method: str, rows: list[dict], out: Path) -> str:
    fig, (cov, share) = plt.subplots(1, 2, figsize=(10, 4))
    levels = sorted({lv for r in rows for lv in r["levels"]}, key=int)
    for lv in levels:
        mine = [r for r in rows if lv in r["levels"]]
        _ci_line(cov, [r["t"] for r in mine], [r["levels"][lv]["coverage"] for r in mine], f"L{lv}")
        pts = [(r["t"], r["levels"][lv]["train_share"]) for r in mine if r["levels"][lv]["train_share"] is not None]
        share.plot([t for t, _ in pts], [s for _, s in pts], marker="o", label=f"L{lv}")
    cov.set(title=f"{method}: questions with a correct candidate", xlabel="round t", ylabel="share (95% CP CI)",
            ylim=(-0.02, 1.02))
    share.set(title=f"{method}: share of the round's training data", xlabel="round t", ylabel="share", ylim=(-0.02, 1.02))
    share.xaxis.set_major_locator(cov.xaxis.get_major_locator())
    for ax in (cov, share):
        ax.legend(title="level")
    return _save(fig, out / f"tail_{method}.png")


def plot_reliability(ds: str, sec: dict, shown: list[str], out: Path) -> str:
    """M1's and each series' last round's diagram (every checkpoint's bins are in report.json)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    for lab, c in ((lab, sec["checkpoints"][lab]) for lab in shown if lab in sec["checkpoints"]):
        pts = [(b["confidence"], b["accuracy"]) for b in c["reliability"] if b["n"]]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=f"{lab} (ECE {_f(c['ece'])})")
    ax.set(title=f"{ds}: reliability ({sec['ece_bins']} bins)", xlabel="confidence (majority-answer share)",
           ylabel="accuracy of the majority answer", xlim=(0, 1.02), ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)
    return _save(fig, out / f"reliability_{ds}.png")


def mechanism_plots(report: dict, out: Path) -> list[str]:
    """Tail-narrowing figures per method and a reliability diagram per dataset; their file names."""
    mech = report.get("mechanisms") or {}
    rounds = (mech.get("rounds") or {}).get("methods") or {}
    names = [plot_tail(method, rows, out) for method, rows in rounds.items()]
    shown = list(dict.fromkeys([report["m1"]] + [labels[-1] for labels in report["series"].values()]))
    names += [plot_reliability(ds, sec, shown, out) for ds, sec in (mech.get("calibration") or {}).items()
              if sec["checkpoints"]]
    return names
