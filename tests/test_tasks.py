"""The lm-eval task family: YAML configs, the verify filter, per-doc results and aggregations,
and end-to-end runs through `lm_eval.simple_evaluate` with tiny random models."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness_ext import data, metrics, prompts, registry, tasks
from harness_ext.errors import SelfimpError
from harness_ext.lm_eval_compat import merged_include_dir, task_manager, tasks_dir
from tiny_lm import arith_tokenizer, byte_tokenizer, save_tiny_llama

KINDS = {"pass1": 1, "passn": 64, "diversity": 50, "improve": 64, "groups": 1, "ood_pass1": 1}
ARITH_TASKS = [f"selfimp_arith_{k}" for k in KINDS]


def rec(correct: bool, text: str = "x") -> dict:
    return {"text": text, "answer": None, "correct": correct}


# ---------------------------------------------------------------- configs
def task_configs() -> dict[str, dict]:
    from lm_eval.tasks._yaml_loader import load_yaml

    out = {}
    for path in tasks_dir().glob("*/selfimp_*.yaml"):
        cfg = load_yaml(path, resolve_func=False)
        out[cfg["task"]] = cfg
    return out


def test_every_task_config_matches_prompts_and_sampling_settings():
    cfgs = task_configs()
    defs = {t.name: t for t in registry.all_tasks()}
    assert set(cfgs) == set(defs)
    shipped = {f"selfimp_{d}_{k}" for d in ("gsm8k", "math", "csqa", "mbpp", "svamp", "mawps", "arith")
               for k in ("pass1", "passn", "diversity", "improve")}
    assert shipped | {"selfimp_math_groups", "selfimp_arith_groups", "selfimp_arith_ood_pass1"} <= set(cfgs)
    for name, cfg in cfgs.items():
        ds, kind = defs[name].dataset, name.removeprefix(f"selfimp_{defs[name].dataset}_")
        gen = cfg["generation_kwargs"]
        assert gen["until"] == prompts.stop_sequences(ds) and gen["max_gen_toks"] == prompts.max_gen_toks(ds, defs[name].split)
        assert cfg["class"].endswith("_templates/utils.SelfimpTask"), name  # chat stops as the trainer's
        assert cfg["repeats"] == KINDS[kind], name
        if KINDS[kind] == 1:
            assert gen["do_sample"] is False and gen["temperature"] == 0
        else:
            assert (gen["do_sample"], gen["temperature"], gen["top_p"]) == (True, 0.75, 0.95)
        assert cfg["dataset_kwargs"] == {"name": ds, "split": "ood" if kind == "ood_pass1" else "test"}
        assert cfg["filter_list"][0]["filter"][0]["task"] == ds
        assert all({"metric", "aggregation", "higher_is_better"} <= set(m) for m in cfg["metric_list"])
        assert cfg.get("unsafe_code", False) == (ds == "mbpp")
    eq = {m["metric"] for m in cfgs["selfimp_gsm8k_diversity"]["metric_list"]}
    assert {"distinct_equations_correct", "sbert_incorrect", "n_problems_correct"} <= eq
    assert not any("equations" in m["metric"] for m in cfgs["selfimp_csqa_diversity"]["metric_list"])


def test_tags_and_groups_are_indexed():
    tm = task_manager(include_defaults=False)
    assert {"selfimp_reversal", "selfimp_ood_gsm8k", "selfimp_gsm8k", "selfimp_arith"} <= set(tm.all_tags)
    idx = tm.task_index
    assert idx["selfimp_reversal"].tags == {f"selfimp_{d}_pass1" for d in ("gsm8k", "math", "csqa", "mbpp")}
    assert idx["selfimp_ood_gsm8k"].tags == {f"selfimp_{d}_pass1" for d in ("math", "svamp", "mawps")}
    assert idx["selfimp_arith"].tags == set(ARITH_TASKS)


def test_repeats_override_dir_and_later_include_wins(tmp_path):
    merged = merged_include_dir([tasks_dir()], repeats=16, into=tmp_path / "m")
    tm = task_manager(include_path=merged, include_defaults=False)
    loaded = tm.load(["selfimp_gsm8k_passn", "selfimp_gsm8k_pass1"])["tasks"]
    assert loaded["selfimp_gsm8k_passn"].config.repeats == 16
    assert loaded["selfimp_gsm8k_pass1"].config.repeats == 1
    user = tmp_path / "user"
    user.mkdir()
    shipped = tasks_dir() / "arith" / "selfimp_arith_passn.yaml"
    (user / "n8.yaml").write_text(f"include: {shipped}\nrepeats: 8\n")
    assert task_manager(include_path=user, include_defaults=False).load("selfimp_arith_passn")["tasks"]["selfimp_arith_passn"].config.repeats == 8
    with pytest.raises(SelfimpError, match="--n must be >= 1"):
        merged_include_dir([tasks_dir()], repeats=0, into=tmp_path)


# ---------------------------------------------------------------- filter and per-doc results
def test_verify_filter_judges_real_docs():
    docs = data.load_rows("arith", "test")[:2]
    gold = [prompts.gold_completion("arith", d) for d in docs]
    out = tasks.VerifyFilter(task="arith").apply([[gold[0], " #### 999"], [gold[1]]], docs)
    assert [[r["correct"] for r in rs] for rs in out] == [[True, False], [True]]
    assert out[0][0] == {"text": gold[0], "answer": "24", "correct": True}
    assert out[0][1]["answer"] == "999"
    csqa = data.load_rows("csqa", "test")[:1]
    out = tasks.VerifyFilter(task="csqa").apply([[" The answer is (A).", " The answer is (C)."]], csqa)
    assert [r["correct"] for r in out[0]] == [True, False]


def test_process_pass1_and_passn_on_known_records():
    assert tasks.process_pass1({}, [[rec(True)]]) == {"pass@1": 1.0}
    out = tasks.process_passn({}, [[rec(True), rec(False), rec(False), rec(False)]])
    assert out["pass@1"] == pytest.approx(0.25) and out["pass@2"] == pytest.approx(0.5)
    assert out["pass@4"] == 1.0 and out["pass@8"] is None and out["avg@n"] == 0.25
    assert tasks.mean([None, 0.5, None, 1.0, math.nan]) == 0.75 and math.isnan(tasks.mean([None]))


def test_improve_placeholder_doc_gives_only_nan_metrics():
    out = tasks.process_passn({tasks.IN_IS: False}, [[rec(True), rec(True)]])
    assert out["improvement_set_size"] == 0
    assert all(v is None for k, v in out.items() if k != "improvement_set_size")
    assert tasks.process_passn({tasks.IN_IS: True}, [[rec(True)]])["improvement_set_size"] == 1


def test_process_diversity_splits_classes_and_skips_small_ones():
    doc = data.load_rows("gsm8k", "test")[0]
    right = ["so 2+3 = <<2+3=5>>5\n#### 5", "then <<3+2=5>>5 apples\n#### 5"]
    recs = [rec(True, t) for t in right] + [rec(False, "#### 7")]
    out = tasks.process_diversity(doc, [recs])
    assert out["avg@n"] == pytest.approx(2 / 3)
    assert out["n_problems_correct"] == 1 and out["n_problems_incorrect"] == 0
    assert out["distinct_n_correct"] == metrics.distinct_n_avg(right)
    assert out["distinct_equations_correct"] == 1.0 and out["sbert_correct"] == right
    assert out["distinct_n_incorrect"] is None and out["sbert_incorrect"] is None
    csqa = tasks.process_diversity(data.load_rows("csqa", "test")[0], [recs])
    assert not any("equations" in k for k in csqa)
    no_eq = tasks.process_diversity(doc, [[rec(False, "#### 7"), rec(False, "it is 8\n#### 8")]])
    assert no_eq["distinct_n_incorrect"] is not None
    assert no_eq["distinct_equations_incorrect"] is None  # no equation: undefined, not 0


def test_sbert_is_scored_in_the_aggregation_over_all_docs():
    groups = [["a cat sat", "a dog sat"], None, ["#### 5", "#### 5"]]
    expected = metrics.sbert_diversity_many([groups[0], groups[2]])
    assert tasks.sbert_diversity(groups) == pytest.approx(sum(expected) / 2)
    assert expected[1] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(tasks.sbert_diversity([None, None]))


def test_groups_levels_and_disparity():
    math_docs = [{"problem": "p", "level": lv} for lv in (1, 1, 5, 5, 5, 5, 3)]
    verdicts = [True, True, True, False, False, False, True]
    outs = [tasks.process_groups(d, [[rec(v)]]) for d, v in zip(math_docs, verdicts)]
    assert tasks.mean([o["level_5"] for o in outs]) == 0.25
    assert tasks.mean([o["level_1"] for o in outs]) == 1.0
    assert math.isnan(tasks.mean([o["level_2"] for o in outs]))
    assert tasks.group_disparity_math([o["group_disparity"] for o in outs]) == pytest.approx(0.75)
    arith_doc = {"question": "q", "answer": "#### 1", "level": 4}
    assert "level_5" not in tasks.process_groups(arith_doc, [[rec(True)]])
    assert math.isnan(tasks.group_disparity_arith([[4, 1.0]]))  # no level-1 docs


# ---------------------------------------------------------------- improvement-set docs
SOLVED_REF = {0: True, 1: False, 2: False, 3: True, 4: False, 5: False}
SOLVED_CAND = {0: True, 1: True, 2: False, 3: False, 4: False, 5: True}


def write_log(dirpath: Path, solved: dict[int, bool], task: str = "selfimp_arith_pass1",
              rows: list[dict] | None = None, stride: int = 1) -> Path:
    """A greedy lm-eval sample log of `task` with the given verdicts of rows 0-5, in the order
    i * stride % 6, with lm-eval doc_id = line number (so positions differ between logs)."""
    rows = rows or data.load_rows("arith", "test")
    dirpath.mkdir(parents=True, exist_ok=True)
    path = dirpath / f"samples_{task}_2026-11-23T10-00-00.000000.jsonl"
    lines = []
    for line, i in enumerate(sorted(solved, key=lambda i: (i * stride) % 6)):
        text = " #### 1" if not solved[i] else prompts.gold_completion("arith", rows[i])
        lines.append(json.dumps({"doc_id": line, "doc": rows[i], "resps": [[text]], "filter": "verify",
                                 "filtered_resps": [[{"text": text, "answer": None, "correct": solved[i]}]]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_improvement_docs_are_joined_by_id(tmp_path):
    ref = write_log(tmp_path / "m1", SOLVED_REF)
    cand = write_log(tmp_path / "m3", SOLVED_CAND, stride=5)
    docs = tasks.load_improvement_docs("arith", reference=str(ref), candidate=str(tmp_path / "m3"))["test"]
    assert docs["id"] == ["arith-test-1", "arith-test-5"]
    assert all(docs[tasks.IN_IS])
    empty = tasks.load_improvement_docs("arith", reference=str(cand), candidate=str(cand))["test"]
    assert len(empty) == 1 and empty[0][tasks.IN_IS] is False


def test_bad_improvement_metadata_is_one_clear_error(tmp_path):
    ref = write_log(tmp_path / "m1", SOLVED_REF)
    with pytest.raises(SelfimpError, match="needs --metadata keys reference, candidate.*missing: candidate"):
        tasks.load_improvement_docs("arith", reference=str(ref))
    with pytest.raises(SelfimpError, match="nowhere: no such file"):
        tasks.load_improvement_docs("arith", reference=str(ref), candidate=str(tmp_path / "nowhere"))
    other = write_log(tmp_path / "g", SOLVED_CAND, task="selfimp_gsm8k_pass1")
    with pytest.raises(SelfimpError, match="no sample log of task 'selfimp_arith_pass1'"):
        tasks.load_improvement_docs("arith", reference=str(ref), candidate=str(other))
    gsm = data.load_rows("gsm8k", "test")
    wrong = write_log(tmp_path / "w", SOLVED_CAND, rows=[{**r, "id": f"x{i}"} for i, r in enumerate(gsm)])
    with pytest.raises(SelfimpError, match="no docs in common"):
        tasks.load_improvement_docs("arith", reference=str(ref), candidate=str(wrong))
    foreign = write_log(tmp_path / "f", SOLVED_REF, rows=[{**r, "id": f"x{i}"} for i, r in enumerate(gsm)])
    with pytest.raises(SelfimpError, match="not in arith test.*different dataset"):
        tasks.load_improvement_docs("arith", reference=str(foreign), candidate=str(wrong))


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="session")
def arith_model(tmp_path_factory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("arith_lm"), arith_tokenizer())


@pytest.fixture(scope="session")
def byte_model(tmp_path_factory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("byte_lm"), byte_tokenizer())


def evaluate(model: Path, task_names: list[str], tm, limit: int | None, **kw) -> dict:
    import lm_eval

    return lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model},dtype=float32", device="cpu", tasks=task_names,
        limit=limit, batch_size=32, gen_kwargs="max_gen_toks=8", log_samples=True, task_manager=tm,
        bootstrap_iters=0, **kw)


def check_logged_records(samples: list[dict], n: int) -> None:
    for s in samples:
        records = s["filtered_resps"][0]
        assert len(records) == n and len(s["resps"][0]) == n
        assert all(set(r) - {"correct_shown"} == {"text", "answer", "correct"} and isinstance(r["correct"], bool)
                   for r in records)  # code adds `correct_shown` (shown tests only)
        assert [r["text"] for r in records] == s["resps"][0]


def test_every_arith_task_end_to_end(arith_model, tmp_path):
    write_log(tmp_path / "m1", SOLVED_REF)
    write_log(tmp_path / "m3", SOLVED_CAND, stride=5)
    merged = merged_include_dir([tasks_dir()], repeats=3, into=tmp_path)
    tm = task_manager(include_path=merged, include_defaults=False, metadata={"reference": str(tmp_path / "m1"),
                                                     "candidate": str(tmp_path / "m3")})
    out = evaluate(arith_model, ARITH_TASKS, tm, limit=5)
    res, samples = out["results"], out["samples"]
    for name in ARITH_TASKS:
        n = 3 if KINDS[name.split("_", 2)[2]] > 1 else 1
        check_logged_records(samples[name], n)
        assert all(s["doc"]["id"].startswith("arith-ood-" if "ood" in name else "arith-test-")
                   for s in samples[name])
        for key, value in res[name].items():
            if key.endswith(",verify") and isinstance(value, float) and not math.isnan(value) \
                    and not key.startswith(("n_problems", "improvement_set_size", "group_disparity")):
                assert 0.0 <= value <= 1.0, (name, key, value)
    assert len(samples["selfimp_arith_pass1"]) == 5
    assert math.isnan(res["selfimp_arith_passn"]["pass@4,verify"])
    assert 0 <= res["selfimp_arith_passn"]["pass@1,verify"] <= res["selfimp_arith_passn"]["pass@2,verify"]
    div = res["selfimp_arith_diversity"]
    assert div["n_problems_correct,verify"] + div["n_problems_incorrect,verify"] >= 5
    assert {f"level_{i},verify" for i in range(1, 5)} <= set(res["selfimp_arith_groups"])
    assert sorted(s["doc"]["id"] for s in samples["selfimp_arith_improve"]) == ["arith-test-1", "arith-test-5"]
    assert res["selfimp_arith_improve"]["improvement_set_size,verify"] == 2


def test_one_task_of_every_other_dataset_end_to_end(byte_model):
    names = ["selfimp_gsm8k_pass1", "selfimp_math_groups", "selfimp_csqa_pass1", "selfimp_mbpp_pass1",
             "selfimp_svamp_pass1", "selfimp_mawps_pass1"]
    out = evaluate(byte_model, names, task_manager(include_defaults=False), limit=3, confirm_run_unsafe_code=True)
    for name in names:
        assert len(out["samples"][name]) == 3
        check_logged_records(out["samples"][name], 1)
        assert 0.0 <= out["results"][name]["pass@1,verify"] <= 1.0
        assert ("pass@1_hidden,verify" in out["results"][name]) == (name == "selfimp_mbpp_pass1")
        prompt = out["samples"][name][0]["arguments"][0][0]
        ds = name.split("_")[1]
        assert prompt == prompts.prompt(ds, data.load_rows(ds, "test")[0])


def test_prompt_is_the_user_turn_under_a_chat_template(tmp_path):
    tok = byte_tokenizer()
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    model = save_tiny_llama(tmp_path / "chat_lm", tok)
    out = evaluate(model, ["selfimp_gsm8k_pass1"], task_manager(include_defaults=False), limit=2,
                   apply_chat_template=True)
    doc = data.load_rows("gsm8k", "test")[0]
    sample = out["samples"]["selfimp_gsm8k_pass1"][0]
    assert sample["arguments"][0][0] == f"<|user|>{prompts.prompt('gsm8k', doc)}\n<|assistant|>"
    assert sample["arguments"][0][1]["until"] == prompts.stop_sequences("gsm8k", chat_template=True) == ["Question:"]
    check_logged_records(out["samples"]["selfimp_gsm8k_pass1"], 1)
