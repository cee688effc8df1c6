"""What decides which MBPP hidden tests are kept, measured (`harness_ext.gen_hidden_tests`):
gold's trace-event counts per call in two generations in separate processes (fresh sandbox
interpreters, so other hash seeds), the counts nearest the event budget, and the CPU time of the
calls kept, against the CPU guard (the one load-dependent decision; docs/safety.md).

    HF_ALLOW_CODE_EVAL=1 python benchmarks/bench_hidden_test_costs.py
    HF_ALLOW_CODE_EVAL=1 python benchmarks/bench_hidden_test_costs.py --quick
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args  # noqa: E402

RAISED = 2  # the counts are measured under this many times the budget, to see those just above it


def outcomes(problems: int | None) -> list[tuple]:
    """(task, kind, events, cpu_s) of every gold call of the first `problems` problems, both runs."""
    from harness_ext import gen_hidden_tests as gen

    todo = gen.plans()[0][:problems]
    return [(p.task_id, kind, events, cpu)
            for p, per_input in zip(todo, gen.gold_outcomes(todo, RAISED * gen.EVENT_BUDGET))
            if not isinstance(per_input, str)
            for pair in per_input for kind, *_, events, cpu in pair]


def main() -> None:
    from harness_ext.gen_hidden_tests import CPU_GUARD_S, EVENT_BUDGET

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=None, help="the first N problems (default: all)")
    args = parse_bench_args(parser, quick={"problems": 20})
    report = Report("bench_hidden_test_costs: what keeps a hidden test")
    spawn = multiprocessing.get_context("spawn")
    runs = []
    for _ in range(2):  # a fresh process each: its own sandbox servers and hash seed
        with spawn.Pool(1) as pool:
            runs.append(pool.apply(outcomes, (args.problems,)))
    first, second = runs
    report.add("gold calls compared across the two processes (inputs x 2 runs)", len(first),
               f"over {len({c[0] for c in first})} problems")
    report.add("calls whose outcome or event count differs between the processes",
               sum(a[:3] != b[:3] for a, b in zip(first, second, strict=True)))
    answered = sorted({events for _, kind, events, _ in first + second if kind == "ok"})
    below = [e for e in answered if e <= EVENT_BUDGET]
    above = [e for e in answered if e > EVENT_BUDGET]
    report.add(f"answered calls: nearest event count at or below the budget ({EVENT_BUDGET:,})",
               below[-1] if below else "none")
    report.add(f"answered calls: nearest event count above the budget (up to {RAISED}x)",
               above[0] if above else "none")
    kept_cpu = [cpu for _, kind, events, cpu in first + second if kind == "ok" and events <= EVENT_BUDGET]
    report.add("calls within the budget: most CPU time (traced)", max(kept_cpu) * 1000,
               f"ms (CPU guard {CPU_GUARD_S * 1000:.0f} ms)")
    report.add("calls stopped by the CPU guard", sum(kind == "guard" for _, kind, _, _ in first + second))
    report.finish(args.json)


if __name__ == "__main__":
    main()
