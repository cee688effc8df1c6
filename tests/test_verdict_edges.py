"""Issue #34, "verdicts at the edges": each point as sample-log files through the real report; each
test failed on the report before the issue (a confident, wrong word, a silent drop or a traceback)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from lmeval_logs import log_line, our_log_lines, write_log
from report_sim import builtin_repeats_lines, repeats_report, row

from harness_ext.errors import SelfimpError
from harness_ext.report import main, write_report
from harness_ext.report.analysis import Options


def greedy_docs(solved, prefix: str = "q", **fields) -> list:
    return [({"id": f"{prefix}{i}", "question": f"problem {prefix}{i}", "answer": "#### 1", **fields},
             [("#### 1" if ok else "#### 2", "1" if ok else "2", bool(ok))]) for i, ok in enumerate(solved)]


def report(tmp_path, labels=("m1", "m2"), **opts) -> dict:
    return write_report([str(tmp_path / lab) for lab in labels], tmp_path / "report",
                        opts=Options(sbert=False, **opts), train_task="arith")


def test_1_fairness_tests_the_change_in_disparity(tmp_path):
    """Level 1 0.60 -> 0.70 on 300 problems (significant), level 4 0.20 -> 0.30 on 30 (not): the gap
    is unchanged and GD falls 0.667 -> 0.571, yet the old rule said "regress: disparity grew"."""
    for label, easy, hard in (("m1", 180, 6), ("m2", 210, 9)):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs([True, False])))
        docs = greedy_docs([i < easy for i in range(300)], "e", level=1) + greedy_docs([i < hard for i in range(30)],
                                                                                     "h", level=4)
        write_log(tmp_path / label, "selfimp_arith_groups", our_log_lines(docs))
    fair = row(report(tmp_path), "fairness")
    assert fair["levels"][0]["verdict"] == "progress"  # level 1 alone did improve
    assert fair["group_disparity"] == pytest.approx([2 / 3, 0.4 / 0.7])
    assert fair["verdict"] == "inconclusive" and "too few problems" in fair["what_happened"]
    disparity = fair["disparity"]
    assert disparity["value"] == pytest.approx(0.4 / 0.7 - 2 / 3)
    assert disparity["ci_adjusted"][0] < 0 < disparity["ci_adjusted"][1]


def test_1_fairness_progress_when_the_hard_level_catches_up(tmp_path):
    """Level 1 holds at 0.70 (200 problems), level 4 0.10 -> 0.60 (100): GD 0.857 -> 0.143, progress."""
    for label, hard in (("m1", 10), ("m2", 60)):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs([True, False])))
        docs = greedy_docs([i < 140 for i in range(200)], "e", level=1) + greedy_docs([i < hard for i in range(100)],
                                                                                     "h", level=4)
        write_log(tmp_path / label, "selfimp_arith_groups", our_log_lines(docs))
    fair = row(report(tmp_path), "fairness")
    assert fair["verdict"] == "progress" and fair["what_happened"].startswith("disparity narrowed")


def test_2_avg_at_n_compares_an_equal_number_of_samples(tmp_path):
    """Built-in gsm8k logs, 1 sample per problem vs 8, the same success rates: the old Wilcoxon of
    avg@8 − avg@1 said "regress" (p 0.033) for this draw."""
    acc = row(repeats_report(tmp_path, 5, 300, 1, 8), "accuracy")
    assert acc["verdict"] not in ("progress", "regress")
    assert acc["measure"].startswith("first sample solved (of 1 and 8 per problem)") and "McNemar" in acc["test"]


def test_2_avg_at_n_cuts_both_logs_to_the_fewer_samples(tmp_path):
    """4 vs 16 samples per problem: both sides average their first 4."""
    acc = row(repeats_report(tmp_path, 4, 100, 4, 16), "accuracy")
    assert acc["measure"].startswith("avg@4 (after − before; the first 4 samples of each problem, of 4 and 16)")
    assert acc["verdict"] not in ("progress", "regress")


def test_3_direction_test_and_interval_are_about_the_mean(tmp_path):
    """avg@10 differences 90 x +0.1 and 10 x −1.0: the mean is −0.01 and its interval covers 0; the
    old Wilcoxon p (3e-9) with the mean's sign said "regress"."""
    base = np.array([[False] * 10] * 90 + [[True] * 10] * 10)
    tuned = np.array([[True] + [False] * 9] * 90 + [[False] * 10] * 10)
    write_log(tmp_path / "base", "gsm8k", builtin_repeats_lines(base))
    write_log(tmp_path / "tuned", "gsm8k", builtin_repeats_lines(tuned))
    rep = write_report(None, tmp_path / "r", compare=[str(tmp_path / "base"), str(tmp_path / "tuned")],
                       opts=Options(sbert=False))
    acc = row(rep, "accuracy")
    assert acc["value"] == pytest.approx(-0.01)
    assert acc["ci"][0] < 0 < acc["ci"][1] and acc["p"] > 0.5
    assert acc["verdict"] == "inconclusive"


def missing_problems_logs(tmp_path) -> None:
    """M1 holds 400 problems; m2's log leaves out 60 of the 200 it fails."""
    write_log(tmp_path / "m1", "selfimp_arith_pass1", our_log_lines(greedy_docs([i % 2 == 0 for i in range(400)])))
    docs = [d for i, d in enumerate(greedy_docs([i % 4 != 1 for i in range(400)])) if not (i % 4 == 3 and i < 240)]
    write_log(tmp_path / "m2", "selfimp_arith_pass1", our_log_lines(docs))


def test_4_problems_missing_from_one_checkpoint_are_refused(tmp_path, capsys):
    missing_problems_logs(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "m1"), str(tmp_path / "m2"), "--out", str(tmp_path / "r"), "--no-sbert"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert "'m1' 400 (60 of them missing from another log)" in err and "'m2' 340" in err and "--common-problems" in err
    assert not (tmp_path / "r").exists()


def test_4_common_problems_states_what_was_left_out(tmp_path):
    missing_problems_logs(tmp_path)
    rep = report(tmp_path, common_problems=True)
    acc = row(rep, "accuracy")
    assert "340 problems" in acc["measure"] and "left out 60 of m1's log" in acc["detail"]
    assert rep["left_out"] == {"selfimp_arith_pass1": {"m1": 60, "m2": 0}}
    assert "left out 60 of m1's log" in (tmp_path / "report" / "report.md").read_text()


def test_5_beyond_m1_needs_a_gain_to_explain(tmp_path):
    """3 newly solved + 3 forgotten of 100, M1 never solves the 3 in 64 samples: the old report said
    "new ability beyond M1" (Holm p 0.004) for a gain that is not there."""
    write_log(tmp_path / "m1", "selfimp_arith_pass1", our_log_lines(greedy_docs([i < 50 for i in range(100)])))
    write_log(tmp_path / "m2", "selfimp_arith_pass1", our_log_lines(greedy_docs([3 <= i < 53 for i in range(100)])))
    docs = [({"id": f"q{i}", "question": f"problem q{i}", "answer": "#### 1"},
             [("s", "1", i < 50 and k < 32) for k in range(64)]) for i in range(100)]
    write_log(tmp_path / "m1", "selfimp_arith_passn", our_log_lines(docs))
    rep = report(tmp_path)
    beyond = row(rep, "beyond M1's sampling space")
    assert beyond["value"] == 1.0 and beyond["p"] < 0.01  # the share itself is clear ...
    assert beyond["verdict"] == "does not apply"  # ... but there is no gain for it to explain
    assert "no significant gain of accuracy" in beyond["reason"] and row(rep, "accuracy")["value"] == 0


@pytest.mark.parametrize("min_change, word", [(None, "inconclusive"), (0.5, "no significant change")])
def test_6_accuracy_says_inconclusive_when_a_change_that_matters_is_not_excluded(tmp_path, min_change, word):
    """20 problems, 2 newly solved and 1 forgotten: nothing found, but a 5-point change is not excluded."""
    write_log(tmp_path / "m1", "selfimp_arith_pass1", our_log_lines(greedy_docs([i < 10 for i in range(20)])))
    write_log(tmp_path / "m2", "selfimp_arith_pass1", our_log_lines(greedy_docs([1 <= i < 12 for i in range(20)])))
    rep = report(tmp_path, **({} if min_change is None else {"min_change": min_change}))
    assert row(rep, "accuracy")["verdict"] == word


def test_6_min_change_is_a_cli_flag_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--min-change D" in out and "(default 0.05)" in out and "--common-problems" in out
    with pytest.raises(SystemExit) as e:
        main(["a", "b", "--min-change", "0"])
    assert e.value.code == 2 and "--min-change 0.0: must lie between 0 and 1" in capsys.readouterr().err


def test_7_no_discordant_pair_is_not_exact_equality(tmp_path):
    """200 problems, 0.5 both, the same ones solved: Newcombe's interval was [0, 0]."""
    for label in ("m1", "m2"):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs([i < 100 for i in range(200)])))
    acc = row(report(tmp_path), "accuracy")
    assert acc["value"] == 0 and acc["p"] == 1.0
    assert -0.03 < acc["ci"][0] < -0.005 and 0.005 < acc["ci"][1] < 0.03


def test_8_intervals_are_shown_at_the_level_the_decision_used(tmp_path):
    for label, solved in (("m1", [i < 100 for i in range(300)]), ("m2", [i < 130 for i in range(300)])):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs(solved)))
        write_log(tmp_path / label, "selfimp_svamp_pass1", our_log_lines(greedy_docs(solved, "s")))
    rep = report(tmp_path)
    acc = row(rep, "accuracy")
    assert acc["ci_level"] == 0.95 and acc["ci_adjusted_level"] == pytest.approx(1 - 0.05 / 2)
    assert acc["ci_adjusted"][0] < acc["ci"][0] and acc["ci_adjusted"][1] > acc["ci"][1]
    md = (tmp_path / "report" / "report.md").read_text()
    lo, hi = acc["ci_adjusted"]
    assert f"[{lo:.3f}, {hi:.3f}] (97.50%)" in md and "simultaneous (Bonferroni) at 97.50%" in md


def test_9_two_problems_sharing_an_id_are_refused(tmp_path):
    a = ({"id": "x", "question": "2+2", "answer": "#### 4"}, [("#### 4", "4", True)])
    b = ({"id": "x", "question": "3+3", "answer": "#### 6"}, [("#### 5", "5", False)])
    write_log(tmp_path / "m1", "selfimp_arith_pass1", our_log_lines([a, b]))
    write_log(tmp_path / "m2", "selfimp_arith_pass1", our_log_lines([b, a]))
    with pytest.raises(SelfimpError, match=r"samples_selfimp_arith_pass1_.*\.jsonl:2: doc id 'x' is also the id "
                                           r"of another doc \(doc_id 0\)"):
        report(tmp_path)


def test_9_identical_docs_under_one_id_still_join_in_order(tmp_path):
    a = ({"id": "x", "question": "2+2", "answer": "#### 4"}, [("#### 4", "4", True)])
    for label in ("m1", "m2"):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines([a, a]))
    assert "2 problems" in row(report(tmp_path), "accuracy")["measure"]


def test_10_nan_scores_under_a_threshold_are_refused(tmp_path, capsys):
    for label in ("base", "tuned"):
        lines = []
        for i in range(4):
            line = log_line(i, {"id": f"d{i}", "question": "q"}, ["text"], ["text"])
            line.update(metrics=["f1"], f1=math.nan if i in (1, 3) else 0.8)
            lines.append(line)
        write_log(tmp_path / label, "my_task", lines)
    with pytest.raises(SystemExit):
        main(["--compare", str(tmp_path / "base"), str(tmp_path / "tuned"), "--metric", "my_task=f1>=0.5",
              "--out", str(tmp_path / "r"), "--no-sbert"])
    err = capsys.readouterr().err
    assert "samples_my_task_" in err and "f1,none is NaN (undefined) for 2 docs (doc_id 1, 3)" in err


def test_11_an_unparsable_record_of_our_task_is_refused(tmp_path):
    """Every line's record garbled: the old reader fell back to lm-eval's stored `acc` without a word."""
    lines = our_log_lines(greedy_docs([True, False, True]))
    for line in lines:
        line["filtered_resps"] = [["{(((...}"]]
    write_log(tmp_path / "m1", "selfimp_arith_pass1", lines)
    write_log(tmp_path / "m2", "selfimp_arith_pass1", our_log_lines(greedy_docs([True, True, True])))
    with pytest.raises(SelfimpError, match=r"samples_selfimp_arith_pass1_.*\.jsonl:1: filtered_resps\[0\] of our "
                                           r"task 'selfimp_arith_pass1' does not parse"):
        report(tmp_path)


def test_11_an_out_dir_that_cannot_be_created_is_one_error(tmp_path, capsys):
    for label in ("m1", "m2"):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs([True, False])))
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "m1"), str(tmp_path / "m2"), "--out", "/proc/selfimp-no-such/r", "--no-sbert"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err == "error: --out: /proc/selfimp-no-such/r: cannot be created (No such file or directory)\n"


def test_report_json_round_trips(tmp_path):
    """Every verdict of report.json is plain JSON: the interval callables and linked verdicts stay out."""
    for label in ("m1", "m2"):
        write_log(tmp_path / label, "selfimp_arith_pass1", our_log_lines(greedy_docs([True, False])))
    report(tmp_path)
    rep = json.loads((tmp_path / "report" / "report.json").read_text())
    assert not {"interval", "requires", "words"} & set(rep["verdicts"][0])
