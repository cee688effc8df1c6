"""Why a reversal happens (docs/mechanisms.md), on constructed cases with answers known by hand: a round
that loses every hard question, DPO / GRPO candidate sets without signal, the length proxy of levels,
a perfectly calibrated model vs an always-certain one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lmeval_logs import our_log_lines, write_log

from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.io import atomic_write_json, atomic_write_jsonl
from harness_ext.report import write_report
from harness_ext.report.analysis import Options
from harness_ext.report.calibration import WORSE, bin_index, calibration_table, ece_verdict, majority_vote
from harness_ext.report.mechanisms import LENGTH_PROXY, NARROWER, question_levels, run_mechanisms
from harness_ext.report.verdicts import INCONCLUSIVE, finalize
from harness_ext.samples import DocRecord, Sample, SampleLog


# ---------------------------------------------------------------- training rounds


def arith_ids(level: int, count: int) -> list[str]:
    return [r["id"] for r in load_rows("arith", "train") if r["level"] == level][:count]


def write_run(run_dir: Path, rounds: dict[int, tuple[str, list[dict]]], method: str = "sft", task: str = "arith",
              config: dict | None = None) -> None:
    """A run dir with the manifest fields the measures read and one candidates file per round."""
    iterations = []
    for t, (update, records) in rounds.items():
        name = f"rollouts_{t}.jsonl" if update == "grpo" else f"samples_{t}.jsonl"
        atomic_write_jsonl(run_dir / name, records)
        iterations.append({"t": t, "method": method, "update": update, "label": f"M{t}", "parent": f"M{t - 1}",
                           "status": "complete", "samples": None if update == "grpo" else name,
                           "rollouts": name if update == "grpo" else None})
    config = {"max_pairs_per_question": 5, **(config or {})}
    atomic_write_json(run_dir / "manifest.json", {"format": 1, "task": task, "method": method, "config": config,
                                                  "iterations": iterations})


def records(qid: str, outcomes: list[bool], step: int | None = None) -> list[dict]:
    """One question's candidates: correct ones are distinct texts, wrong ones too."""
    out = [{"question_id": qid, "completion": f"{'right' if ok else 'wrong'} {i} of {qid}", "correct": ok}
           for i, ok in enumerate(outcomes)]
    return [{**r, "step": step} for r in out] if step is not None else out


def test_a_round_that_drops_every_hard_question_is_tail_narrowing(tmp_path):
    easy, hard = arith_ids(1, 20), arith_ids(4, 20)
    first = [r for q in easy + hard for r in records(q, [True, True, False, False])]
    second = [r for q in easy for r in records(q, [True, False, False, False])]
    second += [r for q in hard for r in records(q, [False] * 4)]
    write_run(tmp_path, {2: ("sft", first), 3: ("sft", second)})
    out, verdicts = run_mechanisms(tmp_path)
    assert out["levels"] == "declared level" and out["hardest"] == 4
    r2, r3 = out["methods"]["sft"]
    # Round 2: both levels fully covered, 2 distinct correct texts each -> half of the 80 SFT examples each.
    assert r2["levels"][4]["coverage"]["value"] == 1.0 and r2["levels"][4]["train_units"] == 40
    assert r2["levels"][1]["train_share"] == r2["levels"][4]["train_share"] == 0.5
    # Round 3: no hard question has a correct candidate and none is in the training data.
    assert r3["levels"][4]["covered"] == 0 and r3["levels"][4]["train_share"] == 0.0
    assert r3["levels"][1]["train_share"] == 1.0 and r3["levels"][1]["coverage"]["value"] == 1.0
    # pass@k over 40 questions: round 2 has 2 of 4 correct on each: pass@1 = 0.5, pass@3 = 1.
    assert r2["exploration"]["pass_at_k"][1] == pytest.approx(0.5) and r2["exploration"]["pass_at_k"][3] == 1.0
    assert r3["exploration"]["pass_at_k"][4] == pytest.approx(0.5)
    assert r2["exploration"]["correct_distinct_n"]["n_problems"] == 40
    assert r3["exploration"]["correct_distinct_n"] is None  # no question with 2 correct candidates
    (v,) = finalize(verdicts)
    # 20 paired questions all lost: value -1, exact McNemar p = 2 x 0.5^20.
    assert (v.axis, v.compare, v.value) == ("tail narrowing", "round 3 vs round 2", -1.0)
    assert v.p == pytest.approx(2 * 0.5 ** 20) and v.ci[1] < 0 and v.verdict == NARROWER


def test_three_lost_hard_questions_are_inconclusive(tmp_path):
    hard = arith_ids(4, 3)
    write_run(tmp_path, {2: ("sft", [r for q in hard for r in records(q, [True, False])]),
                         3: ("sft", [r for q in hard for r in records(q, [False, False])])})
    (v,) = finalize(run_mechanisms(tmp_path)[1])
    assert v.value == -1.0 and v.p == pytest.approx(0.25) and v.verdict == INCONCLUSIVE


def test_rounds_without_common_hard_questions_are_not_tested(tmp_path):
    a, b = arith_ids(4, 4)[:2], arith_ids(4, 4)[2:]
    write_run(tmp_path, {2: ("sft", [r for q in a for r in records(q, [True])]),
                         3: ("sft", [r for q in b for r in records(q, [False])])})
    (v,) = run_mechanisms(tmp_path)[1]
    assert v.p is None and np.isnan(v.value) and "no hardest-level question in common" in v.reason


def test_coverage_is_compared_at_matched_candidate_counts(tmp_path):
    """Round 2 drew 8 candidates, round 3 only 2: a correct 3rd candidate of round 2 does not count."""
    hard = arith_ids(4, 10)
    write_run(tmp_path, {2: ("sft", [r for q in hard for r in records(q, [False, False, True] + [False] * 5)]),
                         3: ("sft", [r for q in hard for r in records(q, [False, False])])})
    (v,) = run_mechanisms(tmp_path)[1]
    assert v.value == 0.0 and v.p == 1.0 and "2-2 candidates per question" in v.detail


def test_dpo_and_grpo_rounds_count_candidate_sets_without_signal(tmp_path):
    qs = arith_ids(2, 8)
    dpo = [r for q, o in zip(qs, [[True] * 3] * 4 + [[False] * 3] * 2 + [[True, False, False]] * 2)
           for r in records(q, o)]
    # GRPO: one question, two steps of G = 4: one group mixed, one all wrong.
    grpo = records(qs[0], [True, False, False, False], step=0) + records(qs[0], [False] * 4, step=1)
    write_run(tmp_path, {2: ("dpo", dpo), 3: ("grpo", grpo)}, method="mixed")
    r2, r3 = run_mechanisms(tmp_path)[0]["methods"]["mixed"]
    e = r2["exploitation"]
    assert (e["n"], e["all_correct"], e["all_wrong"], e["no_signal"]["value"]) == (8, 4, 2, 0.75)
    assert r2["levels"][2]["train_units"] == 2 * 2  # 2 mixed questions: max(1 good, 2 bad) = 2 pairs each
    e = r3["exploitation"]
    assert (e["unit"], e["n"], e["all_wrong"], e["no_signal"]["value"]) == ("(question, step) groups", 2, 1, 0.5)
    assert r3["levels"][2]["train_units"] == 1 and r3["drawn_by"] == "M3 while training"


def test_a_dataset_without_levels_gets_gold_length_terciles(data_dir):
    rows = [{"id": str(i), "question": "q", "answer": " ".join(["step"] * (i + 1)) + "\n#### 1"} for i in range(6)]
    levels, kind = question_levels("gsm8k", rows)
    assert kind == LENGTH_PROXY and [levels[str(i)] for i in range(6)] == [1, 1, 2, 2, 3, 3]
    levels, kind = question_levels("csqa", load_rows("csqa", "train")[:30])  # the gold is one answer letter
    assert levels == {} and kind.startswith("none: ")


def test_a_missing_candidates_file_is_named(tmp_path):
    write_run(tmp_path, {2: ("sft", records(arith_ids(1, 1)[0], [True]))})
    (tmp_path / "samples_2.jsonl").unlink()
    with pytest.raises(SelfimpError, match="samples_2.jsonl, which is missing"):
        run_mechanisms(tmp_path)


def test_rows_that_cannot_be_loaded_leave_levels_unavailable_not_the_report(tmp_path):
    """A run of GSM8K reported where its data dir is gone: the rounds are measured, levels are not."""
    write_run(tmp_path, {2: ("sft", records("q1", [True, False])), 3: ("sft", records("q1", [False, False]))},
              task="gsm8k", config={"data_dir": str(tmp_path / "gone")})
    out, verdicts = run_mechanisms(tmp_path)
    assert out["levels"].startswith("unavailable: ") and "gsm8k/train.jsonl: file not found" in out["levels"]
    assert out["hardest"] is None and verdicts == []
    r2, r3 = out["methods"]["sft"]
    assert r2["levels"] == {} and r2["exploration"]["pass_at_k"] == {1: 0.5, 2: 1.0}


def test_a_candidate_without_its_verdict_is_named(tmp_path):
    write_run(tmp_path, {2: ("sft", records(arith_ids(1, 1)[0], [True]))})
    (tmp_path / "samples_2.jsonl").write_text('{"question_id": "q", "completion": "x", "correct": "yes"}\n')
    with pytest.raises(SelfimpError, match=r"samples_2.jsonl:1: field 'correct' must be a bool, got 'yes'"):
        run_mechanisms(tmp_path)


# ---------------------------------------------------------------- calibration


def doc(i: int, answers: list[str | None], right: str) -> DocRecord:
    return DocRecord(str(i), i, {}, [Sample(f"t{j}", a, a == right) for j, a in enumerate(answers)])


def log_of(docs: list[DocRecord]) -> SampleLog:
    return SampleLog("selfimp_arith_passn", Path("constructed"), {d.id: d for d in docs})


def calibrated_log() -> SampleLog:
    """40 problems, 10 samples each: at confidence 0.8 (8 votes) 8 of 10 majority answers are right, at
    0.5 5 of 10; twice over. Accuracy equals confidence in every bin: ECE 0."""
    docs = []
    for i in range(40):
        high = i % 20 < 10
        answers = ["A"] * 8 + ["B"] * 2 if high else ["A"] * 5 + ["B"] * 3 + ["C"] * 2
        right_ones = 8 if high else 5
        docs.append(doc(i, answers, "A" if i % 10 < right_ones else "Z"))
    return log_of(docs)


def certain_log() -> SampleLog:
    """The same 40 problems, always the same answer 10 times (confidence 1); right on 24 (0.6)."""
    return log_of([doc(i, ["A"] * 10, "A" if i < 24 else "Z") for i in range(40)])


def test_a_perfectly_calibrated_model_vs_an_always_certain_one():
    good, sure = calibration_table(calibrated_log()), calibration_table(certain_log())
    assert good["ece"] == pytest.approx(0.0) and good["accuracy"] == pytest.approx(0.65)
    # Brier: 0.8 x 0.2^2 + 0.2 x 0.8^2 = 0.16 at 0.8; 0.25 at 0.5; mean 0.205.
    assert good["brier"] == pytest.approx(0.205)
    assert good["high_confidence_accuracy"]["n"] == 0 and good["high_confidence_accuracy"]["value"] is None
    assert sure["ece"] == pytest.approx(0.4) and sure["brier"] == pytest.approx(0.4)
    assert sure["high_confidence_accuracy"]["value"] == pytest.approx(0.6) and sure["high_confidence_accuracy"]["n"] == 40
    filled = [b for b in good["reliability"] if b["n"]]
    assert [(b["bin"], b["n"], b["accuracy"]) for b in filled] == [([0.4, 0.5], 20, 0.5), ([0.7, 0.8], 20, 0.8)]


def test_ece_rising_from_calibrated_to_certain_is_worse_and_no_change_is_inconclusive():
    worse = ece_verdict("selfimp_arith", "sft", "M3 vs M1", calibrated_log(), certain_log())
    same = ece_verdict("selfimp_arith", "sft", "M3 vs M1", calibrated_log(), calibrated_log())
    finalize([worse, same])
    assert worse.value == pytest.approx(0.4) and worse.ci[0] > 0 and worse.p < 0.01 and worse.verdict == WORSE
    assert (worse.before, worse.after) == (pytest.approx(0.0), pytest.approx(0.4))
    assert same.value == 0.0 and same.p == 1.0 and same.verdict == INCONCLUSIVE


def test_ece_is_compared_on_common_problems_at_matched_sample_counts():
    """The later log has 2 samples where M1 has 10: both are scored on their first 2 (A, A: certain)."""
    short = log_of([doc(i, ["A", "A"], "A") for i in range(40)])
    v = ece_verdict("selfimp_arith", "sft", "M3 vs M1", calibrated_log(), short)
    assert "40 problems, 2+ samples each" in v.detail and v.before == pytest.approx(0.35)


def test_majority_vote_confidence_and_bins():
    assert majority_vote([Sample("a", "1", True), Sample("b", "2", False), Sample("c", None, False)]) == (1 / 3, True)
    assert majority_vote([Sample("a", None, False)] * 3) == (0.0, False)
    assert bin_index(np.array([0.0, 0.1, 0.3, 0.30001, 1.0])).tolist() == [0, 0, 2, 3, 9]


# ---------------------------------------------------------------- in the report


def passn_lines(log: SampleLog) -> list[dict]:
    return our_log_lines([({"id": f"q{d.id}", "question": "x", "answer": "#### 3"},
                           [(s.text, s.answer, s.correct) for s in d.samples]) for d in log.docs.values()])


def test_the_report_of_a_run_dir_shows_the_rounds_calibration_and_their_verdicts(tmp_path):
    """A run whose round 3 loses every hard question and whose M3 is always certain: both verdicts join
    the Holm family; report.md has the section and its figures."""
    run = tmp_path / "runs" / "demo"
    easy, hard = arith_ids(1, 20), arith_ids(4, 20)
    write_run(run, {2: ("sft", [r for q in easy + hard for r in records(q, [True, False])]),
                    3: ("sft", [r for q in easy for r in records(q, [True, False])]
                        + [r for q in hard for r in records(q, [False, False])])})
    sweep = run / "sweep"
    for label, log in (("M1", calibrated_log()), ("M3", certain_log())):
        write_log(sweep / label / "model", "selfimp_arith_pass1", our_log_lines(
            [({"id": f"q{d.id}", "question": "x", "answer": "#### 3"}, [("g", "3", d.samples[0].correct)])
             for d in log.docs.values()]))
        write_log(sweep / label / "model", "selfimp_arith_passn", passn_lines(log))
    atomic_write_json(sweep / "sweep.json", {"source": "runs/demo", "train_task": "arith", "tasks": [], "n": 10,
                                             "checkpoints": [{"label": "M1", "t": 1, "method": "sft"},
                                                             {"label": "M3", "t": 3, "method": "sft"}]})
    report = write_report([str(sweep)], tmp_path / "out", opts=Options(sbert=False))
    why = {v["axis"]: v for v in report["verdicts"] if v["axis"] in ("tail narrowing", "calibration")}
    assert why["tail narrowing"]["verdict"] == NARROWER and why["calibration"]["verdict"] == WORSE
    assert all(v["p_adjusted"] >= v["p"] for v in why.values())
    rounds = report["mechanisms"]["rounds"]["methods"]["sft"]
    assert [r["levels"]["4"]["coverage"]["value"] for r in rounds] == [1.0, 0.0]
    assert report["mechanisms"]["calibration"]["selfimp_arith"]["checkpoints"]["M3"]["ece"] == pytest.approx(0.4)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Why: tail narrowing, exploration, exploitation, calibration" in md
    for figure in ("tail_sft.png", "reliability_selfimp_arith.png"):
        assert figure in report["plots"] and f"({figure})" in md and (tmp_path / "out" / figure).is_file()
