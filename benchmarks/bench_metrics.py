"""Cost of the diversity task's metric pass over realistic GSM8K-like samples.

Synthesises `--samples` answers per GSM8K test problem from the gold solutions (numbers changed,
steps reordered, sentences varied, some exact duplicates), judges them with the gsm8k verifier,
then times harness_ext.metrics on them: Distinct-N (n=1..5), Distinct Equations and pass@k
(k=1..samples) per problem and per correct/incorrect group; and Sentence-BERT diversity, which
is reported as a RATIO to the plain `SentenceTransformer.encode` floor measured in the same run.

    python benchmarks/bench_metrics.py            # 1,319 problems x 64 samples; SBERT on a subset
    python benchmarks/bench_metrics.py --quick    # seconds: what CI runs
"""
from __future__ import annotations

import argparse
import copy
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args, rows, timed  # noqa: E402

NUMBER = re.compile(r"\d+")
OPENERS = ("", "", "So ", "Then ", "First, ", "Next, ", "This means ", "Now ")
SYNONYMS = [("makes", "earns"), ("total", "sum"), ("each", "every"), ("buys", "purchases"),
            ("has", "owns"), ("There are", "We have"), ("So", "Thus")]


def _vary_numbers(line: str, rng: random.Random) -> str:
    return NUMBER.sub(lambda m: str(int(m.group()) + rng.choice((-2, -1, 1, 3))) if rng.random() < 0.3
                      else m.group(), line)


def _vary_sentence(line: str, rng: random.Random) -> str:
    for a, b in SYNONYMS:
        if a in line and rng.random() < 0.5:
            line = line.replace(a, b, 1)
    return rng.choice(OPENERS) + line


def synthesise(gold: str, n: int, rng: random.Random) -> list[str]:
    """`n` plausible model answers around one gold solution; about 1 in 5 repeats an earlier one."""
    steps, final = gold.rsplit("####", 1)
    lines = [s for s in steps.strip().split("\n") if s.strip()]
    samples: list[str] = []
    for _ in range(n):
        if samples and rng.random() < 0.2:
            samples.append(rng.choice(samples))
            continue
        new = [_vary_sentence(s, rng) for s in lines]
        if len(new) > 2 and rng.random() < 0.4:
            i = rng.randrange(len(new) - 1)
            new[i], new[i + 1] = new[i + 1], new[i]
        answer = final.strip()
        if rng.random() < 0.4:  # a wrong number somewhere, usually carried to the answer
            j = rng.randrange(len(new))
            new[j] = _vary_numbers(new[j], rng)
            if rng.random() < 0.8:
                answer = _vary_numbers(answer, rng) if answer != _vary_numbers(answer, rng) else answer + "1"
        samples.append("\n".join(new) + f"\n#### {answer}")
    return samples


def make_problems(n_problems: int, n_samples: int, seed: int = 0) -> list[dict]:
    """[{id, samples, correct}] for the first `n_problems` GSM8K test rows, judged by the gsm8k verifier."""
    from harness_ext.verify import get_verifier

    verifier = get_verifier("gsm8k")
    rng = random.Random(seed)
    problems = []
    for row in rows("gsm8k", "test")[:n_problems]:
        samples = synthesise(row["answer"], n_samples, rng)
        ref = verifier.reference(row)
        problems.append({"id": row["id"], "samples": samples,
                         "correct": verifier.judge(samples, [ref] * len(samples))})
    return problems


def groups_of(problems: list[dict]) -> list[list[str]]:
    """Per problem, its correct samples then its incorrect ones: the paper's two diversity groups."""
    out = []
    for p in problems:
        out.append([s for s, ok in zip(p["samples"], p["correct"]) if ok])
        out.append([s for s, ok in zip(p["samples"], p["correct"]) if not ok])
    return out


def cheap_metrics(problems: list[dict], n: int) -> tuple[dict, dict]:
    """Distinct-N, Distinct Equations and pass@k for every problem/group; (seconds per part, results)."""
    from harness_ext.metrics import distinct_equations, distinct_n_avg, pass_at_k

    t: dict[str, float] = {}
    groups = groups_of(problems)
    with timed(t, "distinct_n"):
        dn = [distinct_n_avg(g) for g in groups]
    with timed(t, "distinct_equations"):
        de = [distinct_equations(g) for g in groups]
    with timed(t, "pass_at_k"):
        pk = np.array([[pass_at_k(n, sum(p["correct"]), k) for k in range(1, n + 1)] for p in problems])
    return t, {"distinct_n": dn, "distinct_equations": de, "pass_at_k": pk}


def sbert_part(problems: list[dict], floor_texts: int, report: Report, int8: bool = True) -> None:
    """Plain-encode floor vs harness_ext.metrics.sbert_diversity_many in fp32, bf16 and int8."""
    from harness_ext.metrics import load_sbert, sbert_diversity_many

    model = load_sbert()
    groups = groups_of(problems)
    all_texts = [t for g in groups if len(g) >= 2 for t in g]
    unique = len(set(all_texts))
    report.add("sbert texts (groups of >= 2)", len(all_texts))
    report.add("sbert distinct texts", unique)

    model.encode(all_texts[:64])  # warm-up: first-call allocations are not the floor
    floor = random.Random(0).sample(all_texts, min(floor_texts, len(all_texts)))  # lengths as in all
    start = time.perf_counter()
    model.encode(floor, convert_to_numpy=True)  # the plain call: defaults, every text, fp32
    floor_s = time.perf_counter() - start
    floor_rate = len(floor) / floor_s
    report.add("plain encode floor (this machine)", floor_rate, f"texts/s over {len(floor)} texts")
    floor_total = len(all_texts) / floor_rate
    report.add("plain encode, projected for these texts (this machine)", floor_total, "s")

    start = time.perf_counter()
    fp32 = np.array(sbert_diversity_many(groups, model=model))
    fp32_s = time.perf_counter() - start
    report.add("sbert_diversity_many fp32 (this machine)", fp32_s, "s")
    report.add("speed-up fp32 (dedup, length-sorted batches) vs plain floor", floor_total / fp32_s, "x")

    variants = [("bf16", lambda: {"dtype": "bfloat16"})]  # the library's own option
    if int8:
        variants.append(("int8 dynamic", lambda: {"model": _int8(model)}))
    for backend in ("onnx", "openvino"):
        missing = _backend_missing(backend)
        report.add(f"{backend} backend", missing or "available")
        if missing is None:
            variants.append((backend, lambda b=backend: {"model": _backend_model(b)}))
    for label, build in variants:
        kwargs = build()
        sbert_diversity_many([all_texts[:64]], **kwargs)  # warm-up (and the one-off bf16 load)
        start = time.perf_counter()
        scores = np.array(sbert_diversity_many(groups, **kwargs))
        seconds = time.perf_counter() - start
        diff = float(np.nanmax(np.abs(scores - fp32)))
        report.add(f"sbert_diversity_many {label} (this machine)", seconds, "s")
        report.add(f"speed-up {label} vs plain floor", floor_total / seconds, "x")
        report.add(f"speed-up {label} vs fp32 library call", fp32_s / seconds, "x")
        report.add(f"{label} max |score - fp32 score|", diff,
                   "qualifies (<= 0.01)" if diff <= 0.01 else "REJECTED (> 0.01)")
        report.add(f"{label}: seconds per 1k distinct texts (this machine)", 1000 * seconds / unique, "s")


def _int8(model):
    """Linear layers as int8 with dynamic activation quantization (torch.ao)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear},
                                                      dtype=torch.qint8)


def _backend_missing(backend: str) -> str | None:
    """Why sentence-transformers' `backend=` cannot be used here (it needs optimum-onnx / -intel); None if it can."""
    import importlib.util

    module = "optimum.onnxruntime" if backend == "onnx" else "optimum.intel"
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        return None
    if backend == "onnx":
        return ("not measured: needs optimum-onnx, whose 0.1.0 release pins transformers<4.58 "
                "(installing it would downgrade this env's transformers 5.x)")
    return ("not measured: needs optimum-intel + openvino; optimum-intel 2.2 pins transformers<5.6 "
            "(measure it in a venv of its own: benchmarks/README.md)")


def _backend_model(backend: str):
    """The default MiniLM through sentence-transformers' ONNX / OpenVINO backend (exported on load)."""
    from sentence_transformers import SentenceTransformer

    from harness_ext.metrics import default_sbert_path

    return SentenceTransformer(default_sbert_path(), backend=backend, device="cpu")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=1319)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--sbert-problems", type=int, default=40, help="problems in the SBERT part")
    parser.add_argument("--floor-texts", type=int, default=2000, help="texts in the plain-encode floor")
    parser.add_argument("--no-sbert", action="store_true")
    args = parse_bench_args(parser, {"problems": 30, "samples": 16, "sbert_problems": 3, "floor_texts": 24})
    report = Report("bench_metrics: diversity-task metric pass")
    start = time.perf_counter()
    problems = make_problems(args.problems, args.samples)
    report.add("problems x samples", f"{len(problems)} x {args.samples}")
    report.add("synthesis + judging (not timed as metrics; this machine)", time.perf_counter() - start, "s")
    report.add("correct fraction", float(np.mean([c for p in problems for c in p["correct"]])))
    report.add("duplicate fraction",
               1 - sum(len(set(p["samples"])) for p in problems) / (len(problems) * args.samples))
    parts, _ = cheap_metrics(problems, args.samples)
    for name, seconds in parts.items():
        report.add(f"{name} (this machine)", seconds, "s")
    total = sum(parts.values())
    report.add("all metrics but embeddings (this machine)", total, "s (target < 10 s)")
    if not args.no_sbert:
        sbert_part(problems[: args.sbert_problems], args.floor_texts, report, int8=not args.quick)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
