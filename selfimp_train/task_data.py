"""What the loop needs from its task: train/test rows, prompts, references, verifier, and the run's
one greedy-evaluation setting."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting, default_device
from harness_ext.prompts import chat_prompt, prompt
from harness_ext.verify import Verifier, get_verifier
from selfimp_train.config import TrainConfig
from selfimp_train.models import base_tokenizer


@dataclass
class TaskData:
    """Everything the loop needs from the task: rows, prompts, verifier, generation limits."""

    name: str
    train: list[dict]
    test: list[dict]
    prompts: dict[str, str]
    references: dict[str, Any]
    verifier: Verifier
    stop: list[str]
    max_new_tokens: int
    eval: EvalSetting  # greedy eval and the IS probe (recorded in manifest.json)


def evaluation_setting(cfg: TrainConfig) -> EvalSetting:
    """The run's one greedy-evaluation setting (manifest.json's `eval_setting`)."""
    return EvalSetting.for_task(cfg.task, backend=cfg.sampler, dtype=cfg.eval_dtype, device=default_device(),
                                batch_size=cfg.eval_batch_size, max_new_tokens=cfg.max_new_tokens,
                                max_questions=cfg.eval_max_questions, chat_template=cfg.apply_chat_template,
                                attn_implementation=cfg.attn_implementation)


def load_task(cfg: TrainConfig) -> TaskData:
    train = load_rows(cfg.task, "train", cfg.data_dir)
    test = load_rows(cfg.task, "test", cfg.data_dir)
    if cfg.eval_max_questions is not None:
        test = test[: cfg.eval_max_questions]
    if not train:
        raise SelfimpError(f"--task {cfg.task}: the training split is empty")
    verifier = get_verifier(cfg.task)
    rows = train + test
    setting = evaluation_setting(cfg)
    prompts = {r["id"]: prompt(cfg.task, r) for r in rows}
    if cfg.apply_chat_template:
        tokenizer = base_tokenizer(cfg)
        prompts = {qid: chat_prompt(tokenizer, text) for qid, text in prompts.items()}
    return TaskData(
        name=cfg.task,
        train=train,
        test=test,
        prompts=prompts,
        references={r["id"]: verifier.reference(r) for r in rows},
        verifier=verifier,
        stop=list(setting.stop),
        max_new_tokens=setting.max_new_tokens,
        eval=setting,
    )
