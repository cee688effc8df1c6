"""Crash safety and --resume: the process SIGKILLs itself (test hook SELFIMP_TEST_KILL_AT) while
sampling, training or saving round 2; `--resume` then finishes with exactly the numbers of an
uninterrupted run with the same seed, and no iteration lost or duplicated."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness_ext.io import atomic_write_json, read_json

# The settings of test_train_loop.py (known to give right and wrong round-2 samples), as sft-dpo.
TINY = ["--m1_max_examples", "160", "--m1_epochs", "1", "--per_device_train_batch_size", "16",
        "--max_train_questions", "12", "--n_samples", "16", "--max_new_tokens", "40",
        "--eval_max_questions", "12", "--sample_batch_size", "12", "--eval_batch_size", "12",
        "--sft_warmup_ratio", "0", "--dpo_warmup_ratio", "0", "--is_samples", "0", "--method", "sft-dpo"]
REPO = Path(__file__).resolve().parents[1]


def train(out: Path, *extra: str, kill_at: str | None = None, kill_iter: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFIMP_TEST_KILL")}
    if kill_at:
        env |= {"SELFIMP_TEST_KILL_AT": kill_at, "SELFIMP_TEST_KILL_ITER": str(kill_iter)}
    return subprocess.run([sys.executable, "-m", "selfimp_train.cli", *TINY, "--out", str(out), *extra],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=900)


def numbers(manifest: dict) -> list[dict]:
    """Everything of the iterations except timings."""
    return [{k: v for k, v in it.items() if k != "wall_time_s"} for it in manifest["iterations"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "reference"
    done = train(out, "--iters", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.parametrize("stage", [
    pytest.param("sampling", marks=pytest.mark.slow),
    "training",
    pytest.param("saving", marks=pytest.mark.slow),
])
def test_kill_then_resume_gives_the_uninterrupted_numbers(tmp_path, reference, stage):
    out = tmp_path / "run"
    killed = train(out, "--iters", "2", kill_at=stage)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    before = read_json(out / "manifest.json")
    assert [it["label"] for it in before["iterations"]] == ["M1"], "round 2 must not count before it completes"
    assert not (out / "iter_2").exists()
    assert (out / "samples_2.jsonl").exists() == (stage != "sampling")

    resumed = train(out, "--iters", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = read_json(out / "manifest.json")
    assert numbers(after) == numbers(read_json(reference / "manifest.json"))
    assert after["iterations"][0] == before["iterations"][0], "M1 was not redone"
    assert [it["label"] for it in after["iterations"]] == ["M1", "M2"]
    assert (out / "samples_2.jsonl").read_bytes() == (reference / "samples_2.jsonl").read_bytes()
    assert not list(out.rglob("*.tmp"))


def test_resume_extends_a_finished_run_without_redoing_it(tmp_path, reference):
    out = tmp_path / "extend"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    m1_weights = out / "iter_1" / "model.safetensors"
    stamp = m1_weights.stat().st_mtime_ns
    again = train(out, "--iters", "2", "--resume")  # nothing left to do
    assert again.returncode == 0, again.stderr[-2000:]
    assert numbers(read_json(out / "manifest.json")) == numbers(read_json(reference / "manifest.json"))
    longer = train(out, "--iters", "3", "--resume")
    assert longer.returncode == 0, longer.stderr[-2000:]
    manifest = read_json(out / "manifest.json")
    assert [(it["label"], it["update"]) for it in manifest["iterations"]] == [("M1", "gold-sft"), ("M2", "dpo"), ("M3", "sft")]
    assert numbers(manifest)[:2] == numbers(read_json(reference / "manifest.json"))
    assert m1_weights.stat().st_mtime_ns == stamp
    assert (out / "samples_3.jsonl").is_file() and (out / "iter_3" / "model.safetensors").is_file()


def test_checkpoint_renamed_but_not_yet_in_manifest_is_adopted(tmp_path, reference):
    """A kill between the checkpoint's rename and the manifest update loses nothing."""
    out = tmp_path / "adopt"
    subprocess.run(["cp", "-r", str(reference), str(out)], check=True)
    manifest = read_json(out / "manifest.json")
    manifest["iterations"] = manifest["iterations"][:1]
    atomic_write_json(out / "manifest.json", manifest)
    stamp = (out / "iter_2" / "model.safetensors").stat().st_mtime_ns
    resumed = train(out, "--iters", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert read_json(out / "manifest.json")["iterations"] == read_json(reference / "manifest.json")["iterations"]
    assert (out / "iter_2" / "model.safetensors").stat().st_mtime_ns == stamp, "M2 was not retrained"


@pytest.mark.slow
def test_grpo_round_killed_while_training_resumes_to_the_uninterrupted_numbers(tmp_path):
    """The same for an online round: GRPO draws its completions inside the trainer, so a kill
    there loses the round's rollouts too; `--resume` redoes the round to the same numbers."""
    grpo = ["--method", "grpo", "--iters", "2", "--grpo_max_questions", "8", "--grpo_num_generations", "4"]
    reference = train(tmp_path / "reference", *grpo)
    assert reference.returncode == 0, reference.stderr[-2000:]
    out = tmp_path / "run"
    killed = train(out, *grpo, kill_at="training")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [it["label"] for it in read_json(out / "manifest.json")["iterations"]] == ["M1"]
    resumed = train(out, *grpo, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after, expected = read_json(out / "manifest.json"), read_json(tmp_path / "reference" / "manifest.json")
    assert numbers(after) == numbers(expected)
    assert after["iterations"][1]["update"] == "grpo" and after["iterations"][1]["reward_mean"] is not None
    rollouts = after["iterations"][1]["rollouts"]
    assert (out / rollouts).read_bytes() == (tmp_path / "reference" / rollouts).read_bytes()
    assert not list(out.rglob("*.tmp"))
