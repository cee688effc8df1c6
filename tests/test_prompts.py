"""harness_ext.prompts: one format per domain, shared by training and evaluation."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness_ext import data, prompts, registry
from harness_ext.errors import SelfimpError

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def row(name: str, split: str = "test") -> dict:
    return data.load_rows(name, split, data_dir=DATA_DIR)[0]


def test_numeric_prompt_and_gold():
    r = row("gsm8k")
    assert prompts.prompt("gsm8k", r) == f"Question: {r['question']}\nAnswer:"
    assert prompts.gold_completion("gsm8k", r) == " " + r["answer"]
    s = row("svamp")
    assert prompts.prompt("svamp", s).startswith("Question: There are 87 oranges")
    assert prompts.gold_completion("svamp", s) == " #### 145"


def test_math_csqa_mbpp_formats():
    m = row("math")
    assert prompts.prompt("math", m).startswith("Question: How many vertical asymptotes")
    assert prompts.gold_completion("math", m).endswith("$\\boxed{2}$ vertical asymptotes.")
    c = row("csqa")
    assert prompts.prompt("csqa", c).endswith("\n(A) bank\n(B) library\n(C) department store"
                                              "\n(D) mall\n(E) new york\nAnswer:")
    assert prompts.gold_completion("csqa", c) == " The answer is (A)."
    b = row("mbpp")
    p = prompts.prompt("mbpp", b)
    assert 'assert remove_Occ("hello","l") == "heo"' in p and p.endswith("Answer:")
    gold = prompts.gold_completion("mbpp", b)
    assert gold.startswith("\n```python\ndef remove_Occ") and gold.endswith("\n```")


@pytest.mark.parametrize("task", registry.names())
def test_gold_never_contains_a_stop_sequence(task):
    split = registry.get(task).splits[-1] if task != "mbpp" else "test"
    for r in data.load_rows(task, split, data_dir=DATA_DIR)[:300]:
        gold = prompts.gold_completion(task, r)
        assert not any(s in gold for s in prompts.stop_sequences(task)), (task, r["id"])
    assert prompts.max_gen_toks(task) >= 64


def test_generation_lengths():
    assert prompts.max_gen_toks("math") > prompts.max_gen_toks("gsm8k") > prompts.max_gen_toks("arith")
    assert prompts.max_gen_toks("csqa") == 64


def test_unknown_task():
    with pytest.raises(SelfimpError, match="unknown dataset 'gsm'"):
        prompts.prompt("gsm", {})
