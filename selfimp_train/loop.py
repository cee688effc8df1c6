"""The self-improvement loop of Wu, Li & Liu (ICLR 2025).

    M1  = SFT of the base model on the task's gold training solutions
    for t = 2..T:
        sample N completions per training question from M_{t-1}   -> samples_t.jsonl
        judge each with the task's verifier (harness_ext.verify)
        M_t = M_{t-1} trained on the correct samples (sft) or on (correct, incorrect)
              pairs with reference M_{t-1} (dpo); sft-dpo alternates dpo, sft, dpo, ...
        evaluate M_t greedily on the test split (pass@1)

Every stage is resumable: samples files and checkpoints are written atomically (tmp + rename)
and an iteration counts only once the manifest marks it complete.
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoModelForCausalLM, AutoTokenizer

from harness_ext.data import load_rows
from harness_ext.distributed import process_state
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting, default_device
from harness_ext.io import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl
from harness_ext.metrics import coverage
from harness_ext.prompts import chat_prompt, gold_completion, prompt
from harness_ext.verify import Verifier, get_verifier
from selfimp_train import manifest as mf
from selfimp_train.config import TrainConfig
from selfimp_train.crash_points import crash_point, set_iteration
from selfimp_train.models import load_model, load_tokenizer
from selfimp_train.pairs import dpo_pairs, round_update, sft_examples
from selfimp_train.samplers import HFSampler, Sampler, VLLMSampler, free_accelerator_memory
from selfimp_train.tiny_model import build_tiny_llama, build_tokenizer
from selfimp_train.trainers import UpdateResult, save_unchanged, train_dpo, train_sft

METHODS_OF_ALL = ("sft", "dpo", "sft-dpo")
ITERATION_RECORD = "selfimp_iteration.json"  # the iteration's manifest record, inside its checkpoint
EVAL_RECORDS = "eval_greedy.jsonl"  # greedy test completions of a checkpoint


@dataclass
class TaskData:
    """Everything the loop needs from the task: rows, prompts, verifier, generation limits."""

    name: str
    train: list[dict]
    test: list[dict]
    prompts: dict[str, str]
    references: dict[str, Any]
    verifier: Verifier
    stop: list[str]
    max_new_tokens: int
    eval: EvalSetting  # greedy eval and the IS probe (recorded in manifest.json)


def evaluation_setting(cfg: TrainConfig) -> EvalSetting:
    """The run's one greedy-evaluation setting (manifest.json's `eval_setting`)."""
    return EvalSetting.for_task(cfg.task, backend=cfg.sampler, dtype=cfg.eval_dtype, device=default_device(),
                                batch_size=cfg.eval_batch_size, max_new_tokens=cfg.max_new_tokens,
                                max_questions=cfg.eval_max_questions, chat_template=cfg.apply_chat_template)


def load_task(cfg: TrainConfig) -> TaskData:
    train = load_rows(cfg.task, "train", cfg.data_dir)
    test = load_rows(cfg.task, "test", cfg.data_dir)
    if cfg.eval_max_questions is not None:
        test = test[: cfg.eval_max_questions]
    if not train:
        raise SelfimpError(f"--task {cfg.task}: the training split is empty")
    verifier = get_verifier(cfg.task)
    rows = train + test
    setting = evaluation_setting(cfg)
    prompts = {r["id"]: prompt(cfg.task, r) for r in rows}
    if cfg.apply_chat_template:
        tokenizer = base_tokenizer(cfg)
        prompts = {qid: chat_prompt(tokenizer, text) for qid, text in prompts.items()}
    return TaskData(
        name=cfg.task,
        train=train,
        test=test,
        prompts=prompts,
        references={r["id"]: verifier.reference(r) for r in rows},
        verifier=verifier,
        stop=list(setting.stop),
        max_new_tokens=setting.max_new_tokens,
        eval=setting,
    )


@dataclass
class Iteration:
    """Where one model M_t comes from and goes to (paths relative to the run dir)."""

    t: int
    method: str  # the run's method family (sft, dpo, sft-dpo; "all" for a shared M1)
    update: str  # what trains it: gold-sft (M1), sft or dpo
    label: str
    checkpoint: str
    parent: str | None = None  # parent's label
    parent_checkpoint: str | None = None
    samples: str | None = None


def plan(cfg: TrainConfig) -> list[Iteration]:
    """All iterations of the run, parents before children."""
    methods = METHODS_OF_ALL if cfg.method == "all" else (cfg.method,)
    shared = cfg.method == "all"
    steps = [Iteration(t=1, method=cfg.method, update="gold-sft", label="M1", checkpoint="iter_1")]
    for method in methods:
        parent = steps[0]
        for t in range(2, cfg.iters + 1):
            prefix = f"{method}/" if shared else ""
            # Round 2 samples M1, which every method shares: sample it once.
            samples = "samples_2.jsonl" if t == 2 else f"{prefix}samples_{t}.jsonl"
            step = Iteration(
                t=t, method=method, update=round_update(method, t), label=f"{prefix.replace('/', '-')}M{t}",
                checkpoint=f"{prefix}iter_{t}", parent=parent.label, parent_checkpoint=parent.checkpoint,
                samples=samples,
            )
            steps.append(step)
            parent = step
    return steps


def make_sampler(cfg: TrainConfig, checkpoint: Path, seed: int, dtype: str, batch_size: int) -> Sampler:
    """The --sampler backend; `batch_size` counts sequences per HF generate call."""
    if cfg.sampler == "vllm":
        return VLLMSampler(checkpoint, dtype=dtype, seed=seed, tensor_parallel_size=cfg.tensor_parallel_size,
                           data_parallel_size=cfg.data_parallel_size, engine_kwargs=cfg.vllm_engine_kwargs())
    return HFSampler(checkpoint, dtype=dtype, batch_size=batch_size, seed=seed)


def judge(data: TaskData, question_ids: list[str], completions: list[list[str]]) -> list[dict]:
    """One record per completion: {question_id, completion, answer, correct}."""
    flat = [(qid, text) for qid, texts in zip(question_ids, completions) for text in texts]
    records = data.verifier.records([text for _, text in flat], [data.references[qid] for qid, _ in flat])
    return [{"question_id": qid, "completion": text, "answer": r["answer"], "correct": r["correct"]}
            for (qid, text), r in zip(flat, records)]


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
        sampler = make_sampler(cfg, run_dir / step.parent_checkpoint, seed=cfg.seed * 1000 + step.t,
                               dtype=cfg.sample_dtype, batch_size=cfg.sample_batch_size * cfg.n_samples)
        completions = sampler.generate([data.prompts[i] for i in ids], cfg.n_samples, cfg.temperature, cfg.top_p,
                                       data.max_new_tokens, data.stop)
        sampler.close()
        atomic_write_jsonl(path, judge(data, ids, completions))
        manifest["samples"][step.samples] = {"t": step.t, "model": step.parent, "n_questions": len(ids),
                                             "wall_time_s": round(time.perf_counter() - start, 2)}
        mf.save(run_dir, manifest)
    process_state().wait_for_everyone()
    manifest["samples"] = read_json(run_dir / mf.MANIFEST)["samples"]
    return read_jsonl(path)


def evaluate(cfg: TrainConfig, data: TaskData, checkpoint: Path) -> dict[str, Any]:
    """Greedy pass@1 on the test questions in the run's evaluation setting; the completions go to
    <checkpoint>/eval_greedy.jsonl."""
    if not data.test:
        return {}
    ids = [r["id"] for r in data.test]
    setting = data.eval
    sampler = make_sampler(cfg, checkpoint, seed=cfg.seed, dtype=setting.dtype, batch_size=setting.batch_size)
    completions = sampler.generate([data.prompts[i] for i in ids], 1, 0.0, 1.0, setting.max_new_tokens,
                                   list(setting.stop))
    sampler.close()
    records = judge(data, ids, completions)
    atomic_write_jsonl(checkpoint / EVAL_RECORDS, records)
    return {"pass@1": sum(r["correct"] for r in records) / len(records), "n": len(records), "split": "test"}


def base_tokenizer(cfg: TrainConfig):
    """The tokenizer of the model M1 starts from."""
    if cfg.model is None and not cfg.embedded:
        raise SelfimpError(f"--model: required for --task {cfg.task} (the embedded tiny model knows only arith)")
    return build_tokenizer() if cfg.embedded else load_tokenizer(cfg.model)


def base_model(cfg: TrainConfig):
    """The model M1 starts from: the embedded tiny Llama, or --model."""
    if cfg.embedded:
        tokenizer = build_tokenizer()
        return build_tiny_llama(tokenizer, seed=cfg.seed), tokenizer
    return load_model(cfg.model)


def gold_examples(cfg: TrainConfig, data: TaskData, tokenizer) -> list[dict]:
    """M1's training data: {prompt, gold completion}; examples longer than --max_length are
    dropped (a truncated gold solution would teach the model to stop mid-way)."""
    rows = data.train[: cfg.m1_max_examples] if cfg.m1_max_examples else data.train
    examples = [{"prompt": data.prompts[r["id"]], "completion": gold_completion(cfg.task, r)} for r in rows]
    examples = [e for e in examples if len(tokenizer(e["prompt"] + e["completion"])["input_ids"]) < cfg.max_length]
    if not examples:
        raise SelfimpError(f"--max_length {cfg.max_length}: no gold training example of {cfg.task} fits; "
                           "the training set is empty")
    return examples


def train_m1(cfg: TrainConfig, data: TaskData, save_dir: Path, scratch: Path) -> tuple[UpdateResult, dict]:
    model, tokenizer = base_model(cfg)
    examples = gold_examples(cfg, data, tokenizer)
    result = train_sft(model, tokenizer, examples, cfg, scratch, cfg.m1_learning_rate, cfg.m1_epochs,
                       cfg.m1_warmup_ratio, seed=cfg.seed, save_dir=save_dir)
    return result, {"n_train_examples": len(examples)}


def check_inputs(cfg: TrainConfig, data: TaskData) -> None:
    """Fail on bad input before anything is written: model source, M1's training set."""
    gold_examples(cfg, data, base_tokenizer(cfg))


def train_round(cfg: TrainConfig, data: TaskData, run_dir: Path, step: Iteration, records: list[dict],
                save_dir: Path, scratch: Path) -> tuple[UpdateResult, dict]:
    parent = run_dir / step.parent_checkpoint
    tokenizer = AutoTokenizer.from_pretrained(parent)
    model = AutoModelForCausalLM.from_pretrained(parent)
    seed = cfg.seed + step.t
    if step.update == "sft":
        examples = sft_examples(records, data.prompts)
        counts = {"n_train_examples": len(examples), "n_pairs": 0}
    else:
        examples = dpo_pairs(records, data.prompts, cfg.max_pairs_per_question, seed=seed)
        counts = {"n_train_examples": len(examples), "n_pairs": len(examples)}
    if not examples:
        # Nothing to learn from (no correct sample / no question with both kinds): M_t = M_{t-1}.
        warnings.warn(f"round {step.t} ({step.label}): no {step.update.upper()} training data in {step.samples}; "
                      f"{step.label} is a copy of {step.parent}", stacklevel=2)
        return save_unchanged(model, tokenizer, save_dir), counts
    if step.update == "sft":
        result = train_sft(model, tokenizer, examples, cfg, scratch, cfg.sft_learning_rate, cfg.sft_epochs,
                           cfg.sft_warmup_ratio, seed=seed, save_dir=save_dir)
    else:
        ref_model = None if cfg.lora else AutoModelForCausalLM.from_pretrained(parent)
        result = train_dpo(model, ref_model, tokenizer, examples, cfg, scratch, seed=seed, save_dir=save_dir)
    return result, counts


def sample_stats(records: list[dict], n: int) -> dict[str, Any]:
    per_question: dict[str, int] = {}
    for r in records:
        per_question[r["question_id"]] = per_question.get(r["question_id"], 0) + int(r["correct"])
    return {
        "n_questions_sampled": len(per_question),
        "n_samples": len(records),
        "n_correct": sum(per_question.values()),
        "coverage": coverage(list(per_question.values()), n) if per_question else None,
    }


def build_iteration(cfg: TrainConfig, data: TaskData, run_dir: Path, manifest: dict, step: Iteration) -> dict:
    """Sample (t >= 2), train, save, evaluate one model; returns its manifest record. Crash-safe:
    the checkpoint is written to <checkpoint>.tmp, which only a final rename makes visible."""
    set_iteration(step.t)
    main_process = process_state().is_main_process
    final = run_dir / step.checkpoint
    record: dict[str, Any] = {"t": step.t, "method": step.method, "update": step.update, "label": step.label,
                              "parent": step.parent, "checkpoint": step.checkpoint, "samples": step.samples,
                              "n_questions_sampled": 0, "n_samples": 0, "n_correct": 0, "n_pairs": 0,
                              "coverage": None, "wall_time_s": {}}
    records = None
    if step.samples:
        records = sample_round(cfg, data, run_dir, manifest, step)
        record.update(sample_stats(records, cfg.n_samples))
        record["wall_time_s"]["sampling"] = manifest["samples"][step.samples]["wall_time_s"]
    tmp = final.with_name(final.name + ".tmp")
    if main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    process_state().wait_for_everyone()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selfimp-trainer-") as scratch:
        if step.update == "gold-sft":
            result, counts = train_m1(cfg, data, tmp, Path(scratch))
        else:
            result, counts = train_round(cfg, data, run_dir, step, records, tmp, Path(scratch))
    free_accelerator_memory()
    record.update(counts, train_loss=result.train_loss, train_steps=result.steps)
    record["wall_time_s"]["training"] = round(time.perf_counter() - start - result.save_time_s, 2)
    record["wall_time_s"]["saving"] = round(result.save_time_s, 2)
    crash_point("saving")
    if main_process:
        start = time.perf_counter()
        record["eval"] = evaluate(cfg, data, tmp)
        record["wall_time_s"]["eval"] = round(time.perf_counter() - start, 2)
        atomic_write_json(tmp / ITERATION_RECORD, record)
        shutil.rmtree(final, ignore_errors=True)  # only a complete rename creates it: nothing to keep here
        tmp.rename(final)
    process_state().wait_for_everyone()
    return read_json(final / ITERATION_RECORD)


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
