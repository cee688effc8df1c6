"""Generation, the one way the loop and the summary draw completions: sample from a checkpoint,
judge each completion with the task's verifier (harness_ext.verify), write the records atomically.

Three uses: round t's training samples from M_{t-1}, greedy pass@1 on the test split, and M1's
samples on the test questions of the improvement-set probe."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_ext.io import atomic_write_jsonl
from harness_ext.termination import termination_as_exit
from harness_ext.run_format import EVAL_RECORDS
from selfimp_train.config import TrainConfig
from selfimp_train.samplers import HFSampler, Sampler, VLLMSampler
from selfimp_train.task_data import TaskData



@dataclass(frozen=True)
class Decoding:
    """How to draw: `n` completions per prompt (temperature 0 = greedy), seeded, in `dtype`;
    `batch_size` counts sequences per HF generate call."""

    n: int
    temperature: float
    top_p: float
    seed: int
    dtype: str
    batch_size: int


def make_sampler(cfg: TrainConfig, checkpoint: Path, decoding: Decoding) -> Sampler:
    """The --sampler backend."""
    if cfg.sampler == "vllm":
        return VLLMSampler(checkpoint, dtype=decoding.dtype, seed=decoding.seed,
                           tensor_parallel_size=cfg.tensor_parallel_size, data_parallel_size=cfg.data_parallel_size,
                           engine_kwargs=cfg.vllm_engine_kwargs())
    return HFSampler(checkpoint, dtype=decoding.dtype, batch_size=decoding.batch_size, seed=decoding.seed,
                     attn_implementation=cfg.attn_implementation)


def judge(data: TaskData, question_ids: list[str], completions: list[list[str]],
          keep_prompts: bool = False) -> list[dict]:
    """One record per completion: {question_id, [prompt,] completion, answer, correct}."""
    flat = [(qid, text) for qid, texts in zip(question_ids, completions) for text in texts]
    records = data.verifier.records([text for _, text in flat], [data.references[qid] for qid, _ in flat])
    return [{"question_id": qid, **({"prompt": data.prompts[qid]} if keep_prompts else {}), "completion": text,
             "answer": r["answer"], "correct": r["correct"]}
            for (qid, text), r in zip(flat, records)]


def generate_judged(cfg: TrainConfig, data: TaskData, checkpoint: Path, question_ids: list[str],
                    decoding: Decoding, path: Path, before: list[dict] | None = None,
                    keep_prompts: bool = False) -> list[dict]:
    """Sample → judge → write: `decoding.n` judged completions per question, written to `path` (JSONL)
    after the records `before` (a cached file being extended); returns all records written."""
    with termination_as_exit():  # SIGTERM / SIGHUP: the vLLM engine process is stopped, then exit
        sampler = make_sampler(cfg, checkpoint, decoding)
        try:
            completions = sampler.generate([data.prompts[i] for i in question_ids], decoding.n,
                                           decoding.temperature, decoding.top_p, data.max_new_tokens, data.stop)
        finally:
            sampler.close()
    records = [*(before or []), *judge(data, question_ids, completions, keep_prompts)]
    atomic_write_jsonl(path, records)
    return records


def sampling(cfg: TrainConfig, n: int, seed: int, dtype: str) -> Decoding:
    """The run's sampling decoding (--temperature, --top_p) with `n` samples per question."""
    return Decoding(n=n, temperature=cfg.temperature, top_p=cfg.top_p, seed=seed, dtype=dtype,
                    batch_size=cfg.sample_batch_size * cfg.n_samples)


def evaluate(cfg: TrainConfig, data: TaskData, checkpoint: Path) -> dict[str, Any]:
    """Greedy pass@1 on the test questions in the run's evaluation setting; the completions go to
    <checkpoint>/eval_greedy.jsonl with their prompts, so that the sweep can score them through lm-eval
    instead of generating them again (harness_ext.replay)."""
    if not data.test:
        return {}
    greedy = Decoding(n=1, temperature=0.0, top_p=1.0, seed=cfg.seed, dtype=data.eval.dtype,
                      batch_size=data.eval.batch_size)
    records = generate_judged(cfg, data, checkpoint, [r["id"] for r in data.test], greedy, checkpoint / EVAL_RECORDS,
                              keep_prompts=True)
    return {"pass@1": sum(r["correct"] for r in records) / len(records), "n": len(records), "split": "test"}

