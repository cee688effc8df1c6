"""Config dataclasses that the trainers read as well as the config (a leaf module: `config` and
`methods` import it, it imports neither): the field helper, the settings every update shares and LoRA."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


def arg(default: Any, help: str) -> Any:
    """A dataclass field with a `--help` text (a list default gets a factory)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainerArgs:
    """TRL trainer settings every update shares; the names are `transformers.TrainingArguments`' own."""

    _argument_group_name: ClassVar[str] = "training (every update)"
    per_device_train_batch_size: int = arg(8, "Per-device batch size (GRPO: completions, a multiple of "
                                              "--grpo_num_generations with --gradient_accumulation_steps).")
    gradient_accumulation_steps: int = arg(1, "Gradient accumulation steps.")
    lr_scheduler_type: str = arg("cosine_with_min_lr", "transformers LR scheduler.")
    max_length: int = arg(1024, "Max tokens of prompt + completion in training.")
    bf16: bool = arg(False, "bf16 mixed-precision training.")
    activation_checkpointing: bool = arg(False, "Activation (gradient) checkpointing.")
    logging_steps: int = arg(50, "Trainer logging interval (steps).")
    max_grad_norm: float = arg(1.0, "Gradient clipping norm (0 = no clipping).")
    min_lr_rate: float = arg(0.1, "Final LR as a fraction of the peak (cosine_with_min_lr).")
    report_to: list[str] = arg(["none"], "Where the trainers log loss and metrics (transformers' integrations: "
                                         "none, tensorboard, wandb, trackio, ...); tensorboard writes "
                                         "<run>/tensorboard/<label>/.")


@dataclass
class LoraArgs:
    """LoRA adapters (fields as `trl.ModelConfig`'s; `lora` is its `use_peft`)."""

    _argument_group_name: ClassVar[str] = "LoRA"
    lora: bool = arg(False, "Train LoRA adapters (merged into each checkpoint).")
    lora_r: int = arg(16, "LoRA rank.")
    lora_alpha: int = arg(32, "LoRA alpha.")
    lora_dropout: float = arg(0.05, "LoRA dropout.")
    lora_target_modules: list[str] = arg(["all-linear"], "LoRA targets.")
