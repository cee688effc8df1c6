"""One full tiny loop per method on the bundled arith task (shared M1 via --method all, GRPO included),
and a LoRA run: checkpoints load with Auto classes, and the manifest agrees with the files."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness_ext.data import load_rows
from harness_ext.io import atomic_write_jsonl, read_json, read_jsonl
from harness_ext.prompts import prompt
from harness_ext.report import write_report
from harness_ext.report.analysis import Options
from harness_ext.report.lmeval_results import read_run_results
from harness_ext.samples import read_sample_logs
from harness_ext.sweep import main as sweep_main
from harness_ext.verify import get_verifier
from selfimp_train.cli import main
from selfimp_train.config import TrainConfig
from selfimp_train.pairs import dpo_pairs, sft_examples
from harness_ext.run_format import M1_TEST_SAMPLES, TRAINER_GREEDY_MODEL
from selfimp_train.summary import m1_test_samples, print_summary

# Tiny but real: M1 is SFT'd from scratch briefly, so right answers in round 2 are rare but exist (and some
# GRPO groups have both rewards).
TINY = ["--m1_max_examples", "800", "--m1_epochs", "2", "--per_device_train_batch_size", "16",
        "--max_train_questions", "12", "--n_samples", "16", "--max_new_tokens", "40",
        "--eval_max_questions", "12", "--sample_batch_size", "12", "--eval_batch_size", "12",
        "--sft_warmup_ratio", "0", "--dpo_warmup_ratio", "0", "--is_samples", "4",
        "--grpo_max_questions", "32", "--grpo_num_generations", "8", "--grpo_learning_rate", "1e-3"]


def run_cli(out: Path, *extra: str) -> dict:
    assert main([*TINY, "--out", str(out), *extra]) == 0
    return read_json(out / "manifest.json")


@pytest.fixture(scope="module")
def all_methods(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("train") / "all"
    # Training samples in bfloat16 (as the embedded preset); greedy eval in the default eval_dtype float32.
    return out, run_cli(out, "--method", "all", "--iters", "2", "--sample_dtype", "bfloat16")


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(checkpoint).state_dict()


def check_checkpoint_loads(checkpoint: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    text = prompt("arith", load_rows("arith", "test")[0])
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    assert tokenizer.decode(ids[0]) == text and tokenizer.unk_token_id not in ids[0].tolist()
    assert model(ids).logits.shape == (1, ids.shape[1], len(tokenizer))


def check_iteration_against_files(run_dir: Path, it: dict, seed: int) -> None:
    verifier = get_verifier("arith")
    rows = {r["id"]: r for r in load_rows("arith", "train") + load_rows("arith", "test")}
    evals = read_jsonl(run_dir / it["checkpoint"] / "eval_greedy.jsonl")
    assert len(evals) == 12 and it["eval"]["n"] == 12
    assert it["eval"]["pass@1"] == pytest.approx(sum(r["correct"] for r in evals) / 12)
    if it["t"] == 1:
        assert it["samples"] is None and it["n_train_examples"] == 800
        return
    if it["update"] == "grpo":
        check_rollouts_against_manifest(run_dir, it, rows)
        return
    records = read_jsonl(run_dir / it["samples"])
    # The verdicts are the shared verifier's, and the counts are those of the file.
    assert [r["correct"] for r in records] == verifier.judge(
        [r["completion"] for r in records], [verifier.reference(rows[r["question_id"]]) for r in records])
    per_q: dict[str, list[bool]] = {}
    for r in records:
        per_q.setdefault(r["question_id"], []).append(r["correct"])
    assert it["n_questions_sampled"] == len(per_q) == 12
    assert all(len(v) == 16 for v in per_q.values())
    assert it["n_samples"] == len(records) == 12 * 16
    assert it["n_correct"] == sum(r["correct"] for r in records) > 0
    assert it["coverage"] == pytest.approx(sum(sum(v) / 16 for v in per_q.values()) / len(per_q))
    prompts = {qid: prompt("arith", rows[qid]) for qid in per_q}
    if it["update"] == "dpo":
        assert it["n_pairs"] == len(dpo_pairs(records, prompts, 5, seed=seed + it["t"])) > 0
    else:
        assert it["n_pairs"] == 0 and it["n_train_examples"] == len(sft_examples(records, prompts))


def check_rollouts_against_manifest(run_dir: Path, it: dict, rows: dict) -> None:
    """A GRPO round: its rollouts file holds G judged completions per prompt and generation step, judged by
    the shared verifier, and the manifest's reward mean and share of mixed groups (from TRL's logged metrics)
    are those of the file."""
    verifier = get_verifier("arith")
    records = read_jsonl(run_dir / it["rollouts"])
    assert it["samples"] is None and it["rollouts"] == "grpo/rollouts_2.jsonl"
    assert [r["correct"] for r in records] == verifier.judge(
        [r["completion"] for r in records], [verifier.reference(rows[r["question_id"]]) for r in records])
    groups: dict[tuple, list[bool]] = {}
    for r in records:
        groups.setdefault((r["step"], r["question_id"]), []).append(r["correct"])
    assert all(len(g) == 8 for g in groups.values())  # G = 8
    assert len(groups) == 32 and it["n_train_examples"] == 32  # 32 prompts, one epoch: 16 steps of 2 prompts
    assert it["n_questions_sampled"] == 32
    assert it["n_samples"] == len(records) == 256 and it["n_correct"] == sum(r["correct"] for r in records)
    assert it["reward_mean"] == pytest.approx(it["n_correct"] / it["n_samples"])
    mixed = sum(0 < sum(g) < 8 for g in groups.values())
    assert mixed > 0 and it["mixed_reward_groups"] == pytest.approx(mixed / len(groups))
    assert it["kl"] is not None and it["kl"] >= 0 and it["generation_batches"] == it["train_steps"] == 16
    assert it["coverage"] is None and it["n_pairs"] == 0


def test_all_methods_share_m1_and_write_the_documented_layout(all_methods):
    run_dir, manifest = all_methods
    labels = [it["label"] for it in manifest["iterations"]]
    assert labels == ["M1", "sft-M2", "dpo-M2", "sft-dpo-M2", "grpo-M2"]
    assert all(it["status"] == "complete" for it in manifest["iterations"])
    by_label = {it["label"]: it for it in manifest["iterations"]}
    assert by_label["M1"]["checkpoint"] == "iter_1"
    for method, update in (("sft", "sft"), ("dpo", "dpo"), ("sft-dpo", "dpo")):
        it = by_label[f"{method}-M2"]
        assert (it["checkpoint"], it["parent"], it["update"]) == (f"{method}/iter_2", "M1", update)
        assert it["samples"] == "samples_2.jsonl"  # round 2 samples M1 once for all methods
    grpo = by_label["grpo-M2"]  # GRPO draws its own samples while training: no samples file, a rollouts file
    assert (grpo["checkpoint"], grpo["parent"], grpo["update"], grpo["samples"]) == ("grpo/iter_2", "M1", "grpo", None)
    assert (run_dir / "grpo" / "rollouts_2.jsonl").is_file()
    assert not list(run_dir.rglob("*.tmp")), "no half-written checkpoint may remain"
    assert set(manifest["versions"]) == {"torch", "transformers", "trl", "peft", "selfimp"}
    assert (run_dir / "summary.json").is_file()


def test_checkpoints_load_and_manifest_matches_files(all_methods):
    run_dir, manifest = all_methods
    for it in manifest["iterations"]:
        check_checkpoint_loads(run_dir / it["checkpoint"])
        check_iteration_against_files(run_dir, it, seed=manifest["seed"])


def test_every_round_changes_the_weights(all_methods):
    run_dir, _ = all_methods
    m1 = weights(run_dir / "iter_1")
    for method in ("sft", "dpo", "sft-dpo", "grpo"):
        m2 = weights(run_dir / method / "iter_2")
        assert any(not torch.equal(m1[k], m2[k]) for k in m1), f"{method} round left M1 unchanged"


def test_summary_reports_improvement_sets(all_methods):
    run_dir, manifest = all_methods
    summary = read_json(run_dir / "summary.json")
    assert [m["label"] for m in summary["models"]] == ["M1", "dpo-M2", "grpo-M2", "sft-M2", "sft-dpo-M2"]
    grpo = next(m for m in summary["models"] if m["label"] == "grpo-M2")
    assert grpo["rollouts"]["rollouts"] == "grpo/rollouts_2.jsonl" and grpo["rollouts"]["n_samples"] == 256
    m1_solved = {r["question_id"] for r in read_jsonl(run_dir / "iter_1" / "eval_greedy.jsonl") if r["correct"]}
    for label, s in summary["improvement_sets"].items():
        it = next(i for i in manifest["iterations"] if i["label"] == label)
        solved = {r["question_id"] for r in read_jsonl(run_dir / it["checkpoint"] / "eval_greedy.jsonl") if r["correct"]}
        assert s["is_size"] == len(solved - m1_solved)


def test_summary_shows_each_rounds_coverage_per_level(all_methods, capsys):
    """Per round, the training questions with >= 1 correct candidate per declared level (arith steps),
    printed at the end of the run; the levels' questions add up to what the round drew."""
    run_dir, manifest = all_methods
    summary = read_json(run_dir / "summary.json")
    assert summary["levels"] == "declared level"
    for it in manifest["iterations"][1:]:
        row = summary["coverage_by_level"][it["label"]]
        assert row["candidates"] == (it["samples"] or it["rollouts"])
        by_q: dict[str, bool] = {}
        for r in read_jsonl(run_dir / row["candidates"]):
            by_q[r["question_id"]] = by_q.get(r["question_id"], False) or r["correct"]
        assert set(row["levels"]) <= {"1", "2", "3", "4"}
        assert sum(n for _, n in row["levels"].values()) == it["n_questions_sampled"] == len(by_q)
        assert sum(k for k, _ in row["levels"].values()) == sum(by_q.values())
    print_summary(summary)
    printed = capsys.readouterr().out
    assert "per level (declared level)" in printed and "grpo/rollouts_2.jsonl" in printed


def test_resuming_a_finished_run_changes_nothing(all_methods, capsys):
    """--resume of a complete run trains, samples and writes no iteration again (GRPO's rollouts included)."""
    run_dir, manifest = all_methods
    files = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file() and p.name != "summary.json"}
    again = run_cli(run_dir, "--method", "all", "--iters", "2", "--sample_dtype", "bfloat16", "--resume")
    assert again == manifest
    assert {p: p.stat().st_mtime_ns for p in files} == files
    assert "[M1]" not in capsys.readouterr().out  # no iteration was built


def test_m1_probe_samples_the_asked_questions_once(all_methods, tmp_path):
    """M1's deep probe covers exactly the questions asked (the union of the IS sets); a later call with
    more questions (a run extended by rounds) samples only the new ones and keeps the cached ones."""
    run_dir, manifest = all_methods
    (tmp_path / "iter_1").symlink_to(run_dir / "iter_1")
    cfg = TrainConfig(**{**manifest["config"], "out": str(tmp_path)})
    ids = [r["question_id"] for r in read_jsonl(run_dir / "iter_1" / "eval_greedy.jsonl")]
    first = m1_test_samples(cfg, tmp_path, ids[:2])
    assert sorted(r["question_id"] for r in first) == sorted(ids[:2] * cfg.is_samples)
    extended = m1_test_samples(cfg, tmp_path, ids[:3])
    assert extended[: len(first)] == first and [r["question_id"] for r in extended[len(first):]] == [ids[2]] * cfg.is_samples
    assert read_jsonl(tmp_path / M1_TEST_SAMPLES) == extended


def test_lora_run_saves_adapter_and_merged_checkpoint(tmp_path, all_methods):
    # LoRA on top of a trained model, as it is used (LoRA on a random init would learn next to
    # nothing, and a round without a correct sample trains nothing): the shared M1 above.
    base = all_methods[0] / "iter_1"
    manifest = run_cli(tmp_path / "lora", "--model", str(base), "--method", "sft", "--iters", "2", "--lora",
                       "--lora_r", "4", "--eval_max_questions", "0", "--is_samples", "0")
    run_dir = tmp_path / "lora"
    assert manifest["iterations"][1]["n_train_examples"] > 0
    for it in manifest["iterations"]:
        checkpoint = run_dir / it["checkpoint"]
        assert (checkpoint / "adapter" / "adapter_config.json").is_file()
        state = weights(checkpoint)
        assert not any("lora" in k for k in state), "the checkpoint holds merged weights"
        assert it["eval"] == {}
    m1, m2 = weights(run_dir / "iter_1"), weights(run_dir / "iter_2")
    assert any(not torch.equal(m1[k], m2[k]) for k in m1)


def test_trainer_and_sweep_agree_per_problem(all_methods, tmp_path):
    """The sweep evaluates in the run's recorded setting: lm-eval's own model (--regenerate-greedy) makes
    the trainer's eval_greedy.jsonl completions and verdicts again, doc for doc, and the report's IS(t) is
    the trainer's. So the default sweep scores the trainer's completions instead of generating them again."""
    run_dir, manifest = all_methods
    setting = manifest["eval_setting"]
    assert (setting["dtype"], setting["max_new_tokens"], setting["max_questions"]) == ("float32", 40, 12)
    assert manifest["config"]["sample_dtype"] == "bfloat16"  # training samples may use another dtype
    out = tmp_path / "sweep"
    assert sweep_main([str(run_dir), "--tasks", "selfimp_arith_pass1", "--out", str(out), "--regenerate-greedy"]) == 0
    assert {read_run_results(out / it["label"]).models["selfimp_arith_pass1"] for it in manifest["iterations"]} == {"hf"}
    meta = read_json(out / "sweep.json")
    assert meta["trainer_comparison"] == {"comparable": True, "differences": []}
    assert (meta["settings"]["limit"], meta["settings"]["gen_kwargs"]) == (12, "max_gen_toks=40")
    report = write_report([str(out)], tmp_path / "report", opts=Options(sbert=False))
    arith = report["datasets"]["selfimp_arith"]
    summary = read_json(run_dir / "summary.json")
    m1_solved = {r["question_id"] for r in read_jsonl(run_dir / "iter_1" / "eval_greedy.jsonl") if r["correct"]}
    for it in manifest["iterations"]:
        trainer = read_jsonl(run_dir / it["checkpoint"] / "eval_greedy.jsonl")
        docs = read_sample_logs(out / it["label"])["selfimp_arith_pass1"].docs
        assert [(d.samples[0].text, d.samples[0].correct) for d in (docs[r["question_id"]] for r in trainer)] == \
            [(r["completion"], r["correct"]) for r in trainer], it["label"]
        assert arith["pass1"][it["label"]]["value"] == pytest.approx(it["eval"]["pass@1"])
        if it["t"] > 1:
            improvement = arith["improvement"][it["label"]]
            assert improvement["size"] == summary["improvement_sets"][it["label"]]["is_size"]
            assert set(improvement["ids"]) == {r["question_id"] for r in trainer if r["correct"]} - m1_solved
    assert "Not comparable" not in (tmp_path / "report" / "report.md").read_text()
    assert report["greedy_from_trainer"] == {}

    # By default the sweep does not generate the run's greedy test completions again: lm-eval scores the
    # trainer's (harness_ext.replay) and logs exactly what generating them gave, doc for doc, metric for metric.
    replayed = tmp_path / "replayed"
    assert sweep_main([str(run_dir), "--tasks", "selfimp_arith_pass1", "--out", str(replayed)]) == 0
    for it in manifest["iterations"]:
        a = read_sample_logs(replayed / it["label"])["selfimp_arith_pass1"].docs
        b = read_sample_logs(out / it["label"])["selfimp_arith_pass1"].docs
        assert len(a) == 12 and [(k, d.samples, d.metrics) for k, d in a.items()] == \
            [(k, d.samples, d.metrics) for k, d in b.items()], it["label"]
        assert read_run_results(replayed / it["label"]).models == {"selfimp_arith_pass1": TRAINER_GREEDY_MODEL}
    report = write_report([str(replayed)], tmp_path / "report_replayed", opts=Options(sbert=False))
    assert report["greedy_from_trainer"] == {it["label"]: ["selfimp_arith_pass1"] for it in manifest["iterations"]}
    assert "the trainer's own (`eval_greedy.jsonl`" in (tmp_path / "report_replayed" / "report.md").read_text()



def test_a_changed_trainer_completion_file_stops_the_sweep(all_methods, tmp_path, capsys):
    """A prompt in eval_greedy.jsonl that is not lm-eval's: one error naming the file and doc, exit 2,
    nothing counted as evaluated."""
    run_dir = tmp_path / "run"
    shutil.copytree(all_methods[0], run_dir)
    path = run_dir / "iter_1" / "eval_greedy.jsonl"
    records = read_jsonl(path)
    records[3]["prompt"] = "Question: something else\nAnswer:"
    atomic_write_jsonl(path, records)
    out = tmp_path / "sweep"
    with pytest.raises(SystemExit) as exit_:
        sweep_main([str(run_dir), "--tasks", "selfimp_arith_pass1", "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()  # after the sweep's progress bars: one error line, the last
    assert [line for line in err if line.startswith("error:")] == err[-1:]
    assert err[-1].startswith(f"error: {path}: task 'selfimp_arith_pass1', doc '{records[3]['question_id']}'")
    assert "--regenerate-greedy" in err[-1] and not list((out / "M1").glob("*/results_*.json"))
