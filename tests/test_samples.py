"""harness_ext.samples: reading lm-eval sample logs (ours and built-in tasks) by stable doc id."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lmeval_logs import log_line, make_tiny_model, our_log_lines, write_log

from harness_ext.errors import SelfimpError
from harness_ext.samples import doc_stable_id, find_sample_files, read_sample_log, read_sample_logs

DOCS = [
    ({"id": "a", "question": "1+1?", "answer": "#### 2"}, [("x #### 2", "2", True), ("y #### 3", "3", False)]),
    ({"id": "b", "question": "2+2?", "answer": "#### 4"}, [("z", None, False), ("w #### 4", "4", True)]),
]


@pytest.mark.parametrize("as_json", [False, True])
def test_reads_our_records_repr_and_json(tmp_path, as_json):
    write_log(tmp_path, "selfimp_arith_passn", our_log_lines(DOCS, as_json=as_json))
    log = read_sample_log(tmp_path)
    assert log.task == "selfimp_arith_passn" and log.dataset == "selfimp_arith"
    assert list(log.docs) == ["a", "b"]
    a, b = log.docs["a"], log.docs["b"]
    assert (a.n, a.n_correct, a.solved) == (2, 1, True)
    assert (b.n, b.n_correct, b.solved) == (2, 1, False)
    assert b.samples[0].answer is None and b.samples[1].text == "w #### 4"
    assert log.rescored_with is None


def test_newest_log_per_task_recursive(tmp_path):
    old = our_log_lines(DOCS)
    new = our_log_lines([DOCS[0]])
    write_log(tmp_path / "m" / "x", "selfimp_arith_pass1", old, date="2026-01-01T00-00-00.000001")
    write_log(tmp_path / "m", "selfimp_arith_pass1", new, date="2026-02-01T00-00-00.000001")
    write_log(tmp_path / "m", "selfimp_arith_passn", old)
    files = find_sample_files(tmp_path)
    assert sorted(files) == ["selfimp_arith_pass1", "selfimp_arith_passn"]
    assert "2026-02-01" in files["selfimp_arith_pass1"].name
    logs = read_sample_logs(tmp_path)
    assert list(logs["selfimp_arith_pass1"].docs) == ["a"]
    with pytest.raises(SelfimpError, match="several tasks"):
        read_sample_log(tmp_path)
    assert list(read_sample_log(tmp_path, "selfimp_arith_passn").docs) == ["a", "b"]


def test_stable_id_fallbacks():
    assert doc_stable_id({"doc_id": 3, "doc": {"id": 7, "task_id": 1}, "doc_hash": "h"}) == "7"
    assert doc_stable_id({"doc_id": 3, "doc": {"task_id": 11}, "doc_hash": "h"}) == "11"
    assert doc_stable_id({"doc_id": 3, "doc": {"question": "q"}, "doc_hash": "h"}) == "h"


def test_bad_inputs(tmp_path):
    with pytest.raises(SelfimpError, match="no such file"):
        read_sample_logs(tmp_path / "missing")
    with pytest.raises(SelfimpError, match="no lm-eval sample logs"):
        read_sample_logs(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "samples_selfimp_arith_pass1_2026-11-23T11-20-30.0.jsonl").write_text('{"doc_id": 0}\nnot json\n')
    with pytest.raises(SelfimpError, match=r":2: not valid JSON"):
        read_sample_logs(bad)
    (bad / "samples_selfimp_arith_pass1_2026-11-23T11-20-30.0.jsonl").write_text('{"doc_id": 0, "doc": {}}\n')
    with pytest.raises(SelfimpError, match=r":1: missing field 'filtered_resps'"):
        read_sample_logs(bad)
    other = tmp_path / "other"
    write_log(other, "hellaswag", [log_line(0, {"q": 1}, ["a"], "a")])
    with pytest.raises(SelfimpError, match="not a built-in task we can rescore"):
        read_sample_logs(other)


@pytest.fixture(scope="module")
def builtin_gsm8k_log(tmp_path_factory):
    """A real lm-eval 0.4.13 log of the built-in `gsm8k` task (tiny random model, 5 docs, offline data)."""
    import yaml
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    import lm_eval.tasks

    data = os.environ["SELFIMP_DATA_DIR"]
    root = tmp_path_factory.mktemp("gsm8k_builtin")
    model = make_tiny_model(root / "model")
    config = yaml.safe_load((Path(lm_eval.tasks.__file__).parent / "gsm8k" / "gsm8k.yaml").read_text())
    # the built-in task reads openai/gsm8k from the Hub: same task, the local JSONL copy instead
    config.update(dataset_path="json", dataset_name=None, num_fewshot=0,
                  dataset_kwargs={"data_files": {s: f"{data}/gsm8k/{s}.jsonl" for s in ("train", "test")}})
    tracker = EvaluationTracker(output_path=str(root / "out"))
    results = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32", tasks=[config], limit=5,
                              log_samples=True, evaluation_tracker=tracker, device="cpu", batch_size=5,
                              gen_kwargs="max_gen_toks=8")
    tracker.save_results_aggregated(results=results, samples=results["samples"])
    for task, samples in results["samples"].items():
        tracker.save_results_samples(task_name=task, samples=samples)
    return root / "out"


def test_rescores_builtin_gsm8k_log(builtin_gsm8k_log, tmp_path):
    from harness_ext.verify import get_verifier

    (path,) = builtin_gsm8k_log.rglob("samples_gsm8k_*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["filter"] for line in lines} == {"strict-match", "flexible-extract"}  # two lines per doc
    log = read_sample_log(builtin_gsm8k_log)
    assert log.task == "gsm8k" and log.rescored_with == "gsm8k"
    assert list(log.docs) == list(dict.fromkeys(line["doc_hash"] for line in lines))  # keyed by doc_hash
    assert len(log.docs) == 5 and log.n_samples == 1
    verifier = get_verifier("gsm8k")
    for line in lines:
        record = log.docs[line["doc_hash"]]
        assert record.samples[0].text == line["resps"][0][0]
        assert record.solved == verifier.is_correct(line["resps"][0][0], verifier.reference(line["doc"]))
    # the same real log with the gold solution as the generation of docs 0 and 2: rescored correct
    for line in lines:
        if line["doc_id"] in (0, 2):
            line["resps"] = [[" " + line["doc"]["answer"]]]
    write_log(tmp_path, "gsm8k", lines)
    gold = read_sample_log(tmp_path)
    solved_before = {d.doc_id for d in log.docs.values() if d.solved}
    assert [d.doc_id for d in gold.docs.values() if d.solved] == sorted({0, 2} | solved_before)
    assert gold.docs[lines[0]["doc_hash"]].samples[0].answer == lines[0]["doc"]["answer"].split("#### ")[-1]
