"""The method registry: every update a model can get is one `Update` entry, its data builder (judged
samples -> training examples) and its trainer factory (a TRL trainer with its TRL config).

M1 is `gold-sft`; round t >= 2 of a --method runs the update that `config.SCHEDULES` names for it
(sft-dpo: t=2 dpo, 3 sft, 4 dpo, 5 sft). The loop only looks entries up; it has no method branches.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import Trainer

from selfimp_train.config import SCHEDULES, TrainConfig
from selfimp_train.pairs import dpo_pairs, gold_examples, sft_examples
from selfimp_train.task_data import TaskData
from selfimp_train.trainers import TrainJob, dpo_trainer, gold_sft_trainer, sft_trainer

# (cfg, task data, judged samples of the round or None for M1, tokenizer, seed) -> training examples
DataBuilder = Callable[[TrainConfig, TaskData, "list[dict] | None", object, int], list[dict]]


@dataclass(frozen=True)
class Update:
    """One way to train M_t: what it learns from and the trainer that does it."""

    name: str
    build_data: DataBuilder
    make_trainer: Callable[[TrainJob], Trainer]
    pairwise: bool = False  # its examples are (chosen, rejected) pairs, counted as the manifest's n_pairs


def _gold_data(cfg: TrainConfig, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
    return gold_examples(data, tokenizer, cfg.m1_max_examples, cfg.max_length)


def _sft_data(cfg: TrainConfig, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
    return sft_examples(records or [], data.prompts)


def _dpo_data(cfg: TrainConfig, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
    return dpo_pairs(records or [], data.prompts, cfg.max_pairs_per_question, seed=seed)


UPDATES: dict[str, Update] = {
    "gold-sft": Update("gold-sft", build_data=_gold_data, make_trainer=gold_sft_trainer),
    "sft": Update("sft", build_data=_sft_data, make_trainer=sft_trainer),
    "dpo": Update("dpo", build_data=_dpo_data, make_trainer=dpo_trainer, pairwise=True),
}


def methods_of(method: str) -> tuple[str, ...]:
    """The methods a run trains: --method, or every scheduled one for `all` (sharing M1)."""
    return tuple(SCHEDULES) if method == "all" else (method,)


def round_update(method: str, t: int) -> str:
    """The update of round t >= 2 of `method` (a name in UPDATES)."""
    if t < 2:
        raise ValueError(f"round {t}: self-improvement rounds start at t=2")
    if method not in SCHEDULES:
        raise ValueError(f"unknown method {method!r}")
    schedule = SCHEDULES[method]
    return schedule[(t - 2) % len(schedule)]
