"""Peak memory of a command's process tree, split by whether a vLLM engine is up.

    python benchmarks/rss_monitor.py OUT.json -- COMMAND...

Every second: the summed RSS of the command and all its descendants. A descendant holding over
200 MiB is a vLLM engine (the trainer's own stages, training and HF generate, run in one process),
so the peaks come out as "with a vLLM engine" (sampling, greedy eval, lm-eval --model vllm) and
"without" (LoRA training, merging, loading); OUT.json gets both and the command's exit code.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil

ENGINE_RSS = 200 * 2**20


def tree_rss(root: psutil.Process) -> tuple[int, bool]:
    """(summed RSS of root and its descendants, whether a descendant holds > ENGINE_RSS)."""
    total, engine = 0, False
    for i, proc in enumerate([root, *root.children(recursive=True)]):
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        engine = engine or (i > 0 and rss > ENGINE_RSS)
    return total, engine


def main() -> int:
    out, command = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
    child = subprocess.Popen(command)
    root = psutil.Process(child.pid)
    peaks = {"with_vllm_engine_mib": 0.0, "without_engine_mib": 0.0}
    while child.poll() is None:
        try:
            total, engine = tree_rss(root)
        except psutil.Error:
            break
        key = "with_vllm_engine_mib" if engine else "without_engine_mib"
        peaks[key] = max(peaks[key], round(total / 2**20, 1))
        time.sleep(1.0)
    code = child.wait()
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"command": command, "returncode": code, **peaks}, f, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
