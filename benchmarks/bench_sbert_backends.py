"""Sentence-BERT backends on the report's own path: texts/s and the diversity numbers of
`metrics.sbert_diversity_many` with the torch model in float32 (the reference) and each other
(backend, dtype) of `--arms`, interleaved in one process.

Texts: the diversity samples of bench_report_scale's sweep (real GSM8K solutions with one line
swapped, realistic lengths, all distinct). The problems are cut into `--rounds` chunks; each chunk
is scored by every arm in a rotating order (A B C, B C A, ...), so a change in the machine's speed
during the run falls on every arm alike. Figures per arm: texts/s (wall) and CPU seconds per 1,000
texts over all chunks, the median per-chunk wall ratio to the reference, and the max |diversity -
the reference's| over every problem's correct and incorrect samples (the groups the report scores).

`openvino:int8` (needs `pip install nncf`; not a backend of the report) is NNCF's post-training int8
quantisation of the same converted model (`nncf.quantize`, transformer preset: SmoothQuant and
bias correction), calibrated on 320 GSM8K training solutions (none is a text it is timed on), its
remaining operations in float32.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, data_dir, parse_bench_args, rows  # noqa: E402
from bench_report_scale import build_sweep  # noqa: E402

REFERENCE = "torch:float32"
CALIBRATION_TEXTS = 320


def load_arm(arm: str):
    """The encoder of `arm` (BACKEND:DTYPE): the report's own, or the int8 quantisation above."""
    from harness_ext.report import sbert_backends

    backend, dtype = arm.split(":")
    if dtype != "int8":
        return sbert_backends.load_encoder(backend, dtype)
    try:
        import nncf
    except ImportError:
        raise SystemExit(f"{arm} needs NNCF: pip install nncf") from None
    import openvino as ov

    model, converted = sbert_backends.openvino_conversion()
    texts = [row["answer"] for row in rows("gsm8k", "train")[:CALIBRATION_TEXTS]]
    names = [port.get_any_name() for port in converted.inputs]
    batches = [{k: v.numpy() for k, v in model[0].preprocess(texts[i:i + 8]).items() if k in names}
               for i in range(0, len(texts), 8)]
    quantized = nncf.quantize(converted, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(batches))
    hint = ov.properties.hint.inference_precision(ov.Type.f32)
    return sbert_backends.with_compiled(model, ov.Core().compile_model(quantized, "CPU", dict([hint])))


def problem_groups(sweep: Path) -> list[list[str]]:
    """Each problem's correct and incorrect diversity samples, per checkpoint (groups of >= 2 texts)."""
    from harness_ext import metrics
    from harness_ext.report.analysis import dataset_logs
    from harness_ext.report.diversity import KINDS, texts_of
    from harness_ext.report.inputs import load_inputs

    logs = [logs.diversity for ck in load_inputs([str(sweep)]).checkpoints
            for logs in dataset_logs(ck).values() if logs.diversity]
    return [group for log in logs for doc_id in log.docs for _, want in KINDS
            if len(group := texts_of(log, doc_id, want)) >= metrics.MIN_TEXTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=1)
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--samples", type=int, default=50, help="samples per problem")
    parser.add_argument("--rounds", type=int, default=8, help="chunks of problems, each scored by every arm")
    parser.add_argument("--arms", nargs="+", default=["openvino:float32", "openvino:bfloat16"],
                        help=f"BACKEND:DTYPE to time against {REFERENCE} (float32, bfloat16; int8 for openvino)")
    args = parse_bench_args(parser, {"problems": 4, "samples": 6, "rounds": 2})
    os.environ.setdefault("SELFIMP_DATA_DIR", str(data_dir()))
    import torch

    from harness_ext import metrics

    report = Report(f"Sentence-BERT backends vs {REFERENCE}, interleaved")
    with tempfile.TemporaryDirectory(prefix="bench-sbert-") as tmp:
        groups = problem_groups(build_sweep(Path(tmp) / "sweep", args.checkpoints, args.problems, args.samples))
    n_texts = sum(map(len, groups))
    report.add("texts", f"{n_texts} ({args.checkpoints} checkpoints x {args.problems} problems x {args.samples} "
                        f"samples, in {len(groups)} correct / incorrect groups, {args.rounds} rounds)")
    arms = [REFERENCE, *args.arms]
    models = {arm: load_arm(arm) for arm in arms}
    report.add("threads", f"torch {torch.get_num_threads()}, OpenVINO " + ", ".join(
        f"{arm} {m[0].model.compiled.get_property('INFERENCE_NUM_THREADS')}"
        for arm, m in models.items() if arm.startswith("openvino")))
    for model in models.values():  # warm-up: first-call costs are not timed
        metrics.sbert_diversity_many([["a warm-up text", "another warm-up text"]], model=model)
    wall = {arm: [] for arm in arms}
    cpu = dict.fromkeys(arms, 0.0)
    scores: dict[str, list[float]] = {arm: [] for arm in arms}
    step = math.ceil(len(groups) / args.rounds)
    for r, start in enumerate(range(0, len(groups), step)):
        chunk = groups[start:start + step]
        for arm in arms[r % len(arms):] + arms[:r % len(arms)]:
            t, c = time.perf_counter(), time.process_time()
            values = metrics.sbert_diversity_many(chunk, model=models[arm])
            wall[arm].append(time.perf_counter() - t)
            cpu[arm] += time.process_time() - c
            scores[arm].extend(values)
    for arm in arms:
        report.add(f"{arm}: texts/s (wall)", n_texts / sum(wall[arm]), "texts/s")
        report.add(f"{arm}: CPU per 1,000 texts", 1000 * cpu[arm] / n_texts, "s")
        if arm != REFERENCE:
            ratios = [ref / mine for ref, mine in zip(wall[REFERENCE], wall[arm])]
            report.add(f"{arm}: speed-up over {REFERENCE}, median per round (min-max)",
                       f"{statistics.median(ratios):.3g} ({min(ratios):.3g}-{max(ratios):.3g})", "x")
            report.add(f"{arm}: CPU {REFERENCE} / this", cpu[REFERENCE] / cpu[arm], "x")
            gap = max(abs(a - b) for a, b in zip(scores[arm], scores[REFERENCE]))
            report.add(f"{arm}: max |diversity - {REFERENCE}'s|", gap)
            report.add(f"{arm}: keeps the numbers (<= 0.001)", "yes" if gap <= 0.001 else "NO")
    report.finish(args.json)


if __name__ == "__main__":
    main()
