"""What bounds the embedded job's wall time on this machine (target <= 10 min; docs/embedded-job.md
"Where the time goes").

Measures, in one run, the unit costs the embedded job is made of, and the floor they imply:
- M1's gold SFT: seconds per epoch of TRL's `SFTTrainer` with the embedded preset's settings, vs a
  plain torch loop (forward, backward, clip, AdamW) over the very same batches: the trainer's
  overhead, and how compute-bound the epoch is;
- greedy generation (`HFSampler`, the trainer's eval and IS probe): sequences/s at batch 256 and
  1024, with 1 and 2 torch threads, and with eager instead of SDPA attention (each setting timed
  twice, interleaved, best kept: single timings here swing by 10-30%).
The floor: install excluded, the preset's M1 epochs and rounds at these rates, plus the cost per
test problem (greedy eval in the trainer and again in the sweep, plus M1's IS probe).

    python benchmarks/bench_embedded_floor.py --checkpoint runs/embedded/iter_1
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args, timed  # noqa: E402


def sft_epoch_seconds(examples: int) -> tuple[float, float]:
    """(SFTTrainer, plain loop) seconds for one epoch of M1's gold SFT on `examples` examples."""
    import torch

    from selfimp_train.config import parse_config
    from selfimp_train.methods import GOLD_SFT
    from selfimp_train.models import base_model
    from selfimp_train.task_loading import load_task
    from selfimp_train.trainers import TrainJob, sft_trainer

    cfg = parse_config(["--iters", "1", "--m1_epochs", "1", "--m1_max_examples", str(examples), "--out", "unused"])
    data = load_task(cfg)

    def fresh_trainer(scratch: str):  # a newly initialised model each time, the same batches
        model, tokenizer = base_model(cfg)
        gold = GOLD_SFT.build_data(cfg, data, None, tokenizer, cfg.seed)
        return sft_trainer(TrainJob(model, tokenizer, gold, GOLD_SFT.trl_config(cfg, data, cfg.seed, Path(scratch))))

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        trainer = fresh_trainer(scratch)
        with timed(seconds, "trainer"):
            trainer.train()
        plain = fresh_trainer(scratch)
        model, batches = plain.model.train(), list(plain.get_train_dataloader())
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.m1_learning_rate)
        with timed(seconds, "plain"):
            for b in batches:
                model(input_ids=b["input_ids"], attention_mask=b.get("attention_mask"), labels=b["labels"]).loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
    return seconds["trainer"], seconds["plain"]


def greedy_rate(checkpoint: Path, prompts: list[str], batch: int, threads: int, attn: str, stop: list[str]) -> float:
    """Greedy sequences/s of `HFSampler` (the trainer's eval and probe path) on `prompts`."""
    import torch

    from selfimp_train.samplers import HFSampler

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    seconds: dict[str, float] = {}
    try:
        sampler = HFSampler(checkpoint, dtype="float32", batch_size=batch, seed=0)
        sampler.model.set_attn_implementation(attn)
        sampler.generate(prompts[:batch], 1, 0.0, 1.0, 8, stop)  # warm-up
        with timed(seconds, "generate"):
            sampler.generate(prompts, 1, 0.0, 1.0, 128, stop)
        return len(prompts) / seconds["generate"]
    finally:
        torch.set_num_threads(before)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a trained embedded checkpoint (e.g. runs/embedded/iter_1); default: the "
                                        "untrained tiny Llama, which generates all 128 tokens and so understates rates")
    p.add_argument("--examples", type=int, default=3000, help="gold SFT examples per epoch (preset: 3000)")
    p.add_argument("--prompts", type=int, default=3000, help="test prompts per generation measurement")
    p.add_argument("--is-fraction", type=float, default=0.11,
                   help="share of the test split in M1's IS probe (330 of 3,000 in the README's run)")
    args = parse_bench_args(p, {"examples": 64, "prompts": 32})
    import torch

    from bench_sampler import tiny_checkpoint
    from selfimp_train.config import EMBEDDED_PRESET, parse_config
    from selfimp_train.task_loading import load_task

    rep = Report("embedded job: unit costs and the floor they imply")
    trainer_s, plain_s = sft_epoch_seconds(args.examples)
    rep.add("M1 gold SFT, SFTTrainer, one epoch", trainer_s, "s")
    rep.add("M1 gold SFT, plain torch loop, same batches", plain_s, "s")
    rep.add("SFTTrainer / plain loop", trainer_s / plain_s, "x")

    data = load_task(parse_config(["--iters", "1", "--out", "unused"]))
    prompts = [data.prompts[r["id"]] for r in data.test][: args.prompts]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(Path(tmp))
        threads = min(2, torch.get_num_threads())
        settings = ((256, threads, "sdpa"), (1024, threads, "sdpa"), (256, 1, "sdpa"), (256, threads, "eager"))
        rates: dict = {}
        for _ in range(2):
            for b, t, a in settings:
                rates[(b, t, a)] = max(rates.get((b, t, a), 0.0), greedy_rate(checkpoint, prompts, b, t, a, data.stop))
    base = rates[(256, threads, "sdpa")]
    rep.add(f"greedy, batch 256, {threads} threads, sdpa", base, "seq/s")
    rep.add("greedy, batch 1024 / batch 256", rates[(1024, threads, "sdpa")] / base, "x")
    rep.add(f"greedy, {threads} threads / 1 thread", base / rates[(256, 1, "sdpa")], "x")
    rep.add("greedy, eager / sdpa attention", rates[(256, threads, "eager")] / base, "x")

    preset = EMBEDDED_PRESET
    epoch = plain_s * preset["m1_max_examples"] / args.examples
    rounds = 4 * preset["max_train_questions"] * preset["n_samples"] / base  # sampling only: no training, no I/O
    per_problem = (10 + preset["is_samples"] * args.is_fraction) / base  # 5 trainer + 5 sweep greedy, IS probe
    fixed = preset["m1_epochs"] * epoch + rounds
    rep.add(f"floor without test problems: {preset['m1_epochs']:.0f} M1 epochs (plain loop) + 4 rounds' samples", fixed, "s")
    rep.add(f"cost per test problem: 10 greedy + {preset['is_samples']} x {args.is_fraction} probe samples", per_problem, "s")
    rep.add(f"floor at {preset['eval_max_questions']} test problems (install, sweep's sampled task, report excluded)",
            fixed + preset["eval_max_questions"] * per_problem, "s")
    rep.finish(args.json)


if __name__ == "__main__":
    main()
