"""One SFT or DPO update with TRL (`SFTTrainer` / `DPOTrainer`), full fine-tuning or LoRA."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel
from transformers import PreTrainedModel, TrainerCallback
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from selfimp_train.config import TrainConfig
from selfimp_train.crash_points import crash_point


@dataclass
class UpdateResult:
    model: PreTrainedModel  # LoRA merged into the weights
    train_loss: float | None  # None: no training data, the model is unchanged
    steps: int


class _CrashDuringTraining(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        crash_point("training")


def _common_args(cfg: TrainConfig, scratch: Path, lr: float, epochs: float, warmup: float, seed: int) -> dict[str, Any]:
    return {
        "output_dir": str(scratch),
        "learning_rate": lr,
        "num_train_epochs": epochs,
        "warmup_steps": warmup,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        "lr_scheduler_kwargs": {"min_lr_rate": cfg.min_lr_rate} if cfg.lr_scheduler_type == "cosine_with_min_lr" else None,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "max_length": cfg.max_length,
        "bf16": cfg.bf16,
        "activation_checkpointing": cfg.activation_checkpointing,
        "logging_steps": cfg.logging_steps,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": not torch.cuda.is_available(),
        "seed": seed,
        "data_seed": seed,
        "disable_tqdm": True,
        "log_level": "warning",
    }


def _lora(cfg: TrainConfig) -> LoraConfig | None:
    if not cfg.lora:
        return None
    targets: Any = cfg.lora_target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def _finish(trainer, adapter_dir: Path | None) -> UpdateResult:
    """Train; with LoRA, save the adapter to `adapter_dir` and merge it into the weights."""
    output = trainer.train()
    model = trainer.model
    if isinstance(model, PeftModel):
        if adapter_dir is not None:
            model.save_pretrained(adapter_dir)
        model = model.merge_and_unload()
    return UpdateResult(model=model, train_loss=float(output.training_loss), steps=int(output.global_step))


def train_sft(
    model: PreTrainedModel, tokenizer, examples: list[dict], cfg: TrainConfig, scratch: Path,
    lr: float, epochs: float, warmup: float, seed: int, adapter_dir: Path | None = None,
) -> UpdateResult:
    """Supervised fine-tuning on {prompt, completion} examples (loss on completions; EOS appended by TRL)."""
    args = SFTConfig(
        **_common_args(cfg, scratch, lr, epochs, warmup, seed),
        completion_only_loss=True,
        train_sampling_strategy="group_by_length",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer,
        peft_config=_lora(cfg), callbacks=[_CrashDuringTraining()],
    )
    return _finish(trainer, adapter_dir)


def train_dpo(
    model: PreTrainedModel, ref_model: PreTrainedModel | None, tokenizer, pairs: list[dict], cfg: TrainConfig,
    scratch: Path, seed: int, adapter_dir: Path | None = None,
) -> UpdateResult:
    """DPO on {prompt, chosen, rejected} pairs against `ref_model` (= M_{t-1}; with LoRA, the
    frozen base is the reference and `ref_model` is None)."""
    args = DPOConfig(
        **_common_args(cfg, scratch, cfg.dpo_learning_rate, cfg.dpo_epochs, cfg.dpo_warmup_ratio, seed),
        beta=cfg.dpo_beta,
        loss_type=list(cfg.dpo_loss_type),
        loss_weights=list(cfg.dpo_loss_weights) if cfg.dpo_loss_weights else None,
    )
    trainer = DPOTrainer(
        model=model, ref_model=None if cfg.lora else ref_model, args=args, train_dataset=Dataset.from_list(pairs),
        processing_class=tokenizer, peft_config=_lora(cfg), callbacks=[_CrashDuringTraining()],
    )
    return _finish(trainer, adapter_dir)
