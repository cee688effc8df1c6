"""The dataset registry: the committed task YAMLs are exactly what it generates, every module's view
agrees with it, and a dataset added by one registry entry (math_algebra, docs/add-a-dataset.md)
loads in lm-eval and is scored by the shared verifier."""
from __future__ import annotations

import math

import pytest
from lm_eval.api.model import LM

from harness_ext import data, gen_task_yamls, prompts, registry, sweep_settings, tasks
from harness_ext.errors import SelfimpError
from harness_ext.lm_eval_compat import task_manager, tasks_dir
from harness_ext.verify import get_verifier

NEW = "math_algebra"  # the dataset docs/add-a-dataset.md adds: one entry in harness_ext/registry/entries.py


# ---------------------------------------------------------------- generated YAMLs
def test_committed_task_yamls_are_what_the_registry_generates(tmp_path):
    written = gen_task_yamls.write(tmp_path)
    committed = {str(p.relative_to(tasks_dir())) for g in gen_task_yamls.GENERATED_GLOBS for p in tasks_dir().glob(g)}
    assert set(written) == committed, "run `python -m harness_ext.gen_task_yamls` and commit lm_eval_tasks/"
    for rel in written:
        assert (tmp_path / rel).read_text() == (tasks_dir() / rel).read_text(), \
            f"{rel} differs: run `python -m harness_ext.gen_task_yamls` and commit lm_eval_tasks/"
    assert gen_task_yamls.differences(tasks_dir()) == []


def test_check_reports_a_hand_edit_and_a_stale_file(tmp_path, capsys):
    gen_task_yamls.write(tmp_path)
    edited = tmp_path / "arith" / "selfimp_arith_pass1.yaml"
    edited.write_text(edited.read_text().replace("max_gen_toks: 128", "max_gen_toks: 64"))
    (tmp_path / "arith" / "selfimp_arith_old_pass1.yaml").write_text("task: old\n")
    assert gen_task_yamls.main(["--out", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "arith/selfimp_arith_pass1.yaml: differs" in out
    assert "arith/selfimp_arith_old_pass1.yaml: not generated from the registry" in out
    gen_task_yamls.main(["--out", str(tmp_path)])
    assert gen_task_yamls.differences(tmp_path) == []
    assert not (tmp_path / "arith" / "selfimp_arith_old_pass1.yaml").exists()


# ---------------------------------------------------------------- one source of truth
def test_every_module_asks_the_registry(monkeypatch):
    """Changing one registry entry changes what prompts, the evaluation setting, the verifier and the sweep's
    default tasks do with that dataset (none of them keeps its own copy)."""
    import dataclasses

    from harness_ext.eval_setting import EvalSetting

    spec = registry.get("svamp")
    assert (prompts.max_gen_toks("svamp"), prompts.stop_sequences("svamp")) == (512, ["Question:", "\n\n"])
    prompt = dataclasses.replace(spec.prompt, stop=("END",), domain=registry.get("csqa").domain)
    changed = dataclasses.replace(spec, max_gen_toks=77, prompt=prompt)
    monkeypatch.setitem(registry.REGISTRY, "svamp", changed)
    assert (prompts.max_gen_toks("svamp"), prompts.stop_sequences("svamp")) == (77, ["END"])
    setting = EvalSetting.for_task("svamp", backend="hf", dtype="float32", device="cpu", batch_size=1)
    assert (setting.max_new_tokens, list(setting.stop)) == (77, ["END"])
    assert get_verifier("svamp").is_correct("The answer is (B).", "B")  # now a multiple-choice verifier
    assert sweep_settings.default_tasks("gsm8k") == ["selfimp_gsm8k_pass1", "selfimp_gsm8k_passn",
                                                     "selfimp_gsm8k_diversity", "selfimp_math_groups",
                                                     "selfimp_svamp_pass1", "selfimp_mawps_pass1"]
    monkeypatch.setitem(registry.REGISTRY, "gsm8k", dataclasses.replace(registry.get("gsm8k"), ood=("mawps",)))
    assert sweep_settings.default_tasks("gsm8k")[3:] == ["selfimp_mawps_pass1"]
    assert registry.dataset_key("selfimp_arith_ood_pass1") == "selfimp_arith_ood"
    assert registry.task_role("selfimp_math_algebra_groups") == "groups"
    assert registry.builtin_verifier_name("hendrycks_math_algebra") == "math"
    with pytest.raises(SelfimpError, match="unknown dataset 'gsm9k'; valid: gsm8k, arith"):
        registry.get("gsm9k")


def test_a_doc_is_prompted_by_its_format_and_grouped_by_its_declared_levels():
    arith_doc = data.load_rows("arith", "test")[0]
    assert tasks.doc_to_text(arith_doc) == prompts.prompt("arith", arith_doc)
    assert registry.levels_of_doc(arith_doc) == (1, 2, 3, 4)
    algebra = data.load_rows(NEW, "test")[0]
    assert tasks.doc_to_text(algebra) == prompts.prompt(NEW, algebra) == prompts.prompt("math", algebra)
    assert registry.levels_of_doc(algebra) == (1, 2, 3, 4, 5)
    assert tasks.group_disparity_math_algebra([[1, 1.0], [5, 0.0], [5, 1.0]]) == pytest.approx(0.5)
    with pytest.raises(AttributeError):
        tasks.group_disparity_gsm8k  # noqa: B018 (no levels, no aggregation)


# ---------------------------------------------------------------- the added dataset
def test_new_dataset_rows_are_the_algebra_subset_of_math():
    rows = data.load_rows(NEW, "test")
    algebra = [r for r in data.load_rows("math", "test") if r["type"] == "Algebra"]
    assert rows == algebra and len(rows) == 1187
    assert {r["level"] for r in rows} <= set(registry.get(NEW).levels)


class GoldLM(LM):
    """Answers a prompt with its doc's gold solution when the doc is in `right`, else with a wrong box."""

    def __init__(self, docs: list[dict], right: set[str]):
        super().__init__()
        self.by_prompt = {prompts.prompt(NEW, d): d for d in docs}
        self.right, self.requests = right, []

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        self.requests += [r.args for r in requests]
        docs = [self.by_prompt[r.args[0]] for r in requests]
        return [prompts.gold_completion(NEW, d) if d["id"] in self.right else " So $\\boxed{-12345}$." for d in docs]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError


def test_new_dataset_tasks_load_in_lm_eval_and_score_with_the_shared_verifier():
    import lm_eval

    names = [t.name for t in registry.tasks_of(NEW)]
    assert names == [f"selfimp_{NEW}_{k}" for k in ("pass1", "passn", "diversity", "improve", "groups")]
    tm = task_manager(include_defaults=False)
    assert set(names) <= set(tm.all_tasks) and tm.task_index[f"selfimp_{NEW}"].tags == set(names)
    docs = data.load_rows(NEW, "test")[:8]
    right = {d["id"] for d in docs[::2]}
    model = GoldLM(docs, right)
    out = lm_eval.simple_evaluate(model=model, tasks=[f"selfimp_{NEW}_pass1", f"selfimp_{NEW}_groups"], limit=8,
                                  task_manager=tm, log_samples=True, bootstrap_iters=0)
    until, gen = model.requests[0][1]["until"], model.requests[0][1]
    assert until == prompts.stop_sequences(NEW) and gen["max_gen_toks"] == 1024 and gen["do_sample"] is False
    assert out["results"][f"selfimp_{NEW}_pass1"]["pass@1,verify"] == 0.5
    logged = {s["doc"]["id"]: s["filtered_resps"][0][0] for s in out["samples"][f"selfimp_{NEW}_pass1"]}
    verdicts = get_verifier(NEW).records([prompts.gold_completion(NEW, d) for d in docs],
                                         [get_verifier(NEW).reference(d) for d in docs])
    assert {i: r["correct"] for i, r in logged.items()} == {d["id"]: d["id"] in right for d in docs}
    assert all(v["correct"] for v in verdicts)
    groups = out["results"][f"selfimp_{NEW}_groups"]
    by_level = {lv: [d["id"] in right for d in docs if d["level"] == lv] for lv in range(1, 6)}
    for lv, solved in by_level.items():
        value = groups[f"level_{lv},verify"]
        assert (math.isnan(value) if not solved else value == pytest.approx(sum(solved) / len(solved))), lv


def test_distinct_equations_is_one_rule_for_the_tasks_and_the_report():
    """The domain decides: lm-eval's diversity tasks and the report score Distinct Equations for the same
    datasets (the numeric ones, whose solutions write <<expr=value>>)."""
    from harness_ext.report.diversity import metric_names

    index = task_manager(include_defaults=False).task_index
    with_equations = []
    for spec in registry.DATASETS:
        listed = {m["metric"] for m in index[registry.task_name(spec.name, "diversity")].cfg["metric_list"]}
        in_task = {"distinct_equations_correct", "distinct_equations_incorrect"} <= listed
        assert in_task == ("distinct_equations" in metric_names(spec.name, sbert=False)), spec.name
        with_equations += [spec.name] * in_task
    assert with_equations == ["gsm8k", "arith", "svamp", "mawps"]
    svamp_doc = data.load_rows("svamp", "test")[0]
    scored = tasks.process_diversity(svamp_doc, [[{"text": "<<1+2=3>> #### 3", "answer": "3", "correct": True}] * 2])
    assert "distinct_equations_correct" in scored


def test_every_tasks_metric_list_is_what_its_process_results_writes():
    """Each task's resolved metric_list (generated from harness_ext.metric_table) names exactly the keys its
    process_results function writes for a doc of that task."""
    index = task_manager(include_defaults=False).task_index
    record = {"text": "<<1+2=3>> #### 3", "answer": "3", "correct": True}
    passn = [m["metric"] for m in index["selfimp_gsm8k_passn"].cfg["metric_list"]]
    assert passn == ["pass@1", "pass@2", "pass@4", "pass@8", "pass@16", "pass@32", "pass@64", "avg@n"]
    for spec in registry.DATASETS:
        row = data.load_rows(spec.name, "test")[0]
        for task in registry.tasks_of(spec.name):
            cfg = index[task.name].cfg
            process = getattr(tasks, cfg["process_results"].rsplit(".", 1)[-1])
            doc = {**row, tasks.IN_IS: True} if task.variant.suffix == "improve" else row
            judged = {**record, "correct_shown": True} if spec.domain.hidden_tests else record  # mbpp's records
            written = process(doc, [[judged, judged]])
            assert sorted(m["metric"] for m in cfg["metric_list"]) == sorted(written), task.name
