"""One training round of the loop under `accelerate launch` with 2 CPU processes (DDP over gloo,
the TRL trainers' multi-GPU path): every process trains, the main process alone samples, evaluates
and writes; the run has the structure of a single-process run, and --resume works under the same launch."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM

from harness_ext.io import read_json, read_jsonl
from scale_out import events, launch
from selfimp_train.cli import main

# The tiny settings of test_train_resume.py (right and wrong round-2 samples), as sft-dpo: M1, then DPO.
TINY = ["--m1_max_examples", "160", "--m1_epochs", "1", "--per_device_train_batch_size", "16",
        "--max_train_questions", "12", "--n_samples", "16", "--max_new_tokens", "40",
        "--eval_max_questions", "12", "--sample_batch_size", "12", "--eval_batch_size", "12",
        "--sft_warmup_ratio", "0", "--dpo_warmup_ratio", "0", "--is_samples", "0", "--method", "sft-dpo"]


def launch_training(out: Path, probe: Path, *extra: str):
    probe.mkdir(parents=True, exist_ok=True)
    done = launch("tests/ddp_probe.py", *TINY, "--out", str(out), *extra, env={"SELFIMP_PROBE_DIR": str(probe)})
    assert done.returncode == 0, done.stderr[-3000:]
    return [events(probe, rank) for rank in (0, 1)]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, list[list[dict]]]:
    root = tmp_path_factory.mktemp("ddp")
    return root / "run", launch_training(root / "run", root / "probe", "--iters", "2")


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    assert main([*TINY, "--out", str(out), "--iters", "2"]) == 0
    return out


def inside(run_dir: Path, ranked: list[dict], *names: str) -> list[tuple[str, str]]:
    """(event, path relative to the run dir) of the events `names` that touch the run dir."""
    root = str(run_dir.resolve())
    return [(e["event"], str(Path(e["path"]).resolve().relative_to(root))) for e in ranked
            if e["event"] in names and str(Path(e["path"]).resolve()).startswith(root)]


def test_only_the_main_process_samples_evaluates_and_writes(ddp_run):
    run_dir, (rank0, rank1) = ddp_run
    writes = ("replace", "rename", "save_pretrained")
    assert inside(run_dir, rank1, *writes) == [], "rank 1 wrote into the run directory"
    assert [e for e in rank1 if e["event"] == "generate"] == [], "rank 1 sampled or evaluated"
    generate = [(e["n"], e["temperature"], e["prompts"]) for e in rank0 if e["event"] == "generate"]
    assert generate == [(1, 0.0, 12), (16, 0.75, 12), (1, 0.0, 12)]  # eval M1, sample round 2, eval M2
    rank0_writes = inside(run_dir, rank0, *writes)
    assert [p for e, p in rank0_writes if e == "rename"] == ["iter_1", "iter_2"]  # one checkpoint each
    assert [p for e, p in rank0_writes if e == "save_pretrained"] == ["iter_1.tmp", "iter_2.tmp"]
    assert [p for _, p in rank0_writes].count("samples_2.jsonl") == 1
    assert [p for _, p in rank0_writes].count("manifest.json") == 4  # created, samples_2, M1, M2
    assert sorted(p.name for p in run_dir.iterdir()) == ["iter_1", "iter_2", "manifest.json", "samples_2.jsonl",
                                                         "summary.json"]


def test_every_process_trains_and_the_other_rank_waits_for_sampling(ddp_run):
    _, (rank0, rank1) = ddp_run
    for ranked in (rank0, rank1):
        assert [e["world_size"] for e in ranked if e["event"] == "train"] == [2, 2]
    start = next(i for i, e in enumerate(rank0) if e["event"] == "generate" and e["n"] == 16)
    sampled = next(e["time"] for e in rank0[start:] if e["event"] == "generate_done")
    round2 = [e["time"] for e in rank1 if e["event"] == "train"][1]
    assert round2 > sampled, "rank 1 trained round 2 before rank 0 finished sampling it"


def structure(run_dir: Path) -> dict:
    manifest = read_json(run_dir / "manifest.json")
    return {
        "files": sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")),
        "manifest_keys": sorted(manifest),
        "iterations": [(it["label"], it["update"], it["status"], sorted(it), it["n_questions_sampled"],
                        it["n_samples"], it["n_train_examples"] > 0, it["eval"]["n"]) for it in manifest["iterations"]],
        "samples": {k: (v["t"], v["model"], v["n_questions"]) for k, v in manifest["samples"].items()},
    }


def test_result_loads_and_has_the_single_process_structure(ddp_run, single_run):
    run_dir, _ = ddp_run
    assert structure(run_dir) == structure(single_run)
    m1 = read_json(run_dir / "manifest.json")["iterations"][0]
    # DDP over 2 processes: each step takes 16 examples per process, so half the steps of one process.
    assert m1["train_steps"] == math.ceil(160 / (16 * 2))
    assert read_json(single_run / "manifest.json")["iterations"][0]["train_steps"] == math.ceil(160 / 16)
    for it in read_json(run_dir / "manifest.json")["iterations"]:
        model = AutoModelForCausalLM.from_pretrained(run_dir / it["checkpoint"])
        assert model.num_parameters() == AutoModelForCausalLM.from_pretrained(single_run / it["checkpoint"]).num_parameters()
        assert len(read_jsonl(run_dir / it["checkpoint"] / "eval_greedy.jsonl")) == 12


def test_resume_under_the_same_launch_adds_a_round_without_redoing_any(ddp_run, tmp_path):
    run_dir, _ = ddp_run
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    before = read_json(out / "manifest.json")
    rank0, rank1 = launch_training(out, tmp_path / "probe", "--iters", "3", "--resume")
    after = read_json(out / "manifest.json")
    assert after["iterations"][:2] == before["iterations"]
    assert [(it["label"], it["update"]) for it in after["iterations"]] == [("M1", "gold-sft"), ("M2", "dpo"), ("M3", "sft")]
    assert inside(out, rank1, "replace", "rename", "save_pretrained") == []
    rank0_writes = inside(out, rank0, "replace", "rename", "save_pretrained")
    assert [p for e, p in rank0_writes if e in ("rename", "save_pretrained")] == ["iter_3.tmp", "iter_3"]
    assert [(e["n"], e["prompts"]) for e in rank0 if e["event"] == "generate"] == [(16, 12), (1, 12)]
    assert [e["world_size"] for e in rank1 if e["event"] == "train"] == [2]
