"""Calibration of the verdicts end to end: simulated checkpoints written as sample-log files and read
back by the real `selfimp-report` (the whole family: accuracy, trajectory, beyond-M1, diversity, OOD,
fairness). Few reports here (seconds each); the rates with their intervals over >= 200 reports are
`benchmarks/bench_verdict_calibration.py`'s (figures in benchmarks/README.md)."""
from __future__ import annotations

import pytest
from report_sim import Size, null_report, pair_report, row, words

SMALL = Size(problems=300, level_first=150, level_last=50)


def test_null_reports_give_no_word(tmp_path):
    """Three rounds drawn from the same rates, 8 reports: a report with any word is a false positive
    (the family is built for <= 5% of reports; 8 of these seeded ones have none)."""
    said = {seed: words(null_report(tmp_path / str(seed), seed, SMALL)) for seed in range(8)}
    assert not any(said.values()), said


def test_a_real_gain_is_found(tmp_path):
    """+0.3 on every arith problem's success rate (clipped at 1), 300 problems: progress, interval above 0."""
    for seed in range(3):
        acc = row(pair_report(tmp_path / str(seed), seed, SMALL, {"arith": 0.3}), "accuracy")
        assert acc["verdict"] == "progress" and acc["ci_adjusted"][0] > 0, acc


def test_a_real_loss_on_an_ood_set_is_found(tmp_path):
    rep = pair_report(tmp_path, 0, SMALL, {"svamp": -0.25})
    assert row(rep, "OOD", "selfimp_svamp")["verdict"] == "regress"
    assert row(rep, "accuracy")["verdict"] != "regress"


def test_mcnemar_matches_statsmodels_exact():
    from statsmodels.stats.contingency_tables import mcnemar

    from harness_ext.report.stats import mcnemar_exact_p

    for b, c in [(0, 4), (3, 9), (20, 20), (0, 0), (7, 1)]:
        assert mcnemar_exact_p(c, b) == pytest.approx(mcnemar([[50, b], [c, 50]], exact=True).pvalue)
