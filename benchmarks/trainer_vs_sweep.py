"""Per problem: the trainer's greedy completions (`iter_t/eval_greedy.jsonl`, from its sampler) vs
the sweep's `selfimp_<task>_pass1` samples (lm-eval's model) of every checkpoint of a run.

    selfimp-eval sweep runs/smollm2-arith --tasks selfimp_arith_pass1 --regenerate-greedy --out runs/smollm2-arith/sweep-regen
    python benchmarks/trainer_vs_sweep.py runs/smollm2-arith --sweep runs/smollm2-arith/sweep-regen

A sweep made without --regenerate-greedy scores the trainer's own completions (harness_ext.replay):
its checkpoints are listed as replayed, not compared.

Prints, per checkpoint, the problems compared and how many completions and verdicts differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness_ext.io import read_json, read_jsonl
from harness_ext.report.lmeval_results import read_run_results
from harness_ext.run_format import TRAINER_GREEDY_MODEL
from harness_ext.samples import read_sample_logs


def compare(run: Path, sweep: Path) -> list[dict]:
    manifest = read_json(run / "manifest.json")
    task = f"selfimp_{manifest['task']}_pass1"
    rows = []
    for it in manifest["iterations"]:
        if not (sweep / it["label"]).is_dir():
            rows.append({"label": it["label"], "problems": 0, "note": "not in the sweep (yet)"})
            continue
        if read_run_results(sweep / it["label"]).models.get(task) == TRAINER_GREEDY_MODEL:
            rows.append({"label": it["label"], "problems": 0, "note": "replayed: the trainer's own completions"})
            continue
        trainer = read_jsonl(run / it["checkpoint"] / "eval_greedy.jsonl")
        docs = read_sample_logs(sweep / it["label"])[task].docs
        pairs = [(r, docs[r["question_id"]].samples[0]) for r in trainer]
        rows.append({"label": it["label"], "problems": len(pairs),
                     "texts_differ": sum(r["completion"] != s.text for r, s in pairs),
                     "verdicts_differ": sum(r["correct"] != s.correct for r, s in pairs),
                     "pass@1 trainer / sweep": (sum(r["correct"] for r, _ in pairs) / len(pairs),
                                                sum(s.correct for _, s in pairs) / len(pairs))})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--sweep", type=Path, help="sweep dir (default: RUN/sweep)")
    args = parser.parse_args()
    for row in compare(args.run, args.sweep or args.run / "sweep"):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
