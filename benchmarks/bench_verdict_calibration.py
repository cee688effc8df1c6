"""Calibration of `selfimp-report`'s verdicts, end to end from sample-log files.

Null: reports of three rounds that all draw from the same per-problem success rates (arith pass@1,
an 8-sample passn log, SVAMP as OOD, an arith groups log with levels 1 and 4; `tests/report_sim.py`),
each written and read back by the real `write_report`: the share of reports with any non-null
word is the family-wise false-positive rate, with its Clopper-Pearson interval. Then the share of
reports giving each word in the scenarios of issue #34 points 1-5 and under a real gain (power).

    python benchmarks/bench_verdict_calibration.py                  # >= 200 null reports, ~40 min on 2 cores
    python benchmarks/bench_verdict_calibration.py --part edges      # only the scenarios of points 1-4
    python benchmarks/bench_verdict_calibration.py --quick           # seconds: what CI runs
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import Report, parse_bench_args  # noqa: E402
from report_sim import Size, null_report, pair_report, repeats_report, row, words  # noqa: E402

from harness_ext.errors import SelfimpError  # noqa: E402
from harness_ext.report.stats import ALPHA, binom_central_p, clopper_pearson  # noqa: E402
from harness_ext.report.verdicts import BEYOND_THRESHOLD  # noqa: E402

SIZES = {300: Size(300, 150, 50), 500: Size(500, 250, 80), 1000: Size(1000, 400, 150), 3000: Size(3000, 1000, 300)}


def share(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.3f} [{lo:.3f}, {hi:.3f}]"


def null_rate(reports: dict[int, int], seed: int, rep: Report) -> None:
    """Family-wise false-positive rate per size and pooled."""
    total = hits = 0
    for problems, count in reports.items():
        found = Counter()
        k = 0
        for i in range(count):
            with tempfile.TemporaryDirectory() as tmp:
                said = words(null_report(Path(tmp), seed + 10_000 * problems + i, SIZES[problems]))
            k += bool(said)
            found.update(said)
        rep.add(f"null, {problems} problems: reports with any word", share(k, count),
                f"(words: {dict(found) or 'none'})")
        total, hits = total + count, hits + k
    rep.add("null, all sizes: family-wise false-positive rate", share(hits, total), "(Clopper-Pearson 95%)")


def scenario(name: str, count: int, make, rep: Report, axis: str, dataset: str | None = None) -> None:
    """Share of `count` reports giving each word on `axis` (refusals counted as such)."""
    said = Counter()
    for i in range(count):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                said[row(make(Path(tmp), i), axis, dataset)["verdict"]] += 1
            except SelfimpError:
                said["refused"] += 1
    rep.add(name, ", ".join(f"{w} {share(k, count)}" for w, k in said.most_common()))


def beyond_m1_power(is_size: int, rate: float, tests: int) -> float:
    """P(the beyond-M1 test decides "within" after Holm over `tests`, bounded by x tests) when M1
    never solves a share `rate` of an IS of `is_size`: exact, summed over every count."""
    k = np.arange(is_size + 1)
    decides = (binom_central_p(k, is_size, BEYOND_THRESHOLD) * tests < ALPHA) & (k < BEYOND_THRESHOLD * is_size)
    return float(stats.binom.pmf(k, is_size, rate)[decides].sum())


def edge_scenarios(count: int, rep: Report) -> None:
    """Issue #34 points 1-4: how often a word (or a refusal) comes where none is due."""
    small, level = SIZES[300], Size(300, 300, 50)
    scenario("1. fairness, both levels +0.10 (300 and 50 problems): fairness words", count,
             lambda d, i: pair_report(d, i, level, {"level1": 0.1, "level4": 0.1}), rep, "fairness")
    scenario("2. avg@n, 1 vs 8 samples per problem, same rates (300 problems): accuracy words", count,
             lambda d, i: repeats_report(d, i, 300, 1, 8), rep, "accuracy")
    scenario("2. avg@n, 4 vs 16 samples per problem, same rates: accuracy words", count,
             lambda d, i: repeats_report(d, i, 300, 4, 16), rep, "accuracy")
    scenario("3. diversity, same generator (300 problems, null): diversity words", count,
             lambda d, i: pair_report(d, i, small, {}), rep, "diversity")
    scenario("4. last log leaves out 30% of the problems it fails, no real change: default", count,
             lambda d, i: pair_report(d, i, small, {}, drop_failed=0.3), rep, "accuracy")
    scenario("4. same with --common-problems: accuracy words", count,
             lambda d, i: pair_report(d, i, small, {}, drop_failed=0.3, common_problems=True), rep, "accuracy")


def power_scenarios(count: int, rep: Report, big_problems: int = 3000) -> None:
    """Point 5 (beyond-M1 under the null at a large size) and the power for real changes."""
    small, big, level = SIZES[300], SIZES[big_problems], Size(300, 300, 50)
    scenario(f"5. null at {big_problems} problems: beyond-M1 words", max(1, count // 2),
             lambda d, i: pair_report(d, i, big, {}), rep, "beyond M1's sampling space")
    for effect in (0.05, 0.10):
        scenario(f"power: +{effect:.2f} on every arith problem (300 problems): accuracy words", count,
                 lambda d, i, e=effect: pair_report(d, i, small, {"arith": e}), rep, "accuracy")
    scenario(f"power: +0.05 on every arith problem ({big_problems} problems): accuracy words", max(1, count // 2),
             lambda d, i: pair_report(d, i, big, {"arith": 0.05}), rep, "accuracy")
    scenario("power: level 4 +0.25, level 1 unchanged (300 and 50 problems): fairness words", count,
             lambda d, i: pair_report(d, i, level, {"level4": 0.25}), rep, "fairness")
    for size in (210, 420):
        rep.add(f"beyond-M1 power at IS {size}, M1 never solving 4.6% (Holm over 9, bounded)",
                beyond_m1_power(size, 0.046, 9))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("all", "null", "edges", "power"), default="all")
    p.add_argument("--null", type=int, nargs=4, default=[120, 80, 0, 0], metavar=("N300", "N500", "N1000", "N3000"),
                   help="null reports at 300, 500, 1000 and 3000 problems (default 120 80 0 0)")
    p.add_argument("--scenario-reports", type=int, default=40, help="reports per scenario (default 40)")
    p.add_argument("--big", type=int, choices=sorted(SIZES), default=3000,
                   help="problems of the large scenarios (5 and the +0.05 power; default 3000)")
    p.add_argument("--seed", type=int, default=0)
    args = parse_bench_args(p, {"null": [1, 1, 0, 0], "scenario_reports": 1, "big": 300})
    rep = Report("verdict calibration, end to end from sample-log files (selfimp-report)")
    if args.part in ("all", "null"):
        null_rate({n: c for n, c in zip(SIZES, args.null) if c}, args.seed, rep)
    if args.part in ("all", "edges"):
        edge_scenarios(args.scenario_reports, rep)
    if args.part in ("all", "power"):
        power_scenarios(args.scenario_reports, rep, args.big)
    rep.finish(args.json)


if __name__ == "__main__":
    main()
