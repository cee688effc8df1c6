"""DPO pair building, SFT example selection and the SFT-DPO schedule on hand-built samples."""
from __future__ import annotations

import pytest

from selfimp_train.methods import round_update
from selfimp_train.pairs import dpo_pairs, sft_examples

PROMPTS = {"q1": "Question: one\nAnswer:", "q2": "Question: two\nAnswer:", "q3": "Question: three\nAnswer:"}


def rec(qid: str, text: str, correct: bool) -> dict:
    return {"question_id": qid, "completion": text, "answer": None, "correct": correct}


SAMPLES = [
    rec("q1", " a #### 1", True), rec("q1", " a #### 1", True), rec("q1", " b #### 1", True),
    rec("q1", " x #### 2", False), rec("q1", " y #### 3", False), rec("q1", " z #### 4", False),
    rec("q2", " c #### 2", True), rec("q2", " c #### 2", True),  # only correct: no DPO pair
    rec("q3", " w #### 9", False),  # only wrong: nothing at all
]


def test_sft_examples_are_distinct_correct_completions_per_question():
    got = sft_examples(SAMPLES, PROMPTS)
    assert got == [
        {"prompt": PROMPTS["q1"], "completion": " a #### 1"},
        {"prompt": PROMPTS["q1"], "completion": " b #### 1"},
        {"prompt": PROMPTS["q2"], "completion": " c #### 2"},
    ]


def test_dpo_pairs_need_both_kinds_and_are_distinct():
    pairs = dpo_pairs(SAMPLES, PROMPTS, max_pairs=5, seed=0)
    # q1 has 2 distinct correct x 3 distinct wrong: max(2, 3) = 3 pairs cover every completion.
    assert len(pairs) == 3
    assert {p["prompt"] for p in pairs} == {PROMPTS["q1"]}
    assert {p["chosen"] for p in pairs} == {" a #### 1", " b #### 1"}
    assert {p["rejected"] for p in pairs} == {" x #### 2", " y #### 3", " z #### 4"}
    assert len({(p["chosen"], p["rejected"]) for p in pairs}) == 3


def test_dpo_pairs_capped_per_question_and_seeded():
    many = [rec("q1", f" ok{i} #### 1", True) for i in range(6)] + [rec("q1", f" no{i} #### 0", False) for i in range(7)]
    pairs = dpo_pairs(many, PROMPTS, max_pairs=5, seed=3)
    assert len(pairs) == 5
    assert len({p["chosen"] for p in pairs}) == 5 and len({p["rejected"] for p in pairs}) == 5
    assert pairs == dpo_pairs(many, PROMPTS, max_pairs=5, seed=3)
    assert pairs != dpo_pairs(many, PROMPTS, max_pairs=5, seed=4)


def test_no_pairs_when_no_question_has_both():
    assert dpo_pairs([rec("q2", " c", True), rec("q3", " w", False)], PROMPTS, max_pairs=5, seed=0) == []


def test_sft_dpo_schedule_alternates_starting_with_dpo():
    assert [round_update("sft-dpo", t) for t in (2, 3, 4, 5)] == ["dpo", "sft", "dpo", "sft"]
    assert [round_update("sft", t) for t in (2, 3)] == ["sft", "sft"]
    assert [round_update("dpo", t) for t in (2, 3)] == ["dpo", "dpo"]
    with pytest.raises(ValueError):
        round_update("sft", 1)


def test_every_scheduled_update_is_registered():
    from selfimp_train.config import METHODS, SCHEDULES
    from selfimp_train.methods import UPDATES, methods_of

    assert set(METHODS) == {*SCHEDULES, "all"} and methods_of("all") == tuple(SCHEDULES)
    assert {u for schedule in SCHEDULES.values() for u in schedule} | {"gold-sft"} == set(UPDATES)
    assert [name for name, update in UPDATES.items() if update.pairwise] == ["dpo"]
    assert [name for name, update in UPDATES.items() if update.online] == ["grpo"]
