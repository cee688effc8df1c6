"""The least time Sentence-BERT encoding can take at the paper's size on this machine, and how close
each backend comes to it.

Work: all-MiniLM-L6-v2's matrix multiplies, counted from its config for each text's own token
count (its tokenizer, truncated at max_seq_length): per layer and token 2 (4 h^2 + 2 h f) FLOPs for
the projections and the feed-forward, plus 4 h L for attention over the text's L tokens. Padding
within a batch is not counted, so this is a lower bound on the work.
Ceiling: matrix-multiply throughput at the model's feed-forward shape (a batch of 32 mean-length
texts' tokens x h times h x f) and at 2048^3, in float32 and bfloat16, by torch and by OpenVINO (each
library's own kernels for this CPU); the largest of the four per dtype.
Floor: work / ceiling for a cold paper-size report (5 x 1,319 x 50 texts) and one added checkpoint
(1 x 1,319 x 50), against the issue's 10 and 2 minutes. Each backend's texts/s on the same texts
(the report's path, `metrics.sbert_diversity_many`, warm-up excluded) gives its share of the ceiling.
Texts: bench_report_scale's diversity samples (real GSM8K solutions, realistic lengths, all distinct).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, data_dir, parse_bench_args  # noqa: E402
from bench_report_scale import build_sweep  # noqa: E402
from bench_sbert_backends import load_arm, problem_groups  # noqa: E402

from harness_ext.report.sbert_backends import OPENVINO_PRECISION  # noqa: E402

PAPER_TEXTS = 5 * 1319 * 50
TARGETS = {"cold report (5 x 1,319 x 50 texts)": (PAPER_TEXTS, 600),
           "one added checkpoint (1,319 x 50 texts)": (PAPER_TEXTS // 5, 120)}


def text_flops(n_tokens: int, config) -> float:
    h, f = config.hidden_size, config.intermediate_size
    return 2.0 * config.num_hidden_layers * n_tokens * (4 * h * h + 2 * h * f + 2 * h * n_tokens)


def best_rate(flops: float, call, seconds: float) -> float:
    """FLOP/s of `call` (doing `flops`): the best of 5 timings, each repeated for about `seconds` / 5."""
    for _ in range(3):
        call()
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds / 5 or reps < 2:
        call()
        reps += 1
    best = (time.perf_counter() - start) / reps
    for _ in range(4):
        t = time.perf_counter()
        for _ in range(reps):
            call()
        best = min(best, (time.perf_counter() - t) / reps)
    return flops / best


def matmul_rates(m: int, k: int, n: int, dtype: str, seconds: float) -> dict[str, float]:
    """FLOP/s of an (m x k) @ (k x n) matmul in `dtype` by torch and by OpenVINO (its precision hint)."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops
    import torch

    flops = 2.0 * m * k * n
    a, b = torch.randn(m, k).to(getattr(torch, dtype)), torch.randn(k, n).to(getattr(torch, dtype))
    x = ops.parameter([m, k], ov.Type.f32)
    model = ov.Model([ops.matmul(x, ops.constant(np.random.randn(k, n).astype(np.float32)), False, False)], [x])
    hint = ov.properties.hint.inference_precision(getattr(ov.Type, OPENVINO_PRECISION[dtype]))
    request = ov.Core().compile_model(model, "CPU", dict([hint])).create_infer_request()
    inputs = [np.random.randn(m, k).astype(np.float32)]
    return {"torch": best_rate(flops, lambda: a @ b, seconds),
            "OpenVINO": best_rate(flops, lambda: request.infer(inputs), seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--samples", type=int, default=50, help="samples per problem")
    parser.add_argument("--arms", nargs="+", default=["torch:float32", "openvino:float32", "openvino:bfloat16"],
                        help="BACKEND:DTYPE encoders to time (as bench_sbert_backends.py)")
    parser.add_argument("--gemm-seconds", type=float, default=5.0, help="time spent on each matmul ceiling")
    args = parse_bench_args(parser, {"problems": 3, "samples": 6, "gemm_seconds": 0.2})
    os.environ.setdefault("SELFIMP_DATA_DIR", str(data_dir()))
    try:
        import openvino  # noqa: F401
    except ImportError:
        raise SystemExit("bench_sbert_floor.py needs OpenVINO: pip install 'selfimp[openvino]'") from None
    import torch

    from harness_ext import metrics

    report = Report("Sentence-BERT encoding: the floor on this machine vs each backend")
    with tempfile.TemporaryDirectory(prefix="bench-sbert-floor-") as tmp:
        groups = problem_groups(build_sweep(Path(tmp) / "sweep", 1, args.problems, args.samples))
    texts = [t for g in groups for t in g]
    reference = metrics.load_sbert()
    config, limit = reference[0].model.config, reference.max_seq_length
    lengths = [min(len(ids), limit) for ids in reference.tokenizer(texts)["input_ids"]]
    flops = statistics.fmean(text_flops(n, config) for n in lengths)
    report.add("texts", f"{len(texts)} ({args.problems} problems x {args.samples} samples, distinct)")
    report.add("tokens per text, mean (median, max)",
               f"{statistics.fmean(lengths):.1f} ({statistics.median(lengths):g}, {max(lengths)})")
    report.add("work per text (matrix multiplies, no padding)", flops / 1e9, "GFLOP")
    report.add("threads", torch.get_num_threads())

    tokens = 32 * round(statistics.fmean(lengths))
    ceiling = {}
    for dtype in OPENVINO_PRECISION:
        rates = {}
        for shape in ((tokens, config.hidden_size, config.intermediate_size), (2048, 2048, 2048)):
            for library, rate in matmul_rates(*shape, dtype, args.gemm_seconds).items():
                rates[f"{library} {'x'.join(map(str, shape))}"] = rate
        report.add(f"matmul {dtype}: " + " | ".join(rates), " | ".join(f"{r / 1e9:.0f}" for r in rates.values()),
                   "GFLOP/s")
        ceiling[dtype] = max(rates.values())
    for what, (n_texts, target_s) in TARGETS.items():
        for name, peak in ceiling.items():
            report.add(f"{what}: floor at the {name} ceiling", n_texts * flops / peak, "s")
        report.add(f"{what}: texts/s the issue's {target_s // 60} minutes need", n_texts / target_s, "texts/s")
    report.add("texts/s at the bfloat16 ceiling", ceiling["bfloat16"] / flops, "texts/s")

    for arm in args.arms:
        model = load_arm(arm)
        metrics.sbert_diversity_many([["a warm-up text", "another warm-up text"]], model=model)
        start = time.perf_counter()
        metrics.sbert_diversity_many(groups, model=model)
        rate = len(texts) / (time.perf_counter() - start)
        basis = arm.split(":")[1] if arm.split(":")[1] in ceiling else "bfloat16"  # int8: against bfloat16's
        report.add(f"{arm}: texts/s", rate, "texts/s")
        report.add(f"{arm}: share of the {basis} ceiling", rate * flops / ceiling[basis])
        report.add(f"{arm}: paper-size cold encoding at this rate", PAPER_TEXTS / rate / 60, "min")
    report.finish(args.json)


if __name__ == "__main__":
    main()
