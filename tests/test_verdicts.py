"""The five situations of issue #14, as sample logs in our tasks' format with a known truth, through
the whole report; plus the small-count intervals behind the verdicts."""
from __future__ import annotations

import numpy as np
import pytest
from lmeval_logs import our_log_lines, write_log

from harness_ext.report import write_report
from harness_ext.report.analysis import Options
from harness_ext.report.stats import clopper_pearson, paired_diff_agresti_min


def greedy_log(out, task: str, solved: list[bool], prefix: str = "q", **doc_fields) -> None:
    docs = [({"id": f"{prefix}{i}", "question": f"problem {i}", "answer": "#### 1", **doc_fields},
             [("#### 1" if ok else "#### 2", "1" if ok else "2", ok)]) for i, ok in enumerate(solved)]
    write_log(out, task, our_log_lines(docs))


def report_of(tmp_path, train_task: str = "arith") -> dict:
    return write_report([str(tmp_path / "m1"), str(tmp_path / "m2")], tmp_path / "report",
                        opts=Options(sbert=False), train_task=train_task)


def row(rep: dict, axis: str, dataset: str | None = None) -> dict:
    rows = [r for r in rep["headline"]["run"]["rows"] if r["axis"] == axis and dataset in (None, r["dataset"])]
    assert len(rows) == 1, rows
    return rows[0]


def test_four_newly_solved_of_300_is_not_significant(tmp_path):
    """300 problems, 4 newly solved, 0 forgotten: exact McNemar p = 2 / 2^4 = 0.125."""
    m1 = [i < 100 for i in range(300)]
    greedy_log(tmp_path / "m1", "selfimp_arith_pass1", m1)
    greedy_log(tmp_path / "m2", "selfimp_arith_pass1", [ok or i in (200, 201, 202, 203) for i, ok in enumerate(m1)])
    acc = row(report_of(tmp_path), "accuracy")
    assert acc["p"] == pytest.approx(0.125) and acc["verdict"] == "no significant change"
    assert acc["value"] == pytest.approx(4 / 300) and acc["ci"][0] < 0 < acc["ci"][1]


def test_improvement_set_of_three_explains_no_gain(tmp_path):
    """IS of 3 problems, M1 solves each within 64 samples: 0/3 never solved, Clopper-Pearson upper 0.71;
    3 newly solved of 20 is no significant gain (p 0.25), so the axis has nothing to explain."""
    m1 = [i >= 3 for i in range(20)]
    greedy_log(tmp_path / "m1", "selfimp_arith_pass1", m1)
    greedy_log(tmp_path / "m2", "selfimp_arith_pass1", [True] * 20)
    docs = [({"id": f"q{i}", "question": f"problem {i}", "answer": "#### 1"},
             [("s", "1", k == i % 64) for k in range(64)]) for i in range(20)]
    write_log(tmp_path / "m1", "selfimp_arith_passn", our_log_lines(docs))
    beyond = row(report_of(tmp_path), "beyond M1's sampling space")
    assert beyond["value"] == 0.0 and beyond["ci"] == pytest.approx([0.0, 1 - 0.025 ** (1 / 3)])
    assert beyond["verdict"] == "does not apply" and "no significant gain of accuracy" in beyond["reason"]


def diversity_log(out, correct_per_question: int, seed: int) -> None:
    """8 samples per question from one fixed text generator per question; the first k are correct."""
    rng = np.random.default_rng(seed)
    docs = []
    for q in range(60):
        words = [f"w{q}_{j}" for j in range(12)]
        texts = [" ".join(rng.choice(words, size=6)) + " #### 1" for _ in range(8)]
        docs.append(({"id": f"q{q}", "question": f"problem {q}", "answer": "#### 1"},
                     [(t, "1" if k < correct_per_question else "2", k < correct_per_question)
                      for k, t in enumerate(texts)]))
    write_log(out, "selfimp_arith_passn", our_log_lines(docs))


def test_diversity_at_matched_count_is_unchanged(tmp_path):
    """The same generator, 3 -> 6 correct samples of 8: the pooled Distinct-N falls with the number of
    texts, the matched-count comparison finds no change."""
    for label, k, seed in (("m1", 3, 0), ("m2", 6, 1)):
        greedy_log(tmp_path / label, "selfimp_arith_pass1", [q < 30 for q in range(60)])
        diversity_log(tmp_path / label, k, seed)
    rep = report_of(tmp_path)
    pooled = rep["datasets"]["selfimp_arith"]["diversity"]
    assert pooled["m2"]["correct"]["distinct_n"]["value"] < pooled["m1"]["correct"]["distinct_n"]["value"] - 0.05
    div = row(rep, "diversity")
    assert div["verdict"] == "no significant change" and "m = 3-3" in div["detail"]
    matched = rep["datasets"]["selfimp_arith"]["matched_diversity"]["m2"]["correct"]
    assert matched["n_problems"] == 60 and matched["m"]["max"] == 3


def test_fairness_when_the_easy_level_gets_worse(tmp_path):
    """MATH level 1 0.8 -> 0.5, level 5 stays 0.2: GD falls 0.75 -> 0.60, but the model got worse."""
    for label, l1 in (("m1", 80), ("m2", 50)):
        greedy_log(tmp_path / label, "selfimp_gsm8k_pass1", [True, False])
        docs = [({"id": f"L{lv}-{i}", "problem": "p", "level": f"Level {lv}"},
                 [("t", None, i < (l1 if lv == 1 else 20))]) for lv in (1, 5) for i in range(100)]
        write_log(tmp_path / label, "selfimp_math_groups", our_log_lines(docs))
    fair = row(report_of(tmp_path, "gsm8k"), "fairness")
    assert fair["group_disparity"] == pytest.approx([0.75, 0.6])
    assert fair["verdict"] == "regress" and "level 1 got worse (0.800 → 0.500)" in fair["what_happened"]


def test_ood_verdict_per_dataset(tmp_path):
    """SVAMP 0.6 -> 0.3 (300 problems) next to MATH +0.02 (5,000): SVAMP regresses; the pooled
    change is only a summary line."""
    greedy_log(tmp_path / "m1", "selfimp_gsm8k_pass1", [True, False])
    greedy_log(tmp_path / "m2", "selfimp_gsm8k_pass1", [True, False])
    greedy_log(tmp_path / "m1", "selfimp_svamp_pass1", [i < 180 for i in range(300)], prefix="s")
    greedy_log(tmp_path / "m2", "selfimp_svamp_pass1", [i < 90 for i in range(300)], prefix="s")
    math1 = [i < 2000 for i in range(5000)]  # 0.40 -> 0.42: 150 newly solved, 50 forgotten
    math2 = [(ok and i >= 50) or 2000 <= i < 2150 for i, ok in enumerate(math1)]
    greedy_log(tmp_path / "m1", "selfimp_math_pass1", math1, prefix="m", problem="p")
    greedy_log(tmp_path / "m2", "selfimp_math_pass1", math2, prefix="m", problem="p")
    rep = report_of(tmp_path, "gsm8k")
    svamp = row(rep, "OOD", "selfimp_svamp")
    assert svamp["verdict"] == "regress" and svamp["value"] == pytest.approx(-0.3)
    assert row(rep, "OOD", "selfimp_math")["value"] == pytest.approx(0.02)
    pooled = rep["ood_pooled"]["run"]
    assert pooled["value"] == pytest.approx((100 - 90) / 5300) and pooled["ci"][0] < 0 < pooled["ci"][1]


@pytest.mark.parametrize("table", [(400, 30, 50, 520), (0, 0, 4, 296), (10, 5, 0, 0)])
def test_agresti_min_interval_holds_its_estimate_and_matches_wald_at_large_counts(table):
    est = paired_diff_agresti_min(*table)
    assert -1 <= est.lo <= est.value <= est.hi <= 1
    both, forgotten, new, neither = table
    n = sum(table)
    assert est.value == pytest.approx((new - forgotten) / n)
    if min(forgotten, new) >= 30:  # large counts: close to the Wald interval of the paired difference
        se = np.sqrt((new + forgotten) / n ** 2 - ((new - forgotten) / n) ** 2 / n)
        assert est.lo == pytest.approx(est.value - 1.96 * se, abs=0.005)


def test_clopper_pearson_edges():
    assert clopper_pearson(0, 3) == pytest.approx((0.0, 1 - 0.025 ** (1 / 3)))
    lo, hi = clopper_pearson(3, 3)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 3))
