"""From judged samples to training data: SFT examples, DPO pairs, the SFT-DPO schedule."""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable


def round_update(method: str, t: int) -> str:
    """The update of round t >= 2: `sft` or `dpo`. SFT-DPO alternates: t=2 DPO, 3 SFT, 4 DPO, ..."""
    if t < 2:
        raise ValueError(f"round {t}: self-improvement rounds start at t=2")
    if method in ("sft", "dpo"):
        return method
    if method == "sft-dpo":
        return "dpo" if t % 2 == 0 else "sft"
    raise ValueError(f"unknown method {method!r}")


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

