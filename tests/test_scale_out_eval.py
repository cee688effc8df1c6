"""Data-parallel evaluation under `accelerate launch` with 2 CPU processes: lm-eval's CLI (through
`selfimp-eval run`) and `selfimp-eval sweep` split the docs over the processes, rank 0 alone writes,
and the per-doc records are those of one process (greedy: identical; sampled: same docs and n)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from harness_ext import cli
from harness_ext.samples import read_sample_logs
from scale_out import launch
from tiny_lm import arith_tokenizer, save_tiny_llama

TASKS = ["selfimp_arith_pass1", "selfimp_arith_passn"]
# 5 docs over 2 processes: 3 and 2, so the second pads its requests to keep in step with the first.
# Rank 0 gathers the samples rank by rank: its docs 0, 2, 4, then rank 1's 1, 3.
SPLIT = [0, 2, 4, 1, 3]
# batch size 1: a doc's greedy completion does not depend on which docs share its batch.
LM_EVAL = ["--tasks", ",".join(TASKS), "--n", "2", "--limit", "5", "--batch_size", "1", "--gen_kwargs", "max_gen_toks=6",
           "--log_samples"]
SWEEP = ["--train-task", "arith", "--tasks", *TASKS, "--n", "2", "--limit", "5", "--batch-size", "1",
         "--gen-kwargs", "max_gen_toks=6"]


@pytest.fixture(autouse=True)
def one_thread_and_lm_eval_log_handlers():
    """The in-process single runs use one torch thread, as each launched process does; lm-eval's CLI
    adds a StreamHandler bound to the (per-test, captured) stderr of its first call."""
    logger, threads = logging.getLogger("lm_eval"), torch.get_num_threads()
    saved = list(logger.handlers)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    logger.handlers[:] = saved


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("dp_lm")
    return [save_tiny_llama(root / f"m{seed}", arith_tokenizer(), seed=seed) for seed in (0, 1)]


def records(path: Path) -> dict[str, dict[str, list[tuple]]]:
    """{task: {doc id: [(text, answer, correct), ...]}} of the newest sample logs under `path`."""
    return {task: {doc_id: [(s.text, s.answer, s.correct) for s in doc.samples] for doc_id, doc in log.docs.items()}
            for task, log in read_sample_logs(path).items()}


def doc_order(path: Path) -> list[int]:
    """doc_id of each line of the pass1 sample log under `path`."""
    (log,) = path.rglob("samples_selfimp_arith_pass1_*.jsonl")
    return [json.loads(line)["doc_id"] for line in log.read_text().splitlines()]


def assert_same_records(parallel: dict, single: dict) -> None:
    assert sorted(parallel) == sorted(single) == TASKS
    assert parallel["selfimp_arith_pass1"] == single["selfimp_arith_pass1"] and len(single["selfimp_arith_pass1"]) == 5
    # Sampled completions follow each process's random stream, which depends on how the docs are split.
    assert {d: len(s) for d, s in parallel["selfimp_arith_passn"].items()} == \
        {d: len(s) for d, s in single["selfimp_arith_passn"].items()} == {d: 2 for d in single["selfimp_arith_passn"]}


def run_args(model: Path) -> list[str]:
    return ["--model", "hf", "--model_args", f"pretrained={model},dtype=float32", *LM_EVAL]


@pytest.fixture(scope="module")
def single(models, tmp_path_factory) -> dict:
    """Records of one process (lm-eval's CLI in this process) for the first model."""
    out = tmp_path_factory.mktemp("single")
    assert cli.main(["run", *run_args(models[0]), "--device", "cpu", "--output_path", str(out)]) == 0
    assert doc_order(out) == [0, 1, 2, 3, 4]
    return records(out)


def test_lm_eval_run_splits_the_docs_and_matches_one_process(models, single, tmp_path):
    done = launch("-m", "harness_ext.cli", "run", *run_args(models[0]), "--output_path", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        assert f"Building contexts for selfimp_arith_pass1 on rank {rank}" in done.stderr
    written = sorted(p.name.split("_20")[0] for p in tmp_path.rglob("*") if p.is_file())
    assert written == ["results", *(f"samples_{t}" for t in TASKS)]  # one set of files: rank 0 wrote alone
    assert doc_order(tmp_path) == SPLIT
    assert_same_records(records(tmp_path), single)


def test_sweep_splits_the_docs_skips_what_is_done_and_matches_one_process(models, single, tmp_path):
    first = launch("-m", "harness_ext.cli", "sweep", "--checkpoints", str(models[0]), "--labels", "M1", *SWEEP,
                   "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr[-3000:]
    both = launch("-m", "harness_ext.cli", "sweep", "--checkpoints", *map(str, models), "--labels", "M1", "M2", *SWEEP,
                  "--out", str(tmp_path))
    assert both.returncode == 0, both.stderr[-3000:]
    # one log, the main process's; every process skipped M1 and evaluated M2 (else the barriers would hang)
    assert both.stdout.count("M1: all 2 tasks already evaluated, skipped") == 1, both.stdout
    assert both.stdout.count("M2: evaluating") == 1, both.stdout
    for label in ("M1", "M2"):
        (finished,) = (tmp_path / label).iterdir()  # one lm-eval run, no temporary dir left
        assert doc_order(finished) == SPLIT
    assert_same_records(records(tmp_path / "M1"), single)
    m2 = records(tmp_path / "M2")
    assert {d: len(s) for d, s in m2["selfimp_arith_passn"].items()} == {d: 2 for d in single["selfimp_arith_passn"]}
