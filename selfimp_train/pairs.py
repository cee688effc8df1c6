"""Training data of each update: M1's gold examples, and from judged samples SFT examples and DPO pairs."""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness_ext.errors import SelfimpError
from harness_ext.prompts import gold_completion

if TYPE_CHECKING:
    from selfimp_train.task_data import TaskData


def group_by_question(records: Iterable[dict]) -> dict[str, list[dict]]:
    """Sample records (question_id, completion, correct, ...) per question, in file order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["question_id"]].append(r)
    return dict(groups)


def _distinct(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def sft_examples(records: Iterable[dict], prompts: dict[str, str]) -> list[dict]:
    """One {prompt, completion} per distinct correct completion of each question."""
    return [
        {"prompt": prompts[qid], "completion": text}
        for qid, recs in group_by_question(records).items()
        for text in _distinct(r["completion"] for r in recs if r["correct"])
    ]


def dpo_pairs(records: Iterable[dict], prompts: dict[str, str], max_pairs: int, seed: int) -> list[dict]:
    """Up to `max_pairs` {prompt, chosen, rejected} per question that has both a correct and an
    incorrect distinct completion; pairs are distinct and use every completion once before reuse."""
    rng = random.Random(seed)
    pairs = []
    for qid, recs in group_by_question(records).items():
        good = _distinct(r["completion"] for r in recs if r["correct"])
        bad = _distinct(r["completion"] for r in recs if not r["correct"])
        if not good or not bad:
            continue
        rng.shuffle(good)
        rng.shuffle(bad)
        for i in range(min(max_pairs, max(len(good), len(bad)))):
            pairs.append({"prompt": prompts[qid], "chosen": good[i % len(good)], "rejected": bad[i % len(bad)]})
    return pairs



def gold_examples(data: TaskData, tokenizer, max_examples: int | None, max_length: int) -> list[dict]:
    """M1's training data: {prompt, gold completion}; examples of `max_length` tokens or more are
    dropped (a truncated gold solution would teach the model to stop mid-way)."""
    rows = data.train[:max_examples] if max_examples else data.train
    examples = [{"prompt": data.prompts[r["id"]], "completion": gold_completion(data.name, r)} for r in rows]
    examples = [e for e in examples if len(tokenizer(e["prompt"] + e["completion"])["input_ids"]) < max_length]
    if not examples:
        raise SelfimpError(f"--max_length {max_length}: no gold training example of {data.name} fits; "
                           "the training set is empty")
    return examples
