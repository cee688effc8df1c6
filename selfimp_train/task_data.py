"""What the loop needs from its task: train/test rows, prompts, references, verifier, and the run's
one greedy-evaluation setting (`selfimp_train.task_loading` builds it from the config)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness_ext.eval_setting import EvalSetting
from harness_ext.verify import Verifier


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
