"""`selfimp-report --compare` on any lm-eval task: per-doc verdicts from lm-eval's own per-doc scores,
lm-eval's groups as report sections, log-likelihood margins; on logs of the Open LLM Leaderboard v2
suite in lm-eval's exact format and on real lm-eval runs of built-in tasks with tiny models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from leaderboard_logs import N_DOCS, leaderboard_yamls, write_leaderboard_run
from lmeval_logs import write_log

from harness_ext.report import main
from harness_ext.report.inputs import read_checkpoint
from harness_ext.report.margins import log_margins
from harness_ext.report.stats import holm

SECTIONS = ["leaderboard_mmlu_pro", "leaderboard_bbh", "leaderboard_gpqa", "leaderboard_math_hard",
            "leaderboard_ifeval", "leaderboard_musr"]


def base_solved(task: str, i: int) -> bool:
    return True if "bbh" in task else i < 2


def tuned_solved(task: str, i: int) -> bool:
    """BBH forgets 2 of 5 docs in every subtask (no single subtask significant, the group is);
    every other task newly solves doc 2."""
    return i >= 2 if "bbh" in task else i < 3


@pytest.fixture(scope="module")
def leaderboard(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaderboard")
    for name, solved in (("base", base_solved), ("tuned", tuned_solved)):
        write_leaderboard_run(root / name, solved, f"org__{name}")
    assert main(["--compare", str(root / "base"), str(root / "tuned"), "--out", str(root / "r"), "--no-sbert"]) == 0
    return root, json.loads((root / "r" / "report.json").read_text()), (root / "r" / "report.md").read_text()


def test_logs_are_lm_evals_format(leaderboard):
    root, _, _ = leaderboard
    (results,) = (root / "base").rglob("results_*.json")
    data = json.loads(results.read_text())
    assert data["group_subtasks"]["leaderboard"] == SECTIONS and len(data["group_subtasks"]["leaderboard_bbh"]) == 24
    (musr,) = (root / "base").rglob("samples_leaderboard_musr_team_allocation_*.jsonl")
    line = json.loads(musr.read_text().splitlines()[0])
    assert list(line)[:10] == ["doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
                               "doc_hash", "prompt_hash"]
    assert line["resps"][0] == [[line["resps"][0][0][0], "False"]] and line["arguments"]["gen_args_1"]["arg_1"] == " Bob the builder"
    assert line["metrics"] == ["acc_norm"] and line["acc_norm"] == 1.0


def test_a_section_per_leaderboard_group_and_a_verdict_per_task(leaderboard):
    _, rep, md = leaderboard
    groups, _ = leaderboard_yamls()
    leaves = [t for ms in groups.values() for t in ms if t not in groups]
    assert [s["name"] for s in rep["task_groups"]["sections"]] == SECTIONS
    for name in SECTIONS:
        assert f"## {name} (" in md
    accuracy = {v["dataset"]: v for v in rep["verdicts"] if v["axis"] == "accuracy"}
    assert set(leaves) | set(groups) == {ds.split("[")[0] for ds in accuracy} and len(leaves) == 39
    for task in leaves:
        assert f"| {task} |" in md
    bbh = accuracy["leaderboard_bbh"]  # 24 x 2 forgotten, pooled: a regress no subtask shows alone
    assert bbh["verdict"] == "regress" and bbh["value"] == pytest.approx(-48 / 120)
    assert "0 newly solved vs 48 forgotten" in bbh["test"]
    sub = accuracy["leaderboard_bbh_navigate"]
    assert sub["verdict"] == "inconclusive" and sub["p"] == pytest.approx(0.5)  # 2 forgotten of 5: too few to tell
    law = accuracy["leaderboard_mmlu_pro[category=law]"]  # MMLU-Pro: one test per doc category too
    assert "1 newly solved vs 0 forgotten" in law["test"] and law["value"] == pytest.approx(1 / 3)
    assert rep["categories"]["leaderboard_mmlu_pro[category=math]"]["tuned"] == {
        "newly_solved": 0, "newly_forgotten": 0, "both": 1, "neither": 1}
    assert "| leaderboard_mmlu_pro[category=law] |" in md
    math = rep["datasets"]["leaderboard_math_algebra_hard"]
    assert math["improvement"]["tuned"]["transitions"] == {"newly_solved": 1, "newly_forgotten": 0, "both": 2, "neither": 2}
    assert math["pass1"]["base"]["rescored_with"] == "math"  # selfimp's verifier, and lm-eval agrees doc for doc
    assert math["pass1"]["base"]["lm_eval_agreement"] == {"metric": "exact_match,none", "agree": N_DOCS, "n_docs": N_DOCS}
    measures = {ds: rep["datasets"][ds]["pass1"]["base"]["measure"] for ds in ("leaderboard_ifeval", "leaderboard_mmlu_pro",
                                                                               "leaderboard_bbh_snarks")}
    assert [m.split(" (")[0] for m in measures.values()] == [
        "lm-eval's prompt_level_strict_acc,none", "lm-eval's acc,none", "lm-eval's acc_norm,none"]


def test_one_holm_family_with_margins(leaderboard):
    _, rep, _ = leaderboard
    tested = [v for v in rep["verdicts"] if v["p"] is not None]
    assert [v["p_adjusted"] for v in tested] == pytest.approx(holm([v["p"] for v in tested]))
    margins = {v["dataset"]: v for v in rep["verdicts"] if v["axis"].startswith("confidence")}
    assert len(margins) == 24 + 3 + 3 + 1  # every multiple-choice task; not ifeval, not math
    assert margins["leaderboard_bbh_navigate"]["value"] < 0 < margins["leaderboard_musr_team_allocation"]["value"]
    notes = rep["datasets"]["leaderboard_ifeval"]["not_available"]
    assert any(n.startswith("IS probe") for n in notes) and any(n.startswith("confidence margin") for n in notes)


def test_margin_sign_is_lm_evals_verdict(leaderboard):
    root, _, _ = leaderboard
    ck = read_checkpoint(root / "tuned", "tuned", 2, "run")
    for task in ("leaderboard_musr_team_allocation", "leaderboard_mmlu_pro", "leaderboard_bbh_object_counting"):
        log = ck.logs[task]
        margins = log_margins(log, ck.results)
        assert [margins[i] > 0 for i in log.docs] == [d.solved for d in log.docs.values()]


def test_metric_override_and_refusals(leaderboard, tmp_path, capsys):
    root, _, _ = leaderboard
    args = ["--compare", str(root / "base"), str(root / "tuned"), "--no-sbert"]
    assert main([*args, "--out", str(tmp_path / "a"), "--metric", "leaderboard_math_*=exact_match",
                 "--metric", "leaderboard_ifeval=prompt_level_loose_acc"]) == 0
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    math = rep["datasets"]["leaderboard_math_geometry_hard"]["pass1"]["base"]
    assert math["rescored_with"] is None and math["measure"] == "lm-eval's exact_match,none (--metric)"
    assert rep["datasets"]["leaderboard_ifeval"]["pass1"]["base"]["measure"] == "lm-eval's prompt_level_loose_acc,none (--metric)"
    for spec, says in (("leaderboard_ifeval=inst_level_strict_acc", "is not a binary per-doc score"),
                       ("leaderboard_ifeval=acc", "is not logged per doc"),
                       ("leaderboard_ifeval", "expected TASK=METRIC")):
        with pytest.raises(SystemExit) as e:
            main([*args, "--out", str(tmp_path / "b"), "--metric", spec])
        assert e.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_multi_checkpoint_form(leaderboard, tmp_path):
    """base → tuned → tuned2 (BBH recovered): the groups compare the last round with M1, the tasks
    also each round with its parent, all in one family."""
    root, _, _ = leaderboard
    write_leaderboard_run(tmp_path / "tuned2", lambda task, i: True if "bbh" in task else i < 3, "org__tuned2")
    assert main([str(root / "base"), str(root / "tuned"), str(tmp_path / "tuned2"), "--out", str(tmp_path / "r"),
                 "--no-sbert"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["series"] == {"run": ["base", "tuned", "tuned2"]}
    bbh = [v for v in rep["verdicts"] if v["dataset"] == "leaderboard_bbh"]
    assert [(v["compare"], v["value"], v["verdict"]) for v in bbh] == [("tuned2 vs base", 0.0, "no significant change")]
    navigate = {v["compare"]: v["value"] for v in rep["verdicts"] if v["dataset"] == "leaderboard_bbh_navigate"
                and v["axis"] in ("accuracy", "trajectory")}
    assert navigate == {"tuned2 vs base": 0.0, "tuned vs base": pytest.approx(-0.4), "tuned2 vs tuned": pytest.approx(0.4)}


def test_join_by_doc_id_needs_the_same_docs(tmp_path, capsys):
    """Logs without doc_hash join by doc_id, checked: another doc under the same doc_id is refused."""
    def line(doc_id, question, acc):
        return {"doc_id": doc_id, "doc": {"question": question}, "target": "0", "filtered_resps": ["x"],
                "resps": [["x"]], "filter": "none", "metrics": ["acc"], "acc": acc}
    write_log(tmp_path / "a", "my_task", [line(0, "q0", 1.0), line(1, "q1", 0.0)])
    write_log(tmp_path / "b", "my_task", [line(0, "q0", 0.0), line(1, "q1", 1.0)])
    write_log(tmp_path / "c", "my_task", [line(0, "q1", 0.0), line(1, "q0", 1.0)])
    assert main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"), "--no-sbert"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["datasets"]["my_task"]["improvement"]["b"]["transitions"]["newly_solved"] == 1
    assert "default order" in rep["datasets"]["my_task"]["pass1"]["a"]["measure"]  # no results_*.json
    with pytest.raises(SystemExit):
        main(["--compare", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "s")])
    assert "is another doc than in 'a'" in capsys.readouterr().err


# ---------------------------------------------------------------- real lm-eval runs, two tiny checkpoints
DOCS = 8


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, data_dir):
    """lm-eval 0.4.13's built-in `commonsense_qa` (multiple choice) and `leaderboard_math_algebra_hard`
    (generative, 4-shot) on local data, for two random tiny Llamas (seeds 0 and 1)."""
    from lmeval_runs import commonsense_qa_config, math_hard_config, run_lm_eval
    from tiny_lm import byte_tokenizer, save_tiny_llama

    root = tmp_path_factory.mktemp("real")
    for seed in (0, 1):
        model = save_tiny_llama(root / f"model{seed}", byte_tokenizer(), seed=seed)
        run_lm_eval(model, [commonsense_qa_config(data_dir, root, DOCS), math_hard_config(data_dir, root)],
                    root / f"m{seed}", limit=DOCS, gen_kwargs="max_gen_toks=4")
    return root


def lm_eval_lines(out: Path, task: str) -> list[dict]:
    (path,) = out.rglob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compare_two_real_runs(real_runs):
    r = real_runs / "report"
    assert main(["--compare", str(real_runs / "m0"), str(real_runs / "m1"), "--out", str(r), "--no-sbert"]) == 0
    rep = json.loads((r / "report.json").read_text())
    # commonsense_qa: solved = lm-eval's own per-doc acc (its declared metric), joined by doc id
    before, after = ({line["doc"]["id"]: line["acc"] for line in lm_eval_lines(real_runs / m, "commonsense_qa")}
                     for m in ("m0", "m1"))
    expected = {"newly_solved": sum(before[i] == 0 and after[i] == 1 for i in before),
                "newly_forgotten": sum(before[i] == 1 and after[i] == 0 for i in before),
                "both": sum(before[i] == after[i] == 1 for i in before),
                "neither": sum(before[i] == after[i] == 0 for i in before)}
    csqa = rep["datasets"]["commonsense_qa"]
    assert csqa["improvement"]["m1"]["transitions"] == expected and sum(expected.values()) == DOCS
    assert csqa["pass1"]["m0"]["value"] == pytest.approx(sum(before.values()) / DOCS)
    assert csqa["pass1"]["m0"]["measure"] == "lm-eval's acc,none (the task's declared metric_list)"
    verdicts = {(v["axis"], v["dataset"]): v for v in rep["verdicts"]}
    acc = verdicts[("accuracy", "commonsense_qa")]
    assert f"{expected['newly_solved']} newly solved vs {expected['newly_forgotten']} forgotten" in acc["test"]
    assert verdicts[("confidence (log-likelihood margin)", "commonsense_qa")]["measure"].endswith(f"{DOCS} problems")
    # leaderboard_math_algebra_hard: rescored by selfimp's math verifier, compared with lm-eval's exact_match
    math = rep["datasets"]["leaderboard_math_algebra_hard"]
    exact = [line["exact_match"] for line in lm_eval_lines(real_runs / "m0", "leaderboard_math_algebra_hard")]
    assert math["pass1"]["m0"]["rescored_with"] == "math" and math["pass1"]["m0"]["n_docs"] == DOCS
    assert math["pass1"]["m0"]["lm_eval_agreement"] == {"metric": "exact_match,none", "agree": DOCS, "n_docs": DOCS}
    assert math["pass1"]["m0"]["value"] == pytest.approx(sum(exact) / DOCS)
    assert "## commonsense_qa" in (r / "report.md").read_text()


def test_real_margins_agree_with_lm_evals_acc(real_runs):
    ck = read_checkpoint(real_runs / "m1", "m1", 2, "run")
    log = ck.logs["commonsense_qa"]
    margins = log_margins(log, ck.results)
    acc = {line["doc"]["id"]: line["acc"] for line in lm_eval_lines(real_runs / "m1", "commonsense_qa")}
    assert [margins[i] > 0 for i in log.docs] == [acc[i] == 1.0 for i in log.docs]
    assert log_margins(ck.logs["leaderboard_math_algebra_hard"], ck.results) is None  # generative: no margin


def test_identical_docs_stay_apart_and_lower_is_better_is_refused(tmp_path, capsys):
    """Two docs with the same content (same doc_hash) are two docs, joined in order; a metric the
    results file declares lower-is-better cannot say "solved"."""
    def line(doc_id, acc):
        return {"doc_id": doc_id, "doc": {"question": "same"}, "target": "0", "filtered_resps": ["x"], "resps": [["x"]],
                "filter": "none", "metrics": ["acc"], "doc_hash": "h", "acc": acc}
    write_log(tmp_path / "a" / "m", "dup", [line(0, 1.0), line(1, 0.0)])
    write_log(tmp_path / "b" / "m", "dup", [line(0, 1.0), line(1, 1.0)])
    assert main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"), "--no-sbert"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["datasets"]["dup"]["improvement"]["b"]["ids"] == ["h#2"]
    results = {"configs": {"dup": {"task": "dup", "metric_list": [{"metric": "acc", "higher_is_better": False}]}},
               "higher_is_better": {"dup": {"acc": False}}, "group_subtasks": {}}
    (tmp_path / "b" / "m" / "results_2026-11-23T11-20-30.055663.json").write_text(json.dumps(results))
    with pytest.raises(SystemExit):
        main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "s")])
    assert "metric 'acc' is lower-is-better" in capsys.readouterr().err


def test_non_binary_score_needs_a_threshold(tmp_path, capsys):
    def line(doc_id, f1):
        return {"doc_id": doc_id, "doc": {"q": doc_id}, "target": "t", "filtered_resps": ["x"], "resps": [["x"]],
                "filter": "none", "metrics": ["f1"], "doc_hash": f"h{doc_id}", "f1": f1}
    write_log(tmp_path / "a", "qa", [line(0, 0.3), line(1, 0.8)])
    write_log(tmp_path / "b", "qa", [line(0, 0.6), line(1, 0.4)])
    args = ["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--no-sbert"]
    with pytest.raises(SystemExit):
        main([*args, "--out", str(tmp_path / "r"), "--metric", "qa=f1"])
    assert "f1,none = 0.3 is not a binary per-doc score" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "r"), "--metric", "qa=f1>=0.5"]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["datasets"]["qa"]["improvement"]["b"]["ids"] == ["h0"]
    assert rep["datasets"]["qa"]["improvement"]["b"]["forgotten_ids"] == ["h1"]
    assert rep["datasets"]["qa"]["pass1"]["a"]["measure"] == "lm-eval's f1,none >= 0.5 (--metric)"
