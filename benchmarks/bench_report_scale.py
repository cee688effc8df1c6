"""`selfimp-report` at the paper's size: this tree's report cold (empty embedding cache), warm (the
same sweep again) and with one added checkpoint, side by side with the report of `--baseline` (the
code before the embedding cache, unpacked with `git archive` into a temp dir: its time), in one run.
The numbers and verdicts are held against this tree's own report without the cache, torch in
float32 (the baseline's verdicts are not: the report's tests changed after it); `--sbert-backend`
and `--sbert-dtype` choose this tree's encoder for the cold, warm and +1 runs.

The sweep: `--checkpoints` models (M1 + SFT rounds) x `--problems` GSM8K test problems, a greedy
log and a diversity log of `--samples` samples per problem each. Each sample is a real GSM8K
solution: the problem's own gold solution with one line swapped for a line of another training
solution (realistic lengths, every text distinct, as real samples mostly are), correct with
probability 0.6. Figures: wall time and peak RSS of each `selfimp-report` process, what it encoded
and read from the cache, and whether its verdicts and diversity numbers match the uncached report's.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, Report, data_dir, parse_bench_args, rows  # noqa: E402

BASELINE = "033a05d"  # the last commit before the embedding cache (issue 40)
DATE = "2026-12-05T00-00-00.000000"


def log_line(doc_id: int, doc: dict, samples: list[tuple[str, bool]]) -> str:
    records = [json.dumps({"text": t, "answer": doc["answer"].split("#### ")[-1] if c else "0", "correct": c})
               for t, c in samples]
    return json.dumps({"doc_id": doc_id, "doc": doc, "resps": [[t for t, _ in samples]],
                       "filtered_resps": [records], "filter": "verify"}) + "\n"


def build_sweep(root: Path, n_checkpoints: int, n_problems: int, n_samples: int, seed: int = 0) -> Path:
    """A sweep dir of `n_checkpoints` SFT checkpoints (see the module docstring)."""
    rng = random.Random(seed)
    test = rows("gsm8k", "test")[:n_problems]
    spare = [line for row in rows("gsm8k", "train") for line in row["answer"].split("\n")[:-1]]
    seen: set[str] = set()

    def sample(gold: str) -> str:
        while True:
            lines = gold.split("\n")
            lines[rng.randrange(max(1, len(lines) - 1))] = rng.choice(spare)
            if (text := "\n".join(lines)) not in seen:
                seen.add(text)
                return text

    checkpoints = []
    for t in range(1, n_checkpoints + 1):
        label = "M1" if t == 1 else f"sft_{t}"
        out = root / label / "model"
        out.mkdir(parents=True)
        docs = [{"id": row["id"], "question": row["question"], "answer": row["answer"]} for row in test]
        (out / f"samples_selfimp_gsm8k_pass1_{DATE}.jsonl").write_text("".join(
            log_line(i, d, [(d["answer"], rng.random() < 0.5)]) for i, d in enumerate(docs)))
        (out / f"samples_selfimp_gsm8k_diversity_{DATE}.jsonl").write_text("".join(
            log_line(i, d, [(sample(d["answer"]), rng.random() < 0.6) for _ in range(n_samples)])
            for i, d in enumerate(docs)))
        checkpoints.append({"label": label, "path": f"runs/x/{label}", "t": t, "method": "sft"})
    write_sweep_json(root, checkpoints, n_samples)
    return root


def write_sweep_json(root: Path, checkpoints: list[dict], n_samples: int) -> None:
    (root / "sweep.json").write_text(json.dumps({"source": "runs/x", "train_task": "gsm8k", "tasks": [],
                                                  "n": n_samples, "checkpoints": checkpoints}))


def run_report(code: Path, sweep: Path, out: Path, extra: list[str]) -> dict:
    """One `selfimp-report` process of the code at `code`: wall and CPU time, peak RSS, its output."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-c", "import sys; from harness_ext.report import main; sys.exit(main())",
           str(sweep), "--out", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=code, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"selfimp-report of {code} failed:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_gib": usage.ru_maxrss / 2**20,
            "stdout": stdout,
            "report": json.loads((out / "report.json").read_text())}


def diversity_numbers(report: dict) -> dict[str, float]:
    """Every Sentence-BERT diversity number of a report, by its path."""
    out = {}
    for ds, d in report["datasets"].items():
        for label, entry in d["diversity"].items():
            for kind in ("correct", "incorrect"):
                if (est := entry[kind].get("sbert")) is not None:
                    out[f"{ds}/{label}/{kind}"] = est["value"]
        for label, entry in d["matched_diversity"].items():
            for kind in ("correct", "incorrect"):
                for side in ("before", "after"):
                    if (value := (entry[kind].get("sbert") or {}).get(side)) is not None:
                        out[f"{ds}/matched {label}/{kind}/{side}"] = value
    return out


def verdict_rows(report: dict) -> list[tuple]:
    keys = ("axis", "dataset", "method", "compare", "measure", "verdict")
    return [tuple(v.get(k) for k in keys) for v in report["verdicts"]]


def compare(report: dict, baseline: dict) -> tuple[float, bool]:
    """(max |diversity - the reference's|, whether every verdict is the reference's)."""
    new, old = diversity_numbers(report), diversity_numbers(baseline)
    if new.keys() != old.keys():
        raise SystemExit(f"diversity numbers differ in kind: {sorted(new.keys() ^ old.keys())[:5]}")
    gap = max((abs(new[k] - old[k]) for k in new), default=math.nan)
    return gap, verdict_rows(report) == verdict_rows(baseline)


def duplicate_share(sweep: str) -> tuple[int, int]:
    """(sample texts, distinct ones) over the logs each checkpoint's diversity is computed from
    (its diversity log, else its sampled log), of a sweep or run dir."""
    from harness_ext.report.analysis import dataset_logs
    from harness_ext.report.inputs import load_inputs

    texts = [s.text for ck in load_inputs([sweep]).checkpoints for logs in dataset_logs(ck).values()
             if logs.diversity for record in logs.diversity.docs.values() for s in record.samples]
    return len(texts), len(set(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=5, help="paper: M1 + 4 rounds")
    parser.add_argument("--problems", type=int, default=1319, help="paper: all GSM8K test problems")
    parser.add_argument("--samples", type=int, default=50, help="samples per problem in the diversity log")
    parser.add_argument("--sbert-dtype", default="float32", help="this tree's --sbert-dtype (the baseline: float32)")
    parser.add_argument("--sbert-backend", default="torch", help="this tree's --sbert-backend (the baseline: torch)")
    parser.add_argument("--baseline", default=BASELINE, help="commit of the report to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline's run")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip this tree's uncached torch float32 report (the numbers' reference)")
    parser.add_argument("--workdir", help="a new directory to build and keep the sweep, reports and cache in "
                                          "(default: a temp dir, removed)")
    parser.add_argument("--duplicates", metavar="SWEEP", help="only print the duplicate share of SWEEP's diversity "
                                                              "sample texts (e.g. the embedded job's sweep)")
    args = parse_bench_args(parser, {"checkpoints": 3, "problems": 12, "samples": 6})
    os.environ.setdefault("SELFIMP_DATA_DIR", str(data_dir()))
    if args.duplicates:
        report = Report("duplicate sample texts of a sweep's diversity logs")
        total, distinct = duplicate_share(args.duplicates)
        report.add("diversity sample texts", total)
        report.add("distinct", distinct)
        report.add("duplicate share (encoded once)", 1 - distinct / total if total else math.nan)
        return report.finish(args.json)
    report = Report("selfimp-report at paper scale: embedding cache vs the report before it")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True)  # refuses an existing one: its cache would make "cold" warm
    keep = contextlib.nullcontext(args.workdir) if args.workdir else None
    with keep or tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        tmp = Path(tmp)
        sweep = build_sweep(tmp / "sweep", args.checkpoints + 1, args.problems, args.samples)
        sweep_json = json.loads((sweep / "sweep.json").read_text())
        added = sweep_json["checkpoints"]
        write_sweep_json(sweep, added[:-1], args.samples)  # paper size; the last one is added later
        n_texts = args.checkpoints * args.problems * args.samples
        report.add("sweep", f"{args.checkpoints} checkpoints x {args.problems} problems x {args.samples} samples "
                            f"= {n_texts} diversity texts, all distinct")
        new = ["--sbert-dtype", args.sbert_dtype, "--sbert-backend", args.sbert_backend,
               "--embedding-cache", str(tmp / "cache")]
        this = tmp / "this"  # a copy: edits to the tree while this runs do not mix into its figures
        for package in ("harness_ext", "lm_eval_tasks"):
            shutil.copytree(REPO / package, this / package, ignore=shutil.ignore_patterns("__pycache__"))
        runs = {"cold": run_report(this, sweep, tmp / "cold", new), "warm": run_report(this, sweep, tmp / "warm", new)}
        write_sweep_json(sweep, added, args.samples)
        runs["+1 checkpoint"] = run_report(this, sweep, tmp / "added", new)
        write_sweep_json(sweep, added[:-1], args.samples)
        old = None
        if not args.no_baseline:
            code = tmp / "baseline"
            code.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=REPO, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
            old = run_report(code, sweep, tmp / "old", ["--sbert-dtype", "float32"])
            report.add(f"baseline {args.baseline} (no cache: every run is cold)", old["wall_s"], "s")
            report.add(f"baseline {args.baseline} CPU time", old["cpu_s"], "s")
            report.add(f"baseline {args.baseline} peak RSS", old["peak_gib"], "GiB")
        for name, run in runs.items():
            cache_line = next((ln for ln in run["stdout"].splitlines() if ln.startswith("Sentence-BERT:")), "")
            report.add(f"{name}: wall", run["wall_s"], "s")
            report.add(f"{name}: CPU time", run["cpu_s"], "s")
            report.add(f"{name}: peak RSS", run["peak_gib"], "GiB")
            report.add(f"{name}: cache", cache_line.split(" read from")[0].removeprefix("Sentence-BERT: ") + " read")
            if old is not None:
                report.add(f"{name}: baseline / this, wall | CPU",
                           f"{old['wall_s'] / run['wall_s']:.3g} | {old['cpu_s'] / run['cpu_s']:.3g}", "x")
        if not args.no_reference:
            ref = run_report(this, sweep, tmp / "uncached", ["--sbert-dtype", "float32", "--sbert-backend", "torch",
                                                              "--embedding-cache", "off"])
            report.add("this tree without the cache (torch float32): wall", ref["wall_s"], "s")
            report.add("this tree without the cache (torch float32): CPU time", ref["cpu_s"], "s")
            for name in ("cold", "warm"):
                gap, same = compare(runs[name]["report"], ref["report"])
                report.add(f"{name}: max |SBERT diversity - uncached float32's|", gap)
                report.add(f"{name}: verdicts",
                           "same as without the cache" if same else "DIFFER from without the cache")
        else:
            gap, same = compare(runs["warm"]["report"], runs["cold"]["report"])
            report.add("warm: max |SBERT diversity - cold's|", gap)
            report.add("warm: verdicts", "same as cold's" if same else "DIFFER from cold's")
        report.finish(args.json)


if __name__ == "__main__":
    main()
