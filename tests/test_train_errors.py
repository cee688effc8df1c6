"""Bad input: one `error: ...` line naming the flag/file, exit code 2, nothing overwritten."""
from __future__ import annotations

import pytest

from harness_ext.io import atomic_write_json
from selfimp_train.cli import main
from selfimp_train.config import parse_config
from selfimp_train.task_loading import evaluation_setting
from selfimp_train.manifest import open_manifest


def fails(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_unknown_task(capsys, tmp_path):
    msg = fails(capsys, ["--task", "gsm9k", "--out", str(tmp_path / "r")])
    assert "--task: unknown value 'gsm9k'" in msg
    assert not (tmp_path / "r").exists()
    # Evaluation is one defined thing: no "auto" dtype that would depend on the machine.
    msg = fails(capsys, ["--eval_dtype", "auto", "--out", str(tmp_path / "r")])
    assert "--eval_dtype: unknown value 'auto' (choose from float32, bfloat16, float16)" in msg
    assert not (tmp_path / "r").exists()


def test_real_task_needs_a_model(capsys, tmp_path):
    msg = fails(capsys, ["--task", "gsm8k", "--out", str(tmp_path / "r")])
    assert "--model: required for --task gsm8k" in msg
    assert not (tmp_path / "r").exists()
    msg = fails(capsys, ["--task", "gsm8k", "--apply_chat_template", "--out", str(tmp_path / "r")])
    assert "--model: required for --task gsm8k" in msg


def test_chat_template_switch_needs_a_chat_template(capsys, tmp_path):
    msg = fails(capsys, ["--apply_chat_template", "--out", str(tmp_path / "r")])  # embedded: word-level, no template
    assert "--apply_chat_template: the tokenizer" in msg and "has no chat template" in msg
    assert not (tmp_path / "r").exists()


def test_missing_model_path(capsys, tmp_path):
    msg = fails(capsys, ["--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "r")])
    assert f"--model: {tmp_path / 'no-such-model'}: directory not found" in msg
    assert not (tmp_path / "r").exists()


def test_unloadable_model_id(capsys, tmp_path):
    msg = fails(capsys, ["--model", "nobody/no-such-model", "--out", str(tmp_path / "r")])
    assert "--model: cannot load 'nobody/no-such-model'" in msg


def test_empty_training_set_after_filtering(capsys, tmp_path):
    msg = fails(capsys, ["--max_length", "8", "--out", str(tmp_path / "r")])
    assert "--max_length 8: no gold training example of arith fits" in msg
    assert not (tmp_path / "r").exists()


def test_existing_out_without_resume(capsys, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    msg = fails(capsys, ["--out", str(out)])
    assert "already exists; pass --resume" in msg
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"


def test_resume_of_a_directory_that_is_not_a_run(capsys, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "x").write_text("")
    assert "has no manifest.json" in fails(capsys, ["--out", str(out), "--resume"])


def test_incompatible_resume_config(capsys, tmp_path):
    out = tmp_path / "r"
    cfg = parse_config(["--out", str(out), "--n_samples", "4"])
    open_manifest(cfg, evaluation_setting(cfg))
    before = (out / "manifest.json").read_bytes()
    msg = fails(capsys, ["--out", str(out), "--n_samples", "6", "--resume"])
    assert "--resume: config differs" in msg and "n_samples: 4 -> 6" in msg
    assert (out / "manifest.json").read_bytes() == before
    # Fields that do not change results (here: more iterations) may differ.
    cfg = parse_config(["--out", str(out), "--n_samples", "4", "--iters", "7", "--resume"])
    resumed = open_manifest(cfg, evaluation_setting(cfg))
    assert resumed["config"]["iters"] == 7
    # The evaluation setting may not change either (here: a run evaluated on another device).
    atomic_write_json(out / "manifest.json", {**resumed, "eval_setting": {**resumed["eval_setting"], "device": "tpu"}})
    before = (out / "manifest.json").read_bytes()
    msg = fails(capsys, ["--out", str(out), "--n_samples", "4", "--resume"])
    assert "manifest.json: field 'eval_setting' differs" in msg and "'device': 'tpu'" in msg
    assert (out / "manifest.json").read_bytes() == before


def test_bad_yaml_field(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("temprature: 0.5\n")
    assert f"{cfg}: unknown config field(s) temprature" in fails(capsys, ["--config", str(cfg)])
