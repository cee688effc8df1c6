"""selfimp-report on synthetic lm-eval sample logs with known answers: every number of report.json."""
from __future__ import annotations

import json
from math import comb

import pytest
from lmeval_logs import our_log_lines, write_log
from report_sweeps import (BLOCKS, M1_CORRECT_OF_4, SAME, SOLVED, VARIED, build_sweep, builtin_gsm8k_lines,
                           greedy_lines)

from harness_ext import metrics
from harness_ext.report import main, write_report
from harness_ext.report.analysis import Options

def pass_at_k(n, c, k):
    return 1.0 if n - c < k else 1 - comb(n - c, k) / comb(n, k)


def estimates(obj):
    if isinstance(obj, dict):
        if "value" in obj and "ci" in obj:
            yield obj
        for v in obj.values():
            yield from estimates(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from estimates(v)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    sweep = build_sweep(root)
    return write_report([str(sweep)], root / "out", opts=Options(sbert=True)), root / "out"


def test_pass1_improvement_sets_and_transitions(report):
    rep, _ = report
    assert rep["m1"] == "M1"
    assert rep["series"] == {"sft": ["M1", "sft_2", "sft_3"], "dpo": ["M1", "dpo_2"]}
    d = rep["datasets"]["selfimp_arith"]
    assert {lab: e["value"] for lab, e in d["pass1"].items()} == pytest.approx(
        {"M1": 0.4, "sft_2": 0.5, "sft_3": 0.7, "dpo_2": 0.4})
    imp = d["improvement"]
    ids = lambda pattern: sorted(f"q{10 * b + i}" for b in range(BLOCKS) for i in pattern)  # noqa: E731
    assert sorted(imp["sft_2"]["ids"]) == ids({4, 5})
    assert sorted(imp["sft_2"]["forgotten_ids"]) == ids({3})
    assert imp["sft_2"]["transitions"] == {"newly_solved": 8, "newly_forgotten": 4, "both": 12, "neither": 16}
    assert imp["sft_3"]["transitions"] == {"newly_solved": 12, "newly_forgotten": 0, "both": 16, "neither": 12}
    assert imp["dpo_2"]["size"] == 0 and imp["dpo_2"]["transitions"]["neither"] == 24
    # M1's pass@k on IS(t), k = 1..4 (n = 4 samples per doc), unbiased estimator
    for lab, pattern in (("sft_2", (4, 5)), ("sft_3", (4, 5, 6))):
        expect = {str(k): sum(pass_at_k(4, M1_CORRECT_OF_4[i], k) for i in pattern) / len(pattern) for k in range(1, 5)}
        assert imp[lab]["m1_pass_at_k"] == pytest.approx(expect)
        assert imp[lab]["n_probed"] == len(pattern) * BLOCKS
    assert imp["sft_2"]["m1_pass_at_k"]["1"] == pytest.approx(0.375)
    assert imp["sft_3"]["m1_unsolved_within_n"]["value"] == pytest.approx(1 / 3)


def test_coverage_advice(report):
    cov = report[0]["datasets"]["selfimp_arith"]["coverage"]
    assert cov["value"] == pytest.approx(15 / 40) and cov["n_samples"] == 4
    assert cov["recommended"] == "sft" and "0.375" in cov["advice"]


def test_diversity_correct_and_incorrect_separately(report):
    div = report[0]["datasets"]["selfimp_arith"]["diversity"]
    for lab, texts in (("M1", VARIED), ("sft_3", SAME)):
        for kind, group in zip(("correct", "incorrect"), texts):
            e = div[lab][kind]
            assert e["n_questions"] == 10 * BLOCKS
            assert e["distinct_n"]["value"] == pytest.approx(metrics.distinct_n_avg(group))
            assert e["distinct_equations"]["value"] == pytest.approx(metrics.distinct_equations(group))
    assert div["M1"]["correct"]["distinct_equations"]["value"] == 1.0
    assert div["sft_3"]["correct"]["distinct_equations"]["value"] == 0.5
    assert div["sft_3"]["correct"]["sbert"]["value"] == pytest.approx(0.0, abs=1e-5)  # identical answers
    assert div["M1"]["correct"]["sbert"]["value"] > 0.01



def test_sbert_dtype_option_is_applied_and_stated(report, tmp_path, monkeypatch):
    fp32_rep, fp32_out = report
    assert fp32_rep["datasets"]["selfimp_arith"]["sbert_dtype"] == "float32"
    assert "Sentence-BERT in float32" in (fp32_out / "report.md").read_text()
    sweep = build_sweep(tmp_path)
    assert main([str(sweep), "--out", str(tmp_path / "r"), "--sbert-dtype", "bfloat16"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    d, fp32 = rep["datasets"]["selfimp_arith"], fp32_rep["datasets"]["selfimp_arith"]
    assert d["sbert_dtype"] == "bfloat16" and "Sentence-BERT in bfloat16" in (tmp_path / "r" / "report.md").read_text()
    bf16_m1, fp32_m1 = d["diversity"]["M1"]["correct"]["sbert"]["value"], fp32["diversity"]["M1"]["correct"]["sbert"]["value"]
    assert bf16_m1 == pytest.approx(fp32_m1, abs=0.01) and bf16_m1 != fp32_m1
    import torch

    # auto on a device without native bf16 (no CUDA, no AMX / AVX512-BF16 probe answering yes): float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    assert main([str(sweep), "--out", str(tmp_path / "a"), "--sbert-dtype", "auto"]) == 0
    auto = json.loads((tmp_path / "a" / "report.json").read_text())["datasets"]["selfimp_arith"]["sbert_dtype"]
    assert auto == "float32"  # the dtype it resolved to, not "auto"
    with pytest.raises(SystemExit) as exit_info:
        main([str(sweep), "--out", str(tmp_path / "r2"), "--sbert-dtype", "fp8"])
    assert exit_info.value.code == 2 and not (tmp_path / "r2").exists()

def test_ood_and_groups(report):
    rep, _ = report
    assert rep["ood"]["selfimp_svamp"]["sft_3"]["value"] == 0.5
    m1 = rep["groups"]["selfimp_arith"]["M1"]
    assert m1["acc_by_level"] == {"1": 1.0, "2": 0.6, "3": 0.4, "4": 0.1}
    assert m1["group_disparity"]["value"] == pytest.approx(0.9)
    assert rep["groups"]["selfimp_arith"]["sft_3"]["group_disparity"]["value"] == pytest.approx(0.2)


def headline_rows(rep, method):
    return {row["axis"]: row for row in rep["headline"][method]["rows"]}


def test_verdicts_and_cis(report):
    rep, _ = report
    for e in estimates(rep):
        if e["value"] is not None:
            assert e["ci"][0] <= e["value"] + 1e-12 and e["value"] <= e["ci"][1] + 1e-12, e
    assert rep["headline"]["sft"]["last"] == "sft_3"
    sft, dpo = headline_rows(rep, "sft"), headline_rows(rep, "dpo")
    # 12 newly solved, 0 forgotten of 40: exact McNemar p = 2 * 0.5^12
    assert sft["accuracy"]["verdict"] == "progress" and sft["accuracy"]["value"] == pytest.approx(0.3)
    assert sft["accuracy"]["p"] == pytest.approx(2 * 0.5 ** 12)
    assert sft["diversity"]["verdict"] == "regress"  # same text twice vs two different texts, matched m = 2
    assert sft["OOD"]["verdict"] == "inconclusive" and sft["OOD"]["value"] == 0.0  # 10 problems: ±0.05 not excluded
    # level 4 went 0.1 -> 0.8 (7 newly solved, GD's swap test p = 2^-6), not significant among 15 tests after
    # Holm, and 10 problems per level cannot exclude a change that matters
    assert sft["fairness"]["verdict"] == "inconclusive" and sft["fairness"]["disparity"]["p"] == pytest.approx(2 ** -6)
    assert sft["fairness"]["group_disparity"] == pytest.approx([0.9, 0.2])
    beyond = sft["beyond M1's sampling space"]
    assert beyond["value"] == pytest.approx(1 / 3) and "4 of 12" in beyond["detail"]
    assert beyond["verdict"] == "inconclusive" and "shallow" in beyond["detail"]  # 4 samples: too shallow
    assert dpo["accuracy"]["verdict"] == "inconclusive" and dpo["accuracy"]["value"] == 0.0  # 40 problems
    assert dpo["beyond M1's sampling space"]["verdict"] == "not measured"  # IS(2) of DPO is empty
    assert dpo["beyond M1's sampling space"]["reason"] == "empty improvement set"


def test_one_family_holm_adjusted(report):
    rep, _ = report
    family = rep["verdicts"]
    ps = [v["p"] for v in family if v["p"] is not None]
    assert len(ps) == 15  # 16 comparisons (no comparison twice; GD's change per method), one undefined (empty IS)
    assert len({(v["method"], v["axis"], v["dataset"], v["compare"]) for v in family}) == len(family)
    assert len({(v["method"], v["compare"]) for v in family if v["axis"] in ("accuracy", "trajectory")}) == 4
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    expected = [min(1.0, max((len(ps) - r) * ps[order[r]] for r in range(k + 1))) for k in range(len(ps))]
    adjusted = [v["p_adjusted"] for v in family if v["p"] is not None]
    assert [adjusted[i] for i in order] == pytest.approx(expected)


def test_trajectory_each_round_vs_m1_and_parent(report):
    tr = report[0]["datasets"]["selfimp_arith"]["trajectory"]["sft"]
    assert tr["best"] == "sft_3"
    r2, r3 = tr["rounds"][1], tr["rounds"][2]
    assert r2["vs_m1"]["compare"] == r2["vs_parent"]["compare"] == "sft_2 vs M1"
    assert r3["vs_parent"]["compare"] == "sft_3 vs sft_2" and r3["vs_parent"]["value"] == pytest.approx(0.2)
    assert r3["vs_m1"]["verdict"] == "progress"
    assert report[0]["datasets"]["selfimp_arith"]["trajectory"]["dpo"]["best"] == "M1"  # a tie keeps the earliest


def test_files_written(report):
    rep, out = report
    assert json.loads((out / "report.json").read_text()) == rep
    md = (out / "report.md").read_text()
    assert "## Verdict" in md and "| accuracy | selfimp_arith | **progress** |" in md and "coverage" in md
    assert "p (Holm)" in md and "best round **sft_3**" in md
    for name in ("pass1_selfimp_arith.png", "is_passk_selfimp_arith.png", "diversity_selfimp_arith.png",
                 "ood.png", "groups_selfimp_arith.png"):
        assert name in rep["plots"] and (out / name).stat().st_size > 5000


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "no such file or directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert "no lm-eval sample logs" in capsys.readouterr().err
    write_log(tmp_path / "a", "selfimp_arith_pass1", greedy_lines({0}))
    write_log(tmp_path / "b", "selfimp_gsm8k_pass1", greedy_lines({0}))
    with pytest.raises(SystemExit):
        main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")])
    assert "no task in common" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written on error


def test_compare_builtin_logs_with_repeats(tmp_path):
    write_log(tmp_path / "base", "gsm8k", builtin_gsm8k_lines({
        "5": ["#### 5", "#### 4", "#### 5", "#### 3"],  # solved (first sample), 2 of 4 correct
        "7": ["#### 1", "#### 7", "#### 2", "#### 3"],  # unsolved, 1 of 4
        "9": ["#### 9"] * 4,                            # solved, 4 of 4
    }))
    write_log(tmp_path / "tuned", "gsm8k", builtin_gsm8k_lines({
        "5": ["#### 5"] * 4, "7": ["#### 7"] * 4, "9": ["#### 1"] * 4}))
    assert main(["--compare", str(tmp_path / "base"), str(tmp_path / "tuned"), "--out", str(tmp_path / "r"),
                 "--no-sbert"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    d = rep["datasets"]["gsm8k"]
    # several samples per doc and no greedy log: pass@1 is avg@n, labelled so
    assert d["pass1"]["base"]["value"] == pytest.approx(7 / 12) and d["pass1"]["tuned"]["value"] == pytest.approx(8 / 12)
    assert d["pass1"]["base"]["measure"] == "avg@4"
    imp = d["improvement"]["tuned"]
    assert imp["transitions"] == {"newly_solved": 1, "newly_forgotten": 1, "both": 1, "neither": 0}
    assert imp["m1_pass_at_k"] == pytest.approx({"1": 0.25, "2": 0.5, "3": 0.75, "4": 1.0})
    assert d["coverage"]["value"] == pytest.approx(7 / 12) and d["coverage"]["recommended"] == "dpo"
    assert d["diversity"]["tuned"]["correct"]["distinct_equations"] is None  # no <<expr>> annotation: undefined
    assert d["diversity"]["base"]["incorrect"]["n_questions"] == 2  # docs "5" and "7" have >= 2 wrong samples
    acc = headline_rows(rep, "tuned")["accuracy"]
    assert acc["verdict"] == "inconclusive" and acc["test"] == "paired sign-flip permutation test of the mean"
    assert acc["p"] == 1.0  # each of the 8 sign flips of (+0.5, +0.75, −1) has a mean as far from 0
    assert acc["value"] == pytest.approx(1 / 12)


def test_groups_log_stands_in_for_ood_pass1(tmp_path):
    """GSM8K sweeps evaluate MATH through selfimp_math_groups only: it is both OOD pass@1 and the GD source."""
    for label, solved in (("m1", [True, False, False, False]), ("m2", [True, True, False, True])):
        write_log(tmp_path / label, "selfimp_gsm8k_pass1", greedy_lines({0}))
        math_docs = [({"id": f"m{i}", "problem": "p", "level": f"Level {1 + 4 * (i % 2)}"}, [("t", None, ok)])
                     for i, ok in enumerate(solved)]
        write_log(tmp_path / label, "selfimp_math_groups", our_log_lines(math_docs))
    rep = write_report([str(tmp_path / "m1"), str(tmp_path / "m2")], tmp_path / "r", opts=Options(sbert=False))
    assert list(rep["datasets"]) == ["selfimp_gsm8k"]
    assert rep["ood"]["selfimp_math"]["m2"]["value"] == 0.75
    assert rep["groups"]["selfimp_math"]["m1"]["acc_by_level"] == {"1": 0.5, "5": 0.0}
    assert rep["groups"]["selfimp_math"]["m2"]["group_disparity"]["value"] == -1.0  # L1 0.5, L5 1.0
    assert rep["groups"]["selfimp_math"]["m1"]["declared_levels"] == [1, 5]


def test_coverage_on_training_questions_from_the_runs_own_samples(tmp_path):
    """A run dir: M1's coverage comes from its round-2 samples on training questions (split stated)."""
    build_sweep(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"task": "arith", "iterations": [
        {"t": 1, "samples": None}, {"t": 2, "samples": "samples_2.jsonl"}]}))
    records = [{"question_id": f"train-{q}", "completion": "c", "answer": "3", "correct": k < q}
               for q in range(4) for k in range(4)]  # 0, 1, 2, 3 correct of 4
    (tmp_path / "samples_2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rep = write_report([str(tmp_path)], tmp_path / "out", opts=Options(sbert=False))
    d = rep["datasets"]["selfimp_arith"]
    assert d["coverage_train"]["value"] == pytest.approx(6 / 16) and d["coverage_train"]["split"] == "train"
    assert d["coverage"]["split"] == "test"
    assert "M1 coverage on train questions" in (tmp_path / "out" / "report.md").read_text()


def test_the_runs_deeper_probe_of_m1_decides_the_beyond_axis(tmp_path):
    """A run dir's m1_test_samples.jsonl (64 samples per test question of the improvement sets) is deeper than the
    sweep's n = 4: M1's pass@k on IS(t) and the beyond-M1 test use it."""
    build_sweep(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"task": "arith", "iterations": []}))
    failed = [f"q{10 * b + i}" for b in range(BLOCKS) for i in range(10) if i not in SOLVED["M1"]]
    records = [{"question_id": q, "completion": "c", "answer": "3", "correct": k == 0} for q in failed for k in range(64)]
    (tmp_path / "m1_test_samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rep = write_report([str(tmp_path)], tmp_path / "out", opts=Options(sbert=False))
    imp = rep["datasets"]["selfimp_arith"]["improvement"]["sft_3"]
    assert imp["n_samples"] == 64 and imp["n_probed"] == 12 and imp["probe"].endswith("m1_test_samples.jsonl")
    assert imp["m1_pass_at_k"]["64"] == 1.0 and imp["m1_pass_at_k"]["1"] == pytest.approx(1 / 64)
    beyond = headline_rows(rep, "sft")["beyond M1's sampling space"]
    assert beyond["value"] == 0.0 and "shallow" not in beyond["detail"]
