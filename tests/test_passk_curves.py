"""pass@k curves of M1 vs M_t, their crossing and coverage lost / gained, on hand-built sample counts
whose pass@k is known in closed form (math.comb), and on logs in the sweep's lm-eval format."""
from __future__ import annotations

import json
from math import comb
from pathlib import Path

import pytest
from lmeval_logs import our_log_lines, write_log
from report_sweeps import BLOCKS, build_sweep, builtin_gsm8k_lines, doc

from harness_ext.report import main, write_report
from harness_ext.report.analysis import Options
from harness_ext.report.passk_curves import compare_curves, crossing_k
from harness_ext.samples import DocRecord, Sample, SampleLog


def log(correct: list[list[bool]], first_id: int = 0) -> SampleLog:
    """A sampled log: doc q<i> with one sample per entry of correct[i]."""
    docs = {f"q{first_id + i}": DocRecord(id=f"q{first_id + i}", doc_id=i, doc={},
                                          samples=[Sample("t", None, c) for c in flags])
            for i, flags in enumerate(correct)}
    return SampleLog(task="selfimp_arith_passn", path=Path("x.jsonl"), docs=docs)


def of(n: int, c: int) -> list[bool]:
    return [True] * c + [False] * (n - c)


def exact(n: int, c: int, k: int) -> float:
    return 1 - comb(n - c, k) / comb(n, k)


def test_sharpened_model_wins_at_k1_and_m1_catches_up_at_k2():
    """M1 solves each of 20 problems 1 time in 4; M_t solves half of them always and the rest never
    (an RL-like sharpening): M_t leads at k = 1 (0.5 vs 0.25), M1 ties at k = 2 (0.5) and leads after."""
    m1 = log([of(4, 1)] * 20)
    mt = log([of(4, 4)] * 10 + [of(4, 0)] * 10)
    e = compare_curves(m1, mt, seed=0)
    assert e["n_problems"] == 20 and e["n_samples"] == 4
    assert e["curves"]["m1"]["pass_at_k"] == pytest.approx([exact(4, 1, k) for k in range(1, 5)])
    assert e["curves"]["m1"]["pass_at_k"] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert e["curves"]["model"]["pass_at_k"] == pytest.approx([0.5] * 4)
    assert e["curves"]["difference"]["pass_at_k"] == pytest.approx([0.25, 0.0, -0.25, -0.5])
    assert e["crossing"]["k"] == 2 and e["crossing"]["text"] == "k = 2"
    lo, hi = e["crossing"]["k_ci"]
    assert 1 <= lo <= 2 <= hi <= 4  # hi is at most n: every draw of these problems crosses
    assert e["crossing"]["share_of_draws_crossing"] == 1.0
    assert e["m1_solved_within_n"] == 20 and e["model_solved_within_n"] == 10
    assert (e["coverage_lost"]["count"], e["coverage_lost"]["value"]) == (10, 0.5)
    assert (e["coverage_gained"]["count"], e["coverage_gained"]["value"]) == (0, 0.0)
    for curve in e["curves"].values():  # 95% bands hold the estimate; M1's per-problem pass@k has no spread
        assert all(lo - 1e-12 <= v <= hi + 1e-12 for v, lo, hi in zip(curve["pass_at_k"], curve["ci_low"],
                                                                         curve["ci_high"]))
    assert e["curves"]["m1"]["ci_low"] == pytest.approx(e["curves"]["m1"]["ci_high"])
    assert compare_curves(m1, mt, seed=0) == e  # seeded


def test_no_crossing_when_the_round_dominates_and_coverage_gained():
    """M_t solves every problem every time, M1 half of them once in 4: M1 stays below up to n."""
    m1 = log([of(4, 1)] * 6 + [of(4, 0)] * 6)
    mt = log([of(4, 4)] * 12)
    e = compare_curves(m1, mt, seed=0)
    assert e["curves"]["m1"]["pass_at_k"] == pytest.approx([0.5 * exact(4, 1, k) for k in range(1, 5)])
    assert e["crossing"]["k"] is None and e["crossing"]["text"] == "no crossing up to n = 4"
    assert e["crossing"]["k_ci"] == [None, None] and e["crossing"]["share_of_draws_crossing"] == 0.0
    assert (e["coverage_gained"]["count"], e["coverage_lost"]["count"]) == (6, 0)
    assert e["coverage_gained"]["ci"][0] < 0.5 < e["coverage_gained"]["ci"][1]  # Clopper-Pearson of 6/12


def test_matched_sample_count_and_common_problems_only():
    """M1 has 8 samples per problem, M_t 4: both are cut to their first 4; problems only one log has are left out."""
    m1 = log([[False] * 4 + [True] * 4, of(8, 2), of(8, 8)])  # q0: its 4 correct samples are samples 5-8
    mt = log([of(4, 1), of(4, 1), of(4, 0), of(4, 4)])  # q3: M1 has no log of it
    e = compare_curves(m1, mt, seed=0)
    assert e["n_problems"] == 3 and e["n_samples"] == 4
    # within the first 4 samples: M1 (0, 2, 4) of 4, M_t (1, 1, 0) of 4
    assert e["curves"]["m1"]["pass_at_k"][0] == pytest.approx((0 + 0.5 + 1) / 3)
    assert e["curves"]["model"]["pass_at_k"][0] == pytest.approx((0.25 + 0.25 + 0) / 3)
    assert e["crossing"]["k"] == 1  # M1 is never below: crossing at k = 1 says the round never led
    assert (e["coverage_lost"]["count"], e["coverage_gained"]["count"]) == (1, 1)  # q2 lost, q0 gained
    assert compare_curves(m1, log([of(4, 1)], first_id=50)) is None  # no common problem


def test_crossing_is_vectorised_over_bootstrap_draws():
    m1 = [[0.1, 0.5, 0.9], [0.1, 0.2, 0.3], [0.6, 0.6, 0.6]]
    other = [[0.3, 0.5, 0.6], [0.4, 0.5, 0.6], [0.5, 0.9, 0.9]]
    import numpy as np
    assert crossing_k(np.array(m1), np.array(other)).tolist() == [2, 4, 1]  # 4 = beyond n = 3


def test_report_on_sweep_logs_every_round_vs_m1(tmp_path):
    """A sweep whose checkpoints all have passn logs: report.json, report.md and the plot carry each round's curves."""
    sweep = build_sweep(tmp_path)
    # sft_2 and sft_3 have 4 samples per problem too: sft_3 solves docs 0-5 of each 10 always, the rest never
    sharp = [4, 4, 4, 4, 4, 4, 0, 0, 0, 0]
    for label, correct in (("sft_2", [2] * 10), ("sft_3", sharp)):
        write_log(sweep / label / "model", "selfimp_arith_passn", our_log_lines(
            [(doc(i), [("s", "3", k < correct[i % 10]) for k in range(4)]) for i in range(10 * BLOCKS)]))
    rep = write_report([str(sweep)], tmp_path / "out", opts=Options(sbert=False))
    curves = rep["datasets"]["selfimp_arith"]["passk_curves"]
    assert set(curves) == {"sft_2", "sft_3"}  # dpo_2 has no sampled log
    m1_counts = [4, 3, 2, 2, 1, 2, 0, 0, 0, 1]  # test_report's M1_CORRECT_OF_4
    e = curves["sft_3"]
    assert e["t"] == 3 and e["method"] == "sft" and e["n_problems"] == 40 and e["n_samples"] == 4
    m1_curve = [sum(exact(4, c, k) for c in m1_counts) / 10 for k in range(1, 5)]
    assert e["curves"]["m1"]["pass_at_k"] == pytest.approx(m1_curve)  # 0.375, 0.567, 0.675, 0.7
    assert e["curves"]["model"]["pass_at_k"] == pytest.approx([0.6] * 4)
    assert e["crossing"]["k"] == 3
    assert (e["coverage_lost"]["count"], e["coverage_gained"]["count"]) == (BLOCKS, 0)  # doc 9 of each 10
    assert curves["sft_2"]["crossing"]["k"] is None  # 2 of 4 on every doc: 1.0 at k = 3 > M1's 0.7
    assert curves["sft_2"]["coverage_gained"]["count"] == 3 * BLOCKS  # docs 6, 7, 8
    out = tmp_path / "out"
    md = (out / "report.md").read_text()
    assert "### pass@k curves: M1 vs each round" in md
    assert "| sft_3 | 40 | 4 | 0.375 / 0.600 | 0.700 / 0.600 | k = 3 [" in md
    assert "no crossing up to n = 4" in md and "| 4 (0.100) | 0 (0.000) |" in md
    assert "passk_curves_selfimp_arith.png" in rep["plots"] and (out / "passk_curves_selfimp_arith.png").stat().st_size > 5000
    assert json.loads((out / "report.json").read_text()) == rep


def test_compare_builtin_logs_with_repeats(tmp_path):
    """`selfimp-report --compare` on two built-in gsm8k logs run with repeats (4 samples per doc, rescored)."""
    write_log(tmp_path / "base", "gsm8k", builtin_gsm8k_lines({
        "5": ["#### 5", "#### 4", "#### 5", "#### 3"], "7": ["#### 1", "#### 7", "#### 2", "#### 3"],
        "9": ["#### 9"] * 4}))  # 2, 1, 4 of 4 correct
    write_log(tmp_path / "tuned", "gsm8k", builtin_gsm8k_lines({
        "5": ["#### 5"] * 4, "7": ["#### 7"] * 4, "9": ["#### 1"] * 4}))  # 4, 4, 0 of 4
    assert main(["--compare", str(tmp_path / "base"), str(tmp_path / "tuned"), "--out", str(tmp_path / "r"),
                 "--no-sbert"]) == 0
    e = json.loads((tmp_path / "r" / "report.json").read_text())["datasets"]["gsm8k"]["passk_curves"]["tuned"]
    assert e["n_problems"] == 3 and e["n_samples"] == 4 and e["task"] == "gsm8k"
    base = [sum(exact(4, c, k) for c in (2, 1, 4)) / 3 for k in range(1, 5)]
    assert e["curves"]["m1"]["pass_at_k"] == pytest.approx(base)  # 0.583, 0.778, 0.917, 1.0
    assert e["curves"]["model"]["pass_at_k"] == pytest.approx([2 / 3] * 4)
    assert e["crossing"]["k"] == 2  # tuned leads at k = 1 (0.667 > 0.583), the base model from k = 2 on
    assert (e["coverage_lost"]["count"], e["coverage_gained"]["count"]) == (1, 0)  # doc "9"
    assert "| tuned | 3 | 4 | 0.583 / 0.667 | 1.000 / 0.667 | k = 2 [" in (tmp_path / "r" / "report.md").read_text()
