"""Non-inference cost of one self-improvement round, as a fraction of its sampling time.

Runs one real round of the embedded loop with the training package's own functions: sample N
answers per training question from a checkpoint (HF sampler), then times verify (judge), filter +
pair building (SFT examples and DPO pairs) and file I/O (samples JSONL written atomically and read
back, manifest saved). Target: all of these < 5% of sampling. With --run, the checkpoint is that
run's M1 (iter_1) and its manifest's per-stage wall times are printed too; without it, a random
tiny Llama (its samples are all wrong, so pair building has nothing to do: use --run for figures).

    bash benchmarks/bench_e2e.sh e2e && python benchmarks/bench_loop_overhead.py --run e2e/run
    python benchmarks/bench_loop_overhead.py --quick
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, data_dir, parse_bench_args, timed  # noqa: E402


def one_round(checkpoint: Path, workdir: Path, questions: int | None, n: int, report: Report) -> None:
    from harness_ext.io import atomic_write_json, atomic_write_jsonl, read_jsonl
    from selfimp_train.config import parse_config
    from selfimp_train.generation import judge, make_sampler, sampling
    from selfimp_train.task_loading import load_task
    from selfimp_train.pairs import dpo_pairs, sft_examples

    argv = ["--data_dir", str(data_dir()), "--n_samples", str(n)]
    if questions:
        argv += ["--max_train_questions", str(questions)]
    cfg = parse_config(argv)
    data = load_task(cfg)
    ids = [q["id"] for q in data.train[: cfg.max_train_questions]]
    t: dict[str, float] = {}
    with timed(t, "sampling"):
        sampler = make_sampler(cfg, checkpoint, sampling(cfg, cfg.n_samples, seed=0, dtype=cfg.sample_dtype))
        completions = sampler.generate([data.prompts[i] for i in ids], cfg.n_samples, cfg.temperature,
                                       cfg.top_p, data.max_new_tokens, data.stop)
        sampler.close()
    with timed(t, "verify"):
        records = judge(data, ids, completions)
    with timed(t, "filter + pairs"):
        examples = sft_examples(records, data.prompts)
        pairs = dpo_pairs(records, data.prompts, cfg.max_pairs_per_question, seed=0)
    with timed(t, "file I/O"):
        atomic_write_jsonl(workdir / "samples_2.jsonl", records)
        read_jsonl(workdir / "samples_2.jsonl")
        atomic_write_json(workdir / "manifest.json", {"config": cfg.to_dict(), "samples": len(records)})
    report.add("questions x samples", f"{len(ids)} x {cfg.n_samples}")
    report.add("correct samples", sum(r["correct"] for r in records))
    report.add("SFT examples / DPO pairs", f"{len(examples)} / {len(pairs)}")
    for stage, seconds in t.items():
        report.add(f"{stage} (this machine)", seconds, "s")
    overhead = t["verify"] + t["filter + pairs"] + t["file I/O"]
    for stage in ("verify", "filter + pairs", "file I/O"):
        report.add(f"{stage} / sampling", t[stage] / t["sampling"])
    report.add("verify + filter + pairs + file I/O / sampling", overhead / t["sampling"], "(target < 0.05)")


def manifest_stages(run: Path, report: Report) -> None:
    """The run's own per-stage wall times, summed over its iterations."""
    from harness_ext.io import read_json

    manifest = read_json(run / "manifest.json")
    stages: dict[str, float] = {}
    for it in manifest["iterations"]:
        for stage, seconds in it.get("wall_time_s", {}).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    total = sum(stages.values())
    for stage, seconds in stages.items():
        report.add(f"manifest {stage} share ({run.name}, this machine: {seconds:.1f} s)", seconds / total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a selfimp-train run dir: sample from its iter_1 (M1)")
    parser.add_argument("--questions", type=int, help="training questions (default: the preset's 400)")
    parser.add_argument("--n", type=int, default=8, help="samples per question (embedded preset: 8)")
    args = parse_bench_args(parser, {"questions": 4, "n": 2})
    report = Report("bench_loop_overhead: one round's non-inference cost vs sampling")
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        if args.run:
            checkpoint = args.run / "iter_1"
            report.add("model", f"{checkpoint} (trained M1)")
        else:
            from bench_sampler import tiny_checkpoint

            checkpoint = tiny_checkpoint(Path(tmp) / "tiny")
            report.add("model", "random-init tiny Llama (no --run given: every sample is wrong)")
        one_round(checkpoint, Path(tmp), args.questions, args.n, report)
        if args.run:
            manifest_stages(args.run, report)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
