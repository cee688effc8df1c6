"""The self-improvement loop of Wu, Li & Liu (ICLR 2025).

    M1  = SFT of the base model on the task's gold training solutions
    for t = 2..T:
        sample N completions per training question from M_{t-1}   -> samples_t.jsonl
        judge each with the task's verifier (harness_ext.verify)
        M_t = M_{t-1} trained by round t's update: on the correct samples (sft) or on (correct,
              incorrect) pairs with reference M_{t-1} (dpo); sft-dpo alternates dpo, sft, dpo, ...
        evaluate M_t greedily on the test split (pass@1)

An online update (grpo) samples nothing first: its trainer draws and judges completions while it
trains and writes them to the round's rollouts file instead. Each update (gold-sft, sft, dpo, grpo)
is an entry of the registry in selfimp_train.methods (its data and its TRL trainer); sampling,
judging and evaluation are selfimp_train.generation's.

Every stage is resumable: samples files and checkpoints are written atomically (tmp + rename)
and an iteration counts only once the manifest marks it complete.
"""
from __future__ import annotations

import random
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer

from harness_ext.distributed import process_state
from harness_ext.io import atomic_write_json, read_json, read_jsonl
from harness_ext.metrics import coverage
from harness_ext.run_format import ITERATION_RECORD, checkpoint_dir, rollouts_file, samples_file, tensorboard_dir
from selfimp_train import manifest as mf
from selfimp_train.config import TrainConfig
from selfimp_train.crash_points import crash_point, set_iteration
from selfimp_train.generation import evaluate, generate_judged, sampling
from selfimp_train.methods import ALL, GOLD_SFT, UPDATES, methods_of, round_update
from selfimp_train.models import base_model, base_tokenizer
from selfimp_train.samplers import free_accelerator_memory
from selfimp_train.stages import atomic_dir, timed
from selfimp_train.task_data import TaskData
from selfimp_train.task_loading import load_task
from selfimp_train.trainers import (TrainJob, UpdateResult, log_tensorboard_to, peft_config, save_unchanged,
                                   train_and_save)



@dataclass
class Iteration:
    """Where one model M_t comes from and goes to (paths relative to the run dir)."""

    t: int
    method: str  # the run's method family (sft, dpo, sft-dpo; "all" for a shared M1)
    update: str  # what trains it: a name in methods.UPDATES (gold-sft for M1)
    label: str
    checkpoint: str
    seed: int  # of its training (and of its DPO pairs)
    parent: str | None = None  # parent's label
    parent_checkpoint: str | None = None
    samples: str | None = None  # round t's samples from M_{t-1} (None: M1, or an online update)
    rollouts: str | None = None  # an online update's judged completions, drawn while it trains


def plan(cfg: TrainConfig) -> list[Iteration]:
    """All iterations of the run, parents before children."""
    shared = cfg.method == ALL
    steps = [Iteration(t=1, method=cfg.method, update=GOLD_SFT.name, label="M1", checkpoint=checkpoint_dir(1),
                       seed=cfg.seed)]
    for method in methods_of(cfg.method):
        parent = steps[0]
        for t in range(2, cfg.iters + 1):
            prefix = f"{method}/" if shared else ""
            # Round 2 samples M1, which every method shares: sample it once.
            samples = samples_file(2) if t == 2 else samples_file(t, prefix)
            update = round_update(method, t)
            online = UPDATES[update].online
            step = Iteration(
                t=t, method=method, update=update, label=f"{prefix.replace('/', '-')}M{t}",
                checkpoint=checkpoint_dir(t, prefix), seed=cfg.seed + t, parent=parent.label,
                parent_checkpoint=parent.checkpoint, samples=None if online else samples,
                rollouts=rollouts_file(t, prefix) if online else None,
            )
            steps.append(step)
            parent = step
    return steps


def sample_round(cfg: TrainConfig, data: TaskData, run_dir: Path, manifest: dict, step: Iteration) -> list[dict]:
    """Round t's judged samples from M_{t-1} (drawn by the main process; reused when its
    samples file is complete)."""
    path = run_dir / step.samples
    if not (path.is_file() and step.samples in manifest["samples"]) and process_state().is_main_process:
        start = time.perf_counter()
        questions = data.train
        if cfg.max_train_questions is not None and cfg.max_train_questions < len(questions):
            questions = random.Random(f"{cfg.seed}-questions-{step.t}").sample(questions, cfg.max_train_questions)
        ids = [q["id"] for q in questions]
        decoding = sampling(cfg, cfg.n_samples, seed=cfg.seed * 1000 + step.t, dtype=cfg.sample_dtype)
        generate_judged(cfg, data, run_dir / step.parent_checkpoint, ids, decoding, path)
        manifest["samples"][step.samples] = {"t": step.t, "model": step.parent, "n_questions": len(ids),
                                             "wall_time_s": round(time.perf_counter() - start, 2)}
        mf.save(run_dir, manifest)
    process_state().wait_for_everyone()
    manifest["samples"] = read_json(run_dir / mf.MANIFEST)["samples"]
    return read_jsonl(path)


def check_inputs(cfg: TrainConfig, data: TaskData) -> None:
    """Fail on bad input before anything is written: model source, M1's training set."""
    GOLD_SFT.build_data(cfg, data, None, base_tokenizer(cfg), cfg.seed)


def train(cfg: TrainConfig, data: TaskData, run_dir: Path, step: Iteration, records: list[dict] | None,
          save_dir: Path, scratch: Path) -> tuple[UpdateResult, dict]:
    """M_t = its update applied to M_{t-1} (M1: to the base model), saved to `save_dir`."""
    update = UPDATES[step.update]
    parent = run_dir / step.parent_checkpoint if step.parent_checkpoint else None
    if parent is None:
        model, tokenizer = base_model(cfg)
    else:
        tokenizer = AutoTokenizer.from_pretrained(parent)
        model = AutoModelForCausalLM.from_pretrained(parent)
    examples = update.build_data(cfg, data, records, tokenizer, step.seed)
    counts = {"n_train_examples": len(examples), **({"n_pairs": len(examples)} if update.pairwise else {})}
    if not examples:
        # Nothing to learn from (no correct sample / no question with both kinds): M_t = M_{t-1}.
        warnings.warn(f"round {step.t} ({step.label}): no {step.update.upper()} training data in {step.samples}; "
                      f"{step.label} is a copy of {step.parent}", stacklevel=2)
        return save_unchanged(model, tokenizer, save_dir), counts
    args = update.trl_config(cfg, data, step.seed, scratch, run_name=f"{cfg.run_name}/{step.label}")
    job = TrainJob(model, tokenizer, examples, args, peft=peft_config(cfg), parent=parent, data=data,
                   rollouts=run_dir / step.rollouts if step.rollouts else None)
    trainer = update.make_trainer(job)
    log_tensorboard_to(trainer, run_dir / tensorboard_dir(step.label))
    return train_and_save(trainer, save_dir, cfg.lora, update.stats), counts


def sample_stats(records: list[dict], n: int | None) -> dict[str, Any]:
    """Counts of judged samples; coverage (mean share correct) needs n samples per question."""
    per_question: dict[str, int] = {}
    for r in records:
        per_question[r["question_id"]] = per_question.get(r["question_id"], 0) + int(r["correct"])
    return {
        "n_questions_sampled": len(per_question),
        "n_samples": len(records),
        "n_correct": sum(per_question.values()),
        "coverage": coverage(list(per_question.values()), n) if per_question and n else None,
    }


def build_iteration(cfg: TrainConfig, data: TaskData, run_dir: Path, manifest: dict, step: Iteration) -> dict:
    """Sample (t >= 2), train, save, evaluate one model; returns its manifest record. Crash-safe:
    the checkpoint is written to <checkpoint>.tmp, which only a final rename makes visible."""
    set_iteration(step.t)
    record: dict[str, Any] = {"t": step.t, "method": step.method, "update": step.update, "label": step.label,
                              "parent": step.parent, "checkpoint": step.checkpoint, "samples": step.samples,
                              "rollouts": step.rollouts, "n_questions_sampled": 0, "n_samples": 0, "n_correct": 0,
                              "n_pairs": 0, "coverage": None, "wall_time_s": {}}
    times = record["wall_time_s"]
    records = None
    if step.samples:
        records = sample_round(cfg, data, run_dir, manifest, step)
        record.update(sample_stats(records, cfg.n_samples))
        times["sampling"] = manifest["samples"][step.samples]["wall_time_s"]
    with atomic_dir(run_dir / step.checkpoint) as checkpoint:
        with timed(times, "training"), tempfile.TemporaryDirectory(prefix="selfimp-trainer-") as scratch:
            result, counts = train(cfg, data, run_dir, step, records, checkpoint, Path(scratch))
        times["training"] = round(times["training"] - result.save_time_s, 2)
        times["saving"] = round(result.save_time_s, 2)
        free_accelerator_memory()
        record.update(counts, train_loss=result.train_loss, train_steps=result.steps, **result.stats)
        if step.rollouts:  # an online round: what it drew while training (coverage is the parent's: none)
            record.update(sample_stats(read_jsonl(run_dir / step.rollouts), None))
        crash_point("saving")
        if process_state().is_main_process:
            with timed(times, "eval"):
                record["eval"] = evaluate(cfg, data, checkpoint)
            atomic_write_json(checkpoint / ITERATION_RECORD, record)
    return read_json(run_dir / step.checkpoint / ITERATION_RECORD)


def progress_line(record: dict) -> str:
    def fmt(x):
        return "-" if x is None else f"{x:.4g}"

    return (f"[{record['label']}] pass@1={fmt(record['eval'].get('pass@1'))} coverage={fmt(record['coverage'])} "
            f"train_loss={fmt(record['train_loss'])} time={sum(record['wall_time_s'].values()):.1f}s")


def run(cfg: TrainConfig, log=print) -> dict:
    """Run (or resume) the whole loop; returns the final manifest. Under `accelerate launch`
    every process trains; the main process alone samples, evaluates and writes files."""
    state = process_state()
    data = load_task(cfg)
    check_inputs(cfg, data)
    manifest = mf.open_manifest(cfg, data.eval) if state.is_main_process else None
    state.wait_for_everyone()
    manifest = manifest or read_json(cfg.run_dir / mf.MANIFEST)
    run_dir = cfg.run_dir
    for step in plan(cfg):
        if mf.completed(manifest, step.label):
            continue
        saved = run_dir / step.checkpoint / ITERATION_RECORD
        # A crash between the checkpoint's rename and the manifest update: the checkpoint is complete.
        record = read_json(saved) if saved.is_file() else build_iteration(cfg, data, run_dir, manifest, step)
        if state.is_main_process:
            mf.add_iteration(run_dir, manifest, record)
            log(progress_line(record))
        state.wait_for_everyone()
        manifest = read_json(run_dir / mf.MANIFEST)
    return manifest
