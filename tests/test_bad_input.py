"""Bad input of the three CLIs: one `error: ...` line naming the file or field, exit 2, nothing written.

Each case here ended in a Python traceback (exit 1) before issue #15."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_checks import one_error_line, tree_digest
from lmeval_logs import our_log_lines, write_log

from harness_ext import report, sweep
from selfimp_train import cli as train_cli
from selfimp_train.config import parse_config
from selfimp_train.task_loading import evaluation_setting
from selfimp_train.manifest import open_manifest

TASK = "selfimp_arith_pass1"
DOCS = [({"id": f"q{i}", "question": f"{i}+1?", "answer": f"#### {i + 1}"}, [("t", str(i + 1), i % 2 == 0)])
        for i in range(4)]


def good_log(out: Path) -> Path:
    return write_log(out, TASK, our_log_lines(DOCS))


# ------------------------------------------------------------------ selfimp-report: sample logs


def _utf16(path: Path) -> None:
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))


def _latin1(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"t"', b'"caf\xe9"', 1))


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(255, -1, -1)) * 4)


@pytest.mark.parametrize("spoil, needle", [
    (_utf16, ":1: not UTF-8 text"),
    (_latin1, ":1: not UTF-8 text"),
    (_binary, ":1: not UTF-8 text"),
])
def test_report_on_a_log_that_is_not_utf8(tmp_path, capsys, spoil, needle):
    spoil(good_log(tmp_path / "a"))
    good_log(tmp_path / "b")
    msg = one_error_line(capsys, report.main, [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")])
    assert f"samples_{TASK}_" in msg and needle in msg
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("doc_id", ["abc", None, 1.5, [1], True])
def test_report_on_a_doc_id_that_is_not_an_int(tmp_path, capsys, doc_id):
    lines = our_log_lines(DOCS)
    lines[2]["doc_id"] = doc_id
    path = write_log(tmp_path / "a", TASK, lines)
    path.write_text(path.read_text().replace("\n", "\n\n", 1))  # a blank line 2: the bad doc is on line 4
    good_log(tmp_path / "b")
    msg = one_error_line(capsys, report.main, [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")])
    assert ".jsonl:4: field 'doc_id' must be an int" in msg
    assert not (tmp_path / "o").exists()


def test_report_out_is_a_file_or_under_one(tmp_path, capsys):
    good_log(tmp_path / "a")
    good_log(tmp_path / "b")
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    for out, needle in ((target, "is a file, not a directory"), (target / "sub", "is a file, not a directory")):
        msg = one_error_line(capsys, report.main, [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
        assert msg.startswith(f"error: --out: {out}") and needle in msg, msg
    assert target.read_text() == "keep me"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_report_out_is_unwritable(tmp_path, capsys):
    good_log(tmp_path / "a")
    good_log(tmp_path / "b")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    msg = one_error_line(capsys, report.main, [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(locked / "o")])
    assert f"--out: {locked / 'o'}" in msg and "not writable" in msg


def test_report_refuses_a_sweep_label_outside_the_sweep_dir(tmp_path, capsys):
    good_log(tmp_path / "good")
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "sweep.json").write_text(json.dumps({"checkpoints": [{"label": "../good", "t": 1}]}))
    msg = one_error_line(capsys, report.main, [str(sweep_dir), "--out", str(tmp_path / "o")])
    assert "sweep.json: checkpoints[0].label '../good' is not a directory name" in msg
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ selfimp-eval sweep


def write_manifest(run: Path, **fields) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "iter_1").mkdir(exist_ok=True)
    manifest = {"format": 1, "task": "arith", "method": "sft", "config": {"model": None},
                "iterations": [{"t": 1, "method": "sft", "label": "M1", "checkpoint": "iter_1", "status": "complete"}]}
    (run / "manifest.json").write_text(json.dumps({**manifest, **fields}))
    return run


@pytest.mark.parametrize("config", [[1], "x", None, 3])
def test_sweep_manifest_config_not_a_mapping(tmp_path, capsys, config):
    run = write_manifest(tmp_path / "run", config=config)
    before = tree_digest(run)
    msg = one_error_line(capsys, sweep.main, [str(run)])
    assert "manifest.json: field 'config' must be an object" in msg
    assert tree_digest(run) == before


def test_sweep_manifest_label_outside_the_sweep_dir(tmp_path, capsys):
    run = write_manifest(tmp_path / "run", iterations=[
        {"t": 1, "method": "sft", "label": "../M1", "checkpoint": "iter_1", "status": "complete"}])
    msg = one_error_line(capsys, sweep.main, [str(run)])
    assert "iterations[0].label '../M1' is not a directory name" in msg


def test_sweep_out_is_a_file(tmp_path, capsys):
    run = write_manifest(tmp_path / "run")
    target = tmp_path / "sweep.txt"
    target.write_text("keep me")
    msg = one_error_line(capsys, sweep.main, [str(run), "--out", str(target)])
    assert f"--out: {target}: is a file, not a directory" in msg
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("old", [[], {"settings": [1]}, {"settings": {"n": 3}}])
def test_sweep_with_a_foreign_sweep_json(tmp_path, capsys, old):
    run = write_manifest(tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(old))
    msg = one_error_line(capsys, sweep.main, [str(run), "--out", str(out)])
    assert f"{out / 'sweep.json'}:" in msg and "use another --out" in msg
    assert json.loads((out / "sweep.json").read_text()) == old


# ------------------------------------------------------------------ selfimp-train


@pytest.mark.parametrize("content, needle", [
    (b"n_samples: 3\nname: caf\xe9\n", "not UTF-8 text"),
    ("name: x\n".encode("utf-16"), "not UTF-8 text"),
    (b"\x00\x01\x02garbage", "not valid YAML"),
    (b"n_samples: !!python/object:os.system 3\n", "not valid YAML"),
    (b"top_p: null\n", "field 'top_p' must be a number, got None"),
    (b"top_p: {a: 1}\n", "field 'top_p' must be a number, got {'a': 1}"),
    (b"out: {a: 1}\n", "field 'out' must be a string or null, got {'a': 1}"),
    (b"lora_target_modules: {a: 1}\n", "field 'lora_target_modules' must be a list of strings, got {'a': 1}"),
    (b"top_p: [0.5, 0.6]\n", "field 'top_p' must be a number, got [0.5, 0.6]"),
    (b"n_samples: 3.5\n", "field 'n_samples' must be an integer, got 3.5"),
    (b"temperature: .nan\n", "field 'temperature' must be a number, got nan"),
    (b"lora: [\n", "not valid YAML (expected the node content, but found '<stream end>' at line 2, column 1)"),
    (b"n_samples: abc\n", "field 'n_samples' must be an integer, got 'abc'"),
    (b"name: --iters\n", None),  # a value that looks like a flag is a value
])
def test_train_bad_yaml(tmp_path, capsys, content, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(content)
    argv = ["--config", str(cfg), "--out", str(tmp_path / "r")]
    if needle is None:
        assert parse_config(argv).name == "--iters"
        return
    msg = one_error_line(capsys, train_cli.main, argv)
    assert msg.startswith(f"error: {cfg}: ") and needle in msg, msg
    assert not (tmp_path / "r").exists()


def new_run(out) -> dict:
    """The manifest a fresh run starts with."""
    cfg = parse_config(["--out", str(out)])
    return open_manifest(cfg, evaluation_setting(cfg))


@pytest.mark.parametrize("config", [[1, 2], None, "x"])
def test_train_resume_manifest_config_not_a_mapping(tmp_path, capsys, config):
    out = tmp_path / "r"
    new_run(out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "config": config}))
    before = tree_digest(out)
    msg = one_error_line(capsys, train_cli.main, ["--out", str(out), "--resume"])
    assert f"{out / 'manifest.json'}: field 'config' must be an object" in msg
    assert tree_digest(out) == before


@pytest.mark.parametrize("field, value, needle", [
    ("iterations", {"a": 1}, "field 'iterations' must be a list of objects with a str 'label' and 'status'"),
    ("iterations", [{"label": 1}], "field 'iterations' must be a list of objects with a str 'label' and 'status'"),
    ("samples", [], "field 'samples' must be an object"),
])
def test_train_resume_manifest_with_bad_records(tmp_path, capsys, field, value, needle):
    out = tmp_path / "r"
    new_run(out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, field: value}))
    msg = one_error_line(capsys, train_cli.main, ["--out", str(out), "--resume"])
    assert needle in msg


def test_train_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "run.txt"
    target.write_text("keep me")
    for extra in ([], ["--resume"]):
        msg = one_error_line(capsys, train_cli.main, ["--out", str(target), *extra])
        assert f"--out: {target}: is a file, not a directory" in msg
    assert target.read_text() == "keep me"
