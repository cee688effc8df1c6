"""harness_ext.data and harness_ext.arith on the real offline copies in shared/data."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness_ext import arith, data, prompts
from harness_ext.errors import SelfimpError

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def local_data(monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(DATA_DIR))


@pytest.mark.parametrize("name,split,n", [
    ("gsm8k", "test", 1319), ("math", "test", 5000), ("csqa", "test", 1221),
    ("mbpp", "test", 257), ("svamp", "test", 1000), ("mawps", "test", 2065),
    ("arith", "test", 6000), ("arith", "train", 3000), ("arith", "ood", 300)])
def test_rows_have_unique_stable_string_ids(name, split, n):
    rows = data.load_rows(name, split)
    assert len(rows) == n
    ids = [r["id"] for r in rows]
    assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == n
    assert [r["id"] for r in data.load_rows(name, split)] == ids


def test_normalised_fields():
    g = data.load_rows("gsm8k", "test")[0]
    assert g["id"] == "test-0" and g["answer"].endswith("#### 18")
    m = data.load_rows("math", "test")[0]
    assert m["id"] == "test/algebra/1.json" and m["level"] == 3 and "\\boxed{2}" in m["solution"]
    assert {r["level"] for r in data.load_rows("math", "test")} == {1, 2, 3, 4, 5}
    c = data.load_rows("csqa", "validation")[0]
    assert c["choices"]["label"] == list("ABCDE") and c["choices"]["text"][0] == "bank"
    assert c["answerKey"] == "A" and c["question"].startswith("A revolving door")
    b = data.load_rows("mbpp", "test")[0]
    assert b["id"] == "11" and b["task_id"] == 11 and len(b["test_list"]) == 3
    s = data.load_rows("svamp", "test")[0]
    assert s["id"] == "chal-777" and s["answer"] == "#### 145"
    assert s["question"].endswith("groups. How big is each group of bananas?")
    w = data.load_rows("mawps", "test")[0]
    assert w["answer"] == "#### 43" and w["id"] == "test-0"


def test_rows_are_copies_not_the_cache():
    data.load_rows("gsm8k", "test")[0]["question"] = "changed"
    assert data.load_rows("gsm8k", "test")[0]["question"] != "changed"


def test_unknown_dataset_and_split_list_valid_ones():
    with pytest.raises(SelfimpError, match="unknown dataset 'gsm9k'.*gsm8k"):
        data.load_rows("gsm9k", "test")
    with pytest.raises(SelfimpError, match="unknown split 'dev' of mbpp.*prompt"):
        data.load_rows("mbpp", "dev")


def test_missing_local_file_names_path_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(SelfimpError, match=f"{tmp_path}/gsm8k/test.jsonl.*SELFIMP_DATA_DIR"):
        data.load_rows("gsm8k", "test")
    with pytest.raises(SelfimpError, match="csqa/validation.jsonl.*data_dir="):
        data.load_rows("csqa", "test", data_dir=tmp_path / "nowhere")


def test_bad_local_row_names_file_and_field(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{"question": "q2"}\n')
    with pytest.raises(SelfimpError, match=r"gsm8k/test.jsonl: row 2: .*'answer'"):
        data.load_rows("gsm8k", "test", data_dir=tmp_path)


def test_hub_failure_is_one_clear_error(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SelfimpError, match="openai/gsm8k.*SELFIMP_DATA_DIR"):
        data.load_rows("gsm8k", "test")


def test_load_hf_dataset_keeps_rows():
    ds = data.load_hf_dataset("mbpp", "test")
    assert len(ds) == 257 and ds[0]["test_list"][0].startswith("assert")
    assert ds[0] == data.load_rows("mbpp", "test")[0]
    assert data.load_hf_dataset("csqa", "test")[0]["choices"]["label"] == list("ABCDE")


def _check_solution(row: dict) -> None:
    """Every <<expr=value>> is right and the last value is the #### answer."""
    eqs = re.findall(r"<<([^=]+)=(\d+)>>", row["answer"])
    assert eqs, row
    for expr, value in eqs:
        assert eval(expr) == int(value)  # noqa: S307 - generator output: digits and + - * ( )
    assert row["answer"].endswith(f"#### {eqs[-1][1]}")


@pytest.mark.parametrize("split", ["train", "test", "ood"])
def test_arith_problems_are_correct_and_in_range(split):
    rows = arith.generate(split)
    cfg = arith.SPLITS[split]
    for row in rows:
        _check_solution(row)
        assert cfg.min_steps <= row["level"] <= cfg.max_steps
        assert all(int(x) <= cfg.max_value for x in re.findall(r"\d+", row["answer"]))
        assert all(int(x) <= cfg.max_number for x in re.findall(r"\d+", row["question"]))
    assert {r["level"] for r in rows} == set(range(cfg.min_steps, cfg.max_steps + 1))


def test_arith_is_deterministic_varied_and_splits_disjoint():
    assert arith.generate("test") == arith.generate("test")
    assert arith.generate("test", n=10, seed=7) != arith.generate("test", n=10, seed=8)
    questions = {s: {r["question"] for r in arith.generate(s)} for s in arith.SPLITS}
    assert not questions["train"] & questions["test"]
    assert not (questions["train"] | questions["test"]) & questions["ood"]
    answers = [r["answer"] for r in arith.generate("train")]
    assert sum("<<" in a and a.count("\n") < r["level"] for a, r in
               zip(answers, arith.generate("train"))) > 300  # merged steps occur
    assert any(re.search(r"<<\d+\+\d+=", a) for a in answers)


def test_arith_vocabulary_covers_every_text_and_the_prompt():
    vocab = set(arith.arith_vocabulary(prompts.NUMERIC_TEMPLATE))
    for split in arith.SPLITS:
        for row in data.load_rows("arith", split):
            text = prompts.prompt("arith", row) + prompts.gold_completion("arith", row)
            pieces = re.findall(arith.TOKEN_PATTERN, text)
            assert "".join(pieces) == text
            assert set(pieces) <= vocab, set(pieces) - vocab


@pytest.mark.parametrize("split", list(arith.SPLITS))
def test_arith_gold_solutions_fit_the_generation_limit_of_their_split(split):
    """A solution longer than the task's max_gen_toks could never be generated: the problem would
    count as unsolvable (the ood split's 5–6-step solutions run to ~160 tokens)."""
    limit = prompts.max_gen_toks("arith", split)
    longest = max(len(re.findall(arith.TOKEN_PATTERN, prompts.gold_completion("arith", row)))
                  for row in data.load_rows("arith", split))
    assert longest + 1 <= limit, (split, longest, limit)  # + EOS
