"""selfimp-eval sweep: checkpoints of a run, lm-eval's own output per checkpoint, skip + crash safety."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness_ext import arith
from harness_ext.errors import SelfimpError
from harness_ext.report import write_report
from harness_ext.report.analysis import Options
from harness_ext.samples import read_sample_logs
from harness_ext.run_format import RunManifest
from harness_ext.sweep import completed_tasks, main, model_args_for
from harness_ext.sweep_checkpoints import CheckpointSpec, explicit_checkpoints, run_checkpoints
from harness_ext.sweep_settings import EMBEDDED, SweepSettings, default_tasks

TASKS = ["selfimp_arith_pass1", "selfimp_arith_passn"]
FAST = ["--tasks", *TASKS, "--limit", "2", "--n", "2", "--batch-size", "8", "--gen-kwargs", "max_gen_toks=6"]


def make_run(root: Path, n_iters: int = 2, incomplete: bool = True) -> Path:
    """A training-run dir as selfimp-train writes it, with random tiny arith models as checkpoints."""
    from selfimp_train.tiny_model import TinyLlamaSpec, build_tiny_llama, build_tokenizer

    tok = build_tokenizer()
    spec = TinyLlamaSpec(hidden_size=32, num_hidden_layers=1, num_attention_heads=1, intermediate_size=64)
    iterations = []
    for t in range(1, n_iters + 1):
        build_tiny_llama(tok, seed=t, spec=spec).save_pretrained(root / f"iter_{t}")
        tok.save_pretrained(root / f"iter_{t}")
        iterations.append({"t": t, "method": "sft", "label": f"M{t}", "checkpoint": f"iter_{t}", "status": "complete"})
    if incomplete:
        iterations.append({"t": n_iters + 1, "method": "sft", "label": f"M{n_iters + 1}",
                           "checkpoint": f"iter_{n_iters + 1}", "status": "running"})
    (root / "manifest.json").write_text(json.dumps({"format": 1, "task": "arith", "method": "sft",
                                                    "config": {"model": None}, "iterations": iterations}))
    return root


def test_embedded_defaults_match_the_trainer_preset():
    """A run that records no eval_setting is swept on the problems the embedded trainer evaluates:
    the whole arith test split, at the preset's batch size."""
    from selfimp_train.config import EMBEDDED_PRESET

    assert EMBEDDED["limit"] == EMBEDDED_PRESET["eval_max_questions"] == arith.SPLITS["test"].n
    assert EMBEDDED["batch_size"] == EMBEDDED_PRESET["eval_batch_size"]
    assert EMBEDDED["n"] == EMBEDDED_PRESET["n_samples"]


def test_checkpoints_from_manifest_and_lists(tmp_path):
    run = make_run(tmp_path / "run")
    manifest = RunManifest.read(run)
    specs = run_checkpoints(manifest)
    assert (manifest.task, manifest.embedded) == ("arith", True)
    assert [(s.label, s.t, s.method) for s in specs] == [("M1", 1, "sft"), ("M2", 2, "sft")]  # M3 not complete
    assert specs[0].path == str((run / "iter_1").resolve())
    assert default_tasks("gsm8k")[3:] == ["selfimp_math_groups", "selfimp_svamp_pass1", "selfimp_mawps_pass1"]
    assert "selfimp_math_groups" in default_tasks("math") and "selfimp_arith_groups" in default_tasks("arith")
    assert "selfimp_arith_diversity" in default_tasks("arith")
    embedded = default_tasks("arith", embedded=True)  # report: diversity from passn, pass@1 from groups
    assert "selfimp_arith_diversity" not in embedded and "selfimp_arith_pass1" not in embedded
    assert "selfimp_arith_groups" in embedded
    assert [s.label for s in explicit_checkpoints(["a/m1", "b/m2"], None)] == ["m1", "m2"]
    with pytest.raises(SelfimpError, match="2 checkpoints"):
        explicit_checkpoints(["a", "b"], ["x"])
    with pytest.raises(SelfimpError, match="unique"):
        explicit_checkpoints(["a/m", "b/m"], None)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text(json.dumps({"task": "arith", "iterations": []}))
    with pytest.raises(SelfimpError, match="no iteration with status 'complete'"):
        run_checkpoints(RunManifest.read(tmp_path / "bad"))
    with pytest.raises(SelfimpError, match="manifest.json: file not found"):
        RunManifest.read(tmp_path / "nothing")


def test_model_args_full_and_peft(tmp_path):
    settings = SweepSettings(dtype="float32", model_args="max_length=256")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "config.json").write_text("{}")
    assert model_args_for(CheckpointSpec("a", str(tmp_path / "full"), 1, "sft"), settings) == \
        f"pretrained={tmp_path / 'full'},dtype=float32,max_length=256"
    (tmp_path / "lora" / "adapter").mkdir(parents=True)
    (tmp_path / "lora" / "adapter" / "adapter_config.json").write_text('{"base_model_name_or_path": "org/base"}')
    assert model_args_for(CheckpointSpec("b", str(tmp_path / "lora"), 2, "sft"), settings).startswith(
        f"pretrained=org/base,peft={tmp_path / 'lora' / 'adapter'},")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SelfimpError, match="neither an HF checkpoint"):
        model_args_for(CheckpointSpec("c", str(tmp_path / "empty"), 3, "sft"), settings)


def test_completed_tasks_need_results_and_samples(tmp_path):
    d = tmp_path / "M1" / "2026-01-01T00-00-00.1"
    d.mkdir(parents=True)
    (d / "results_2026-01-01T00-00-00.1.json").write_text(json.dumps({"results": {"a": {}, "b": {}}}))
    (d / "samples_a_2026-01-01T00-00-00.1.jsonl").write_text("{}\n")
    hidden = tmp_path / "M1" / ".tmp-1"
    hidden.mkdir()
    (hidden / "results_x.json").write_text(json.dumps({"results": {"c": {}}}))
    (hidden / "samples_c_x.jsonl").write_text("{}\n")
    assert completed_tasks(tmp_path / "M1") == {"a"}


def test_bad_cli_inputs(tmp_path, capsys):
    run = make_run(tmp_path / "run", n_iters=1, incomplete=False)
    for argv, message in (
        ([str(tmp_path / "nope")], "no such run directory"),
        ([], "either a training run dir or --checkpoints"),
        (["--checkpoints", str(tmp_path / "missing"), "--train-task", "arith", "--out", str(tmp_path / "o")],
         "does not exist"),
        ([str(run), "--tasks", "selfimp_arith_nonsense"], "unknown task"),
        ([str(run), "--n", "0"], "--n must be >= 1"),
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err, argv
    assert not (run / "sweep").exists()  # nothing written on a bad input


def test_sweep_killed_midway_then_resumed(tmp_path, capsys):
    """SIGKILL during the second checkpoint; the re-run skips the first and leaves each result once."""
    run = make_run(tmp_path / "run")
    out = run / "sweep"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness_ext.cli", "sweep", str(run), *FAST],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    deadline = time.time() + 240
    try:
        while not list((out / "M2").glob(".tmp-*")):
            assert proc.poll() is None, "sweep ended before it could be killed"
            assert time.time() < deadline, "sweep never reached the second checkpoint"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert completed_tasks(out / "M1") == set(TASKS)
    assert completed_tasks(out / "M2") == set()  # the half-done checkpoint does not count
    assert list((out / "M2").glob(".tmp-*"))  # ... though its temporary dir was left behind

    assert main([str(run), *FAST]) == 0
    log = capsys.readouterr().out
    assert "M1: all 2 tasks already evaluated, skipped" in log and "M2: evaluating" in log
    meta = json.loads((out / "sweep.json").read_text())
    assert [c["label"] for c in meta["checkpoints"]] == ["M1", "M2"] and meta["tasks"] == TASKS
    for label in ("M1", "M2"):
        assert not list((out / label).glob(".tmp-*"))
        (run_dir,) = [p for p in (out / label).iterdir()]
        assert sorted(p.name.split("_2026")[0].split("_20")[0] for p in run_dir.iterdir()) == \
            ["results", "samples_selfimp_arith_pass1", "samples_selfimp_arith_passn"]
        logs = read_sample_logs(out / label)
        assert logs["selfimp_arith_pass1"].n_samples == 1 and len(logs["selfimp_arith_pass1"].docs) == 2
        assert logs["selfimp_arith_passn"].n_samples == 2  # --n 2 overrode repeats
    # the report reads the sweep through the run dir
    report = write_report([str(run)], tmp_path / "report", opts=Options(sbert=False))
    assert report["series"] == {"sft": ["M1", "M2"]}
    assert report["datasets"]["selfimp_arith"]["improvement"]["M2"]["n_common"] == 2
    assert report["datasets"]["selfimp_arith"]["diversity"]["M2"]["task"] == "selfimp_arith_passn"  # no diversity log
    # a second sweep with other settings into the same dir is refused
    with pytest.raises(SystemExit):
        main([str(run), *FAST[:-2]])
    assert "other settings" in capsys.readouterr().err


def test_run_setting_is_the_default_and_a_departure_is_reported(tmp_path, capsys):
    """A run's recorded eval_setting gives the sweep's defaults; an explicit flag overrides it and
    makes the trainer's and the sweep's greedy numbers not comparable (sweep.json and report.md)."""
    from harness_ext.eval_setting import EvalSetting
    from harness_ext.report.markdown import trainer_comparison_lines
    from harness_ext.sweep import build_parser
    from harness_ext.sweep_settings import sweep_settings, trainer_comparison

    recorded = EvalSetting.for_task("arith", backend="hf", dtype="bfloat16", device="cpu", batch_size=12,
                                    max_new_tokens=40, max_questions=12)
    settings = sweep_settings(build_parser().parse_args(["run"]), recorded, "arith", embedded=True)
    assert (settings.model, settings.dtype, settings.batch_size, settings.limit, settings.gen_kwargs, settings.n) == \
        ("hf", "bfloat16", "12", 12, "max_gen_toks=40", 8)
    assert trainer_comparison(recorded, settings, "arith") == {"comparable": True, "differences": []}
    args = build_parser().parse_args(["run", "--dtype", "float32", "--gen-kwargs", "max_gen_toks=40,top_k=5"])
    comparison = trainer_comparison(recorded, sweep_settings(args, recorded, "arith", embedded=True), "arith")
    assert comparison == {"comparable": False,
                          "differences": ["dtype: 'bfloat16' (run) vs 'float32'", "gen_kwargs: top_k=5 (sweep only)"]}
    assert "dtype: 'bfloat16' (run) vs 'float32'" in trainer_comparison_lines({"trainer_comparison": comparison})[0]
    assert trainer_comparison_lines({"trainer_comparison": {"comparable": True, "differences": []}}) == []
    assert trainer_comparison(None, settings, "arith")["comparable"] is None
    # A run trained and evaluated in the chat template: the sweep follows it unless told otherwise.
    chat = EvalSetting.for_task("arith", backend="hf", dtype="float32", device="cpu", batch_size=12, chat_template=True)
    assert sweep_settings(build_parser().parse_args(["run"]), chat, "arith", embedded=True).apply_chat_template
    plain = sweep_settings(build_parser().parse_args(["run", "--no-apply-chat-template"]), chat, "arith", embedded=True)
    assert not plain.apply_chat_template
    assert trainer_comparison(chat, plain, "arith")["differences"] == [  # the chat template's stops have no \n\n
        "stop: ['Question:'] (run) vs ['Question:', '\\n\\n']",
        "prompt_format: 'selfimp-zero-shot+chat-template' (run) vs 'selfimp-zero-shot'"]
    # A manifest whose eval_setting is broken: one error line naming the file and field, nothing written.
    run = make_run(tmp_path / "run", n_iters=1, incomplete=False)
    manifest = json.loads((run / "manifest.json").read_text())
    bad = {**recorded.to_dict(), "dtype": None}
    (run / "manifest.json").write_text(json.dumps({**manifest, "eval_setting": bad}))
    with pytest.raises(SystemExit) as e:
        main([str(run)])
    assert e.value.code == 2
    assert f"{run / 'manifest.json'}: field 'eval_setting.dtype'" in capsys.readouterr().err
    assert not (run / "sweep").exists()


def test_run_attention_reaches_lm_eval_and_older_settings_read_as_the_default(tmp_path):
    """The trainer's --attn_implementation (recorded in eval_setting) becomes lm-eval's model arg, a
    different one is a reported departure, and files written before the field existed read as None."""
    from dataclasses import asdict

    from harness_ext.eval_setting import EvalSetting
    from harness_ext.run_format import write_sweep
    from harness_ext.sweep import build_parser
    from harness_ext.sweep_settings import check_settings, sweep_settings, trainer_comparison

    recorded = EvalSetting.for_task("arith", backend="hf", dtype="float32", device="cpu", batch_size=12,
                                    attn_implementation="eager")
    settings = sweep_settings(build_parser().parse_args(["run"]), recorded, "arith", embedded=True)
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text("{}")
    assert model_args_for(CheckpointSpec("M1", str(tmp_path / "ck"), 1, "sft"), settings) == \
        f"pretrained={tmp_path / 'ck'},dtype=float32,attn_implementation=eager"
    assert trainer_comparison(recorded, settings, "arith")["comparable"] is True
    sdpa = sweep_settings(build_parser().parse_args(["run", "--attn-implementation", "sdpa"]), recorded, "arith",
                          embedded=True)
    assert trainer_comparison(recorded, sdpa, "arith")["differences"] == ["attn_implementation: 'eager' (run) vs 'sdpa'"]
    vllm = EvalSetting.for_task("arith", backend="vllm", dtype="float32", device="cpu", batch_size=12,
                                attn_implementation="eager")
    assert vllm.attn_implementation is None  # vLLM chooses its own attention backend
    older = {k: v for k, v in recorded.to_dict().items() if k != "attn_implementation"}
    assert EvalSetting.from_dict(older, "m.json").attn_implementation is None
    with pytest.raises(SelfimpError, match="m.json: field 'eval_setting.attn_implementation'"):
        EvalSetting.from_dict({**older, "attn_implementation": 1}, "m.json")
    meta = {"settings": asdict(SweepSettings())}
    (tmp_path / "sw").mkdir()
    write_sweep(tmp_path / "sw", {**meta, "settings": {k: v for k, v in meta["settings"].items()
                                                       if k != "attn_implementation"}})
    check_settings(tmp_path / "sw", meta)  # an older sweep.json without the field: the same settings
    with pytest.raises(SelfimpError, match="other settings"):
        check_settings(tmp_path / "sw", {"settings": {**meta["settings"], "attn_implementation": "eager"}})


def test_sampled_tasks_take_their_own_limit(tmp_path, capsys):
    """--sampled-limit: the greedy tasks evaluate the first 4 problems, the sampling task the first 2,
    in two lm-eval calls whose logs the report reads as one checkpoint."""
    run = make_run(tmp_path / "run", n_iters=1, incomplete=False)
    out = tmp_path / "sweep"
    assert main([str(run), "--tasks", *TASKS, "--limit", "4", "--sampled-limit", "2", "--n", "2", "--batch-size", "8",
                 "--gen-kwargs", "max_gen_toks=6", "--out", str(out)]) == 0
    assert completed_tasks(out / "M1") == set(TASKS) and len(list((out / "M1").iterdir())) == 2
    logs = read_sample_logs(out / "M1")
    assert len(logs["selfimp_arith_pass1"].docs) == 4 and len(logs["selfimp_arith_passn"].docs) == 2
    assert json.loads((out / "sweep.json").read_text())["settings"]["sampled_limit"] == 2
    with pytest.raises(SystemExit) as e:
        main([str(run), "--sampled-limit", "0", "--out", str(tmp_path / "bad")])
    assert e.value.code == 2 and "--sampled-limit must be >= 1" in capsys.readouterr().err
