"""Throughput of the verifiers on real rows: extract + judge for gsm8k, math (math-verify), csqa;
MBPP programs per second in the sandbox with 1 and 2 workers (the pool's scaling as a ratio).

Completions are each row's gold answer and a wrong variant of it, so about half are correct.

    python benchmarks/bench_verifiers.py
    python benchmarks/bench_verifiers.py --quick
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args, rows  # noqa: E402

SIMPLE_S = 0.05  # an MBPP program is simple if it runs unsandboxed in under this

LAST_NUMBER = re.compile(r"(-?\d[\d,]*)(?!.*\d)", re.DOTALL)


def _wrong_number(text: str) -> str:
    """`text` with its last number increased by one."""
    return LAST_NUMBER.sub(lambda m: str(int(m.group(1).replace(",", "")) + 1), text, count=1)


def completions(task: str, docs: list[dict]) -> list[str]:
    """Per doc: the gold completion, then a wrong one."""
    from harness_ext.prompts import gold_completion

    out = []
    for doc in docs:
        gold = gold_completion(task, doc)
        if task == "csqa":
            wrong = f" The answer is ({'A' if doc['answerKey'] != 'A' else 'B'})."
        elif task == "math":
            wrong = gold.replace("\\boxed{", "\\boxed{1+", 1) if "\\boxed{" in gold else gold + " 1"
        else:
            wrong = _wrong_number(gold)
        out += [gold, wrong]
    return out


def bench_text_verifier(task: str, split: str, n_rows: int, report: Report) -> None:
    from harness_ext.verify import get_verifier

    verifier = get_verifier(task)
    docs = rows(task, split)[:n_rows]
    texts = completions(task, docs)
    refs = [verifier.reference(d) for d in docs for _ in range(2)]
    start = time.perf_counter()
    for text in texts:
        verifier.extract(text)
    extract_s = time.perf_counter() - start
    start = time.perf_counter()
    verdicts = verifier.judge(texts, refs)
    judge_s = time.perf_counter() - start
    report.add(f"{task} extract (this machine)", len(texts) / extract_s, "completions/s")
    report.add(f"{task} judge (this machine)", len(texts) / judge_s, "completions/s")
    report.add(f"{task} gold judged correct", sum(verdicts[0::2]) / len(docs))
    report.add(f"{task} wrong variant judged correct", sum(verdicts[1::2]) / len(docs))


def bench_sandbox(n_programs: int, report: Report) -> None:
    """MBPP gold programs (code + asserts) through harness_ext.sandbox.run_many: all of them,
    and the simple ones (under SIMPLE_S each when run unsandboxed; the target is for those)."""
    from harness_ext.sandbox import run_many
    from harness_ext.verify import get_verifier
    from harness_ext.verify.program import program_source, split_tests

    verifier = get_verifier("mbpp")
    refs = [verifier.reference(d) for d in rows("mbpp", "test")]
    report.add("mbpp test split: tests judged outside the sandbox (value checks)",
               sum(len(split_tests(r)[1]) for r in refs) / sum(len(r.test_list) for r in refs),
               f"of {sum(len(r.test_list) for r in refs)} tests")
    docs = (rows("mbpp", "test") * 2)[:n_programs]
    sources = [program_source(d["code"], verifier.reference(d)) for d in docs]
    run_many(sources[:2], workers=1)  # the sandbox's one-off self-check is not part of the rate
    start = time.perf_counter()
    for _ in sources:  # a floor: a bare interpreter start, no sandbox, no test code
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
    bare = len(sources) / (time.perf_counter() - start)
    report.add("bare `python -I -S -c pass` starts, 1 at a time (this machine)", bare, "starts/s")
    alone = []
    for source in sources:  # the real floor: the same programs, unsandboxed
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", source], check=False, capture_output=True)
        alone.append(time.perf_counter() - start)
    simple = [s for s, t in zip(sources, alone) if t < SIMPLE_S]
    report.add("same programs unsandboxed, `python -I -S -c`, 1 at a time (this machine)",
               len(sources) / sum(alone), "programs/s")
    report.add(f"simple programs (unsandboxed < {SIMPLE_S * 1000:.0f} ms)", len(simple), f"of {len(sources)}")
    rates: dict[tuple[str, int], float] = {}
    for name, batch in (("all", sources), ("simple", simple)):
        for workers in (1, 2):
            start = time.perf_counter()
            results = run_many(batch, workers=workers)
            rates[name, workers] = len(batch) / (time.perf_counter() - start)
            report.add(f"mbpp sandbox, {name} programs, {workers} worker(s) (this machine)",
                       rates[name, workers], "programs/s (target >= 50/s per core)")
            report.add(f"mbpp gold programs passed ({name}, {workers} worker(s))",
                       sum(r.passed for r in results) / len(results))
    report.add("mbpp sandbox 1 worker / same programs unsandboxed (all)",
               rates["all", 1] * sum(alone) / len(sources), "x")
    report.add("mbpp sandbox 1 worker / bare interpreter starts (simple)", rates["simple", 1] / bare, "x")
    report.add("mbpp sandbox scaling 2 workers / 1 worker (simple)",
               rates["simple", 2] / rates["simple", 1], "x (ideal 2.0 on 2 idle cores)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500, help="rows per text task (2 completions each)")
    parser.add_argument("--programs", type=int, default=200, help="MBPP programs per worker setting")
    args = parse_bench_args(parser, {"rows": 20, "programs": 8})
    os.environ.setdefault("HF_ALLOW_CODE_EVAL", "1")  # this benchmark runs the datasets' own gold code
    report = Report("bench_verifiers: extract + judge throughput")
    for task, split in (("gsm8k", "test"), ("math", "test"), ("csqa", "validation")):
        bench_text_verifier(task, split, args.rows, report)
    bench_sandbox(args.programs, report)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
