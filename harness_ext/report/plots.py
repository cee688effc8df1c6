"""PNG figures of a report (matplotlib Agg): pass@1 per iteration, M1's pass@k on IS(t), diversity,
pass@k curves of M1 vs each round, OOD accuracy and per-level accuracy."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _save(fig, path: Path) -> str:
    """Render to a temporary name, then rename (atomic like every other output)."""
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path.name


def _t_of(report: dict) -> dict[str, int]:
    return {c["label"]: c["t"] for c in report["checkpoints"]}


def _ci_line(ax, xs, est_list, label, **kw):
    """Points with CI error bars; estimates with no value (null in report.json) are left out."""
    pts = [(x, e) for x, e in zip(xs, est_list) if e["value"] is not None]
    xs, ys = [x for x, _ in pts], [e["value"] for _, e in pts]
    lo = [e["value"] - e["ci"][0] if e["ci"][0] is not None else 0 for _, e in pts]
    hi = [e["ci"][1] - e["value"] if e["ci"][1] is not None else 0 for _, e in pts]
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label, **kw)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_pass1(report: dict, ds: str, out: Path) -> str | None:
    table = report["datasets"][ds]["pass1"]
    t_of = _t_of(report)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, labels in report["series"].items():
        labels = [lab for lab in labels if lab in table]
        _ci_line(ax, [t_of[lab] for lab in labels], [table[lab] for lab in labels], method)
    ax.set(title=f"{ds}: greedy pass@1 per iteration (95% bootstrap CI)", xlabel="iteration t (M_t)",
           ylabel="pass@1")
    ax.legend(title="method")
    return _save(fig, out / f"pass1_{ds}.png")


def plot_is_passk(report: dict, ds: str, out: Path) -> str | None:
    table = report["datasets"][ds]["improvement"]
    curves = {lab: e for lab, e in table.items() if e.get("m1_pass_at_k")}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for lab, e in curves.items():
        ks = sorted(int(k) for k in e["m1_pass_at_k"])
        ax.plot(ks, [e["m1_pass_at_k"][str(k)] for k in ks],
                marker=".", label=f"IS({e['t']}) {e['method']} (|IS|={e['size']})")
    ax.set_xscale("log", base=2)
    ax.set(title=f"{ds}: M1's pass@k on the improvement set IS(t)", xlabel="k (samples from M1)",
           ylabel="M1 pass@k on IS(t)", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    return _save(fig, out / f"is_passk_{ds}.png")


def plot_passk_curves(report: dict, ds: str, out: Path) -> str | None:
    """One panel per method: M1's and each round's pass@k on their common problems (95% bands), crossings dotted."""
    curves = report["datasets"][ds].get("passk_curves") or {}
    methods = {m: [lab for lab in labels if lab in curves] for m, labels in report["series"].items()}
    methods = {m: labels for m, labels in methods.items() if labels}
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(methods), figsize=(5.5 * len(methods), 4), squeeze=False)
    for ax, (method, labels) in zip(axes[0], methods.items()):
        for i, lab in enumerate(labels):
            e = curves[lab]
            ks = list(range(1, e["n_samples"] + 1))
            pairs = [("model", lab, f"C{i + 1}", "-")] + ([("m1", report["m1"], "C0", "--")] if i == len(labels) - 1 else [])
            for key, name, color, style in pairs:
                c = e["curves"][key]
                ax.plot(ks, c["pass_at_k"], style, color=color, label=name)
                ax.fill_between(ks, c["ci_low"], c["ci_high"], color=color, alpha=0.15)
            if e["crossing"]["k"] is not None:
                ax.axvline(e["crossing"]["k"], color=f"C{i + 1}", linestyle=":", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set(title=f"{ds}, {method}: pass@k vs M1 (dotted: crossing)", xlabel="k (samples)", ylabel="pass@k",
               ylim=(0, 1.02))
        ax.legend(fontsize=8)
    return _save(fig, out / f"passk_curves_{ds}.png")


def plot_diversity(report: dict, ds: str, out: Path) -> str | None:
    table = report["datasets"][ds]["diversity"]
    if not table:
        return None
    t_of = _t_of(report)
    metrics = [m for m in ("distinct_n", "sbert", "distinct_equations")
               if any(table[lab][kind].get(m) for lab in table for kind in ("correct", "incorrect"))]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method, labels in report["series"].items():
            for kind, style in (("correct", "-"), ("incorrect", "--")):
                pts = [(t_of[lab], table[lab][kind][metric]) for lab in labels
                       if lab in table and table[lab][kind].get(metric)]
                if pts:
                    _ci_line(ax, [p[0] for p in pts], [p[1] for p in pts], f"{method}, {kind}", linestyle=style)
        ax.set(title=f"{ds}: {metric}", xlabel="iteration t", ylabel=metric.replace("_", " "))
        ax.legend(fontsize=7)
    fig.suptitle("Diversity of sampled answers per question (solid: correct, dashed: incorrect)")
    return _save(fig, out / f"diversity_{ds}.png")


def plot_ood(report: dict, out: Path) -> str | None:
    if not report["ood"]:
        return None
    t_of = _t_of(report)
    fig, ax = plt.subplots(figsize=(6, 4))
    for ds, table in report["ood"].items():
        for method, labels in report["series"].items():
            labels = [lab for lab in labels if lab in table]
            if labels:
                _ci_line(ax, [t_of[lab] for lab in labels], [table[lab] for lab in labels], f"{ds} ({method})")
    ax.set(title="Out-of-distribution greedy pass@1 per iteration", xlabel="iteration t", ylabel="pass@1")
    ax.legend(fontsize=8)
    return _save(fig, out / "ood.png")


def plot_groups(report: dict, out: Path) -> list[str]:
    names = []
    for ds, table in report["groups"].items():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        for lab, e in table.items():
            levels = sorted(e["acc_by_level"], key=int)
            ax1.plot([int(lv) for lv in levels], [e["acc_by_level"][lv] for lv in levels], marker="o", label=lab)
        ax1.set(title=f"{ds}: greedy accuracy per difficulty level", xlabel="level", ylabel="pass@1")
        ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax1.legend(fontsize=8, title="checkpoint")
        labels = [lab for lab in table if table[lab]["group_disparity"]["value"] is not None]
        if labels:
            _ci_line(ax2, list(range(len(labels))), [table[lab]["group_disparity"] for lab in labels], "GD")
            ax2.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
            ax2.legend()
        ax2.set(title="group disparity (acc_low - acc_high) / acc_low", xlabel="checkpoint", ylabel="GD")
        names.append(_save(fig, out / f"groups_{ds}.png"))
    return names


def write_plots(report: dict, out: Path) -> list[str]:
    """Write every figure the data of `report` (as in report.json) supports; returns their file names."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    groups = report.get("task_groups") or {}
    in_groups = {t for sec in groups.get("sections", []) for t in sec["tasks"]}
    for ds in (d for d in report["datasets"] if d not in in_groups):  # grouped tasks: tables only
        names += [plot_pass1(report, ds, out), plot_is_passk(report, ds, out), plot_diversity(report, ds, out),
                  plot_passk_curves(report, ds, out)]
    names.append(plot_ood(report, out))
    names += plot_groups(report, out)
    return [n for n in names if n]
