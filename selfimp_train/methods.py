"""The method registry: every `--method` is one `Method` entry holding its settings (a dataclass whose
fields become `--flags`, YAML keys and part of `TrainConfig`), its schedule and, when it trains in a
way of its own, its `Update` (its settings, whose `examples` turn judged samples into training
examples and whose `trl_config` builds the update's TRL config; trainer factory: the TRL trainer, in
`selfimp_train.trainers`). Adding a method is one entry here plus its trainer factory; `config`, the loop
and the manifest read everything from this table.

M1 is the update `gold-sft`; round t >= 2 of a method runs schedule[(t - 2) % len(schedule)]
(sft-dpo: t=2 dpo, 3 sft, 4 dpo, 5 sft). The loop only looks entries up; it has no method branches.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trl import DPOConfig, GRPOConfig, SFTConfig

from harness_ext.errors import SelfimpError
from selfimp_train.args import TrainerArgs, arg
from selfimp_train.pairs import dpo_pairs, gold_examples, sft_examples
from selfimp_train.trainers import TrainJob, dpo_trainer, grpo_stats, grpo_trainer, sft_trainer, shared_args

if TYPE_CHECKING:
    from transformers import Trainer, TrainingArguments

    from selfimp_train.task_data import TaskData


@dataclass(frozen=True)
class Update:
    """One way to train M_t: what it learns from and the trainer that does it."""

    name: str
    settings: type  # its settings dataclass (fields: --flags), with its `examples` and `trl_config`
    make_trainer: Callable[[TrainJob], Trainer]
    pairwise: bool = False  # its examples are (chosen, rejected) pairs, counted as the manifest's n_pairs
    # online: it draws and judges its own completions while training (no samples from M_{t-1} first);
    # they go to the round's rollouts file, and `stats` turns the trainer into manifest fields
    online: bool = False
    stats: Callable[[Trainer], dict] | None = None

    def build_data(self, cfg: TrainerArgs, data: TaskData, records: list[dict] | None, tokenizer,
                   seed: int) -> list[dict]:
        """Its training examples from the task and the round's judged samples (None: M1, an online update);
        `cfg` is the run's TrainConfig."""
        return self.settings.examples(cfg, data, records, tokenizer, seed)

    def trl_config(self, cfg: TrainerArgs, data: TaskData | None, seed: int, scratch: Path,
                   run_name: str | None = None) -> TrainingArguments:
        """Its TRL config: the shared trainer settings (`trainers.shared_args`) plus its own; `cfg` is the
        run's TrainConfig."""
        return self.settings.trl_config(cfg, shared_args(cfg, seed, scratch, run_name), data)


@dataclass(frozen=True)
class Method:
    """A --method: either its own update (schedule: that update every round; its settings are the
    method's) or a schedule of other methods' updates."""

    update: Update | None = None
    schedule: tuple[str, ...] = ()

    def rounds(self) -> tuple[str, ...]:
        return self.schedule or (self.update.name,)


# ---------------------------------------------------------------- each update's settings, data and TRL config
# `examples(data, records, tokenizer, seed)` and `trl_config(shared, data)` are called on the run's
# TrainConfig (the union of every settings dataclass), so an update may also read a setting it shares
# with others (M1: max_length, completion_only_loss; GRPO: the sampling temperature and top-p).


def _sft_config(shared: dict[str, Any], learning_rate: float, epochs: float, warmup: float,
                completion_only_loss: bool) -> SFTConfig:
    """SFT (M1 and SFT rounds) on {prompt, completion} examples, batched by length."""
    return SFTConfig(**shared, learning_rate=learning_rate, num_train_epochs=epochs, warmup_steps=warmup,
                     completion_only_loss=completion_only_loss, train_sampling_strategy="group_by_length")


@dataclass
class GoldSFTArgs:
    """M1: SFT of the base model on the gold training solutions (update `gold-sft`)."""

    _argument_group_name: ClassVar[str] = "M1 (gold-sft)"
    m1_max_examples: int | None = arg(None, "Gold training examples for M1 (None = all).")
    m1_epochs: float = arg(3.0, "Epochs of gold SFT for M1.")
    m1_learning_rate: float = arg(2e-5, "Learning rate for M1.")
    m1_warmup_ratio: float = arg(0.03, "Warm-up fraction for M1.")

    def examples(self, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
        return gold_examples(data, tokenizer, self.m1_max_examples, self.max_length)

    def trl_config(self, shared: dict[str, Any], data: TaskData | None) -> SFTConfig:
        return _sft_config(shared, self.m1_learning_rate, self.m1_epochs, self.m1_warmup_ratio,
                           self.completion_only_loss)


@dataclass
class SFTArgs:
    """Iterative SFT on the correct samples (update `sft`; completion_only_loss also for M1)."""

    _argument_group_name: ClassVar[str] = "sft rounds"
    sft_learning_rate: float = arg(1e-5, "LR of iterative SFT rounds.")
    sft_epochs: float = arg(1.0, "Epochs of each iterative SFT round.")
    sft_warmup_ratio: float = arg(0.03, "Warm-up fraction of SFT rounds.")
    completion_only_loss: bool = arg(True, "SFT loss on completion tokens only (TRL's completion_only_loss); "
                                           "False = whole sequence.")

    def examples(self, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
        return sft_examples(records or [], data.prompts)

    def trl_config(self, shared: dict[str, Any], data: TaskData | None) -> SFTConfig:
        return _sft_config(shared, self.sft_learning_rate, self.sft_epochs, self.sft_warmup_ratio,
                           self.completion_only_loss)


@dataclass
class DPOArgs:
    """Iterative DPO on (correct, incorrect) pairs against M_{t-1} (update `dpo`)."""

    _argument_group_name: ClassVar[str] = "dpo rounds"
    dpo_learning_rate: float = arg(5e-7, "LR of iterative DPO rounds.")
    dpo_epochs: float = arg(1.0, "Epochs of each DPO round.")
    dpo_warmup_ratio: float = arg(0.1, "Warm-up fraction of DPO rounds.")
    dpo_beta: float = arg(0.1, "DPO beta.")
    dpo_loss_type: list[str] = arg(["sigmoid"], "TRL DPO loss types; "
                                                "RPO = `sigmoid sft` with --dpo_loss_weights 1.0 <alpha>.")
    dpo_loss_weights: list[float] | None = arg(None, "Weights of --dpo_loss_type.")
    max_pairs_per_question: int = arg(5, "Max (correct, incorrect) pairs per question.")

    def check(self) -> None:
        if self.dpo_loss_weights is not None and len(self.dpo_loss_weights) != len(self.dpo_loss_type):
            raise SelfimpError("--dpo_loss_weights: needs one weight per --dpo_loss_type")

    def examples(self, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
        return dpo_pairs(records or [], data.prompts, self.max_pairs_per_question, seed=seed)

    def trl_config(self, shared: dict[str, Any], data: TaskData | None) -> DPOConfig:
        return DPOConfig(**shared, learning_rate=self.dpo_learning_rate, num_train_epochs=self.dpo_epochs,
                         warmup_steps=self.dpo_warmup_ratio, beta=self.dpo_beta, loss_type=list(self.dpo_loss_type),
                         loss_weights=list(self.dpo_loss_weights) if self.dpo_loss_weights else None)


@dataclass
class GRPOArgs:
    """Online RL with verifiable rewards (update `grpo`, TRL's GRPOTrainer): reward 1 when the task's
    verifier judges a completion correct, else 0; sampled with the run's --temperature / --top_p."""

    _argument_group_name: ClassVar[str] = "grpo rounds"
    grpo_learning_rate: float = arg(1e-6, "LR of GRPO rounds (TRL's default).")
    grpo_epochs: float = arg(1.0, "Epochs over the round's prompts.")
    grpo_warmup_ratio: float = arg(0.0, "Warm-up fraction of GRPO rounds.")
    grpo_num_generations: int = arg(8, "Group size G: completions per prompt (>= 2).")
    grpo_beta: float = arg(0.04, "KL coefficient against M_{t-1} (0: no reference model, no KL).")
    grpo_max_questions: int | None = arg(None, "Training questions (prompts) per GRPO round (None = all).")
    grpo_max_completion_length: int | None = arg(None, "Completion tokens (default: the task's generation length).")

    def check(self) -> None:
        if self.grpo_num_generations < 2:
            raise SelfimpError(f"--grpo_num_generations: GRPO needs >= 2 completions per prompt, "
                               f"got {self.grpo_num_generations}")
        for name in ("grpo_max_questions", "grpo_max_completion_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise SelfimpError(f"--{name}: must be a positive integer or unset, got {getattr(self, name)!r}")
        batch = self.per_device_train_batch_size * self.gradient_accumulation_steps
        if "grpo" in updates_of(self.method) and batch % self.grpo_num_generations:
            raise SelfimpError(f"--per_device_train_batch_size x --gradient_accumulation_steps ({batch}) must be a "
                               f"multiple of --grpo_num_generations ({self.grpo_num_generations}): each GRPO batch "
                               "holds whole groups")

    def examples(self, data: TaskData, records: list[dict] | None, tokenizer, seed: int) -> list[dict]:
        """The round's prompts: --grpo_max_questions training questions, drawn with the round's seed."""
        questions = data.train
        if self.grpo_max_questions is not None and self.grpo_max_questions < len(questions):
            questions = random.Random(f"{seed}-grpo-questions").sample(questions, self.grpo_max_questions)
        return [{"prompt": data.prompts[q["id"]], "question_id": q["id"]} for q in questions]

    def trl_config(self, shared: dict[str, Any], data: TaskData | None) -> GRPOConfig:
        """Every step is logged (`grpo_stats` reads the log); completions as long as the task's answers."""
        shared = {k: v for k, v in shared.items() if k not in ("max_length", "logging_steps")}
        return GRPOConfig(**shared, logging_steps=1, learning_rate=self.grpo_learning_rate,
                          num_train_epochs=self.grpo_epochs, warmup_steps=self.grpo_warmup_ratio,
                          num_generations=self.grpo_num_generations, beta=self.grpo_beta,
                          max_completion_length=self.grpo_max_completion_length or data.max_new_tokens,
                          temperature=self.temperature, top_p=self.top_p)


ALL = "all"  # --method all: every registered method, sharing M1

GOLD_SFT = Update("gold-sft", GoldSFTArgs, make_trainer=sft_trainer)  # M1

METHODS: dict[str, Method] = {
    "sft": Method(Update("sft", SFTArgs, make_trainer=sft_trainer)),
    "dpo": Method(Update("dpo", DPOArgs, make_trainer=dpo_trainer, pairwise=True)),
    "sft-dpo": Method(schedule=("dpo", "sft")),
    "grpo": Method(Update("grpo", GRPOArgs, make_trainer=grpo_trainer, online=True, stats=grpo_stats)),
}

UPDATES: dict[str, Update] = {GOLD_SFT.name: GOLD_SFT,
                               **{m.update.name: m.update for m in METHODS.values() if m.update}}
# What each --method trains in rounds t >= 2 (names in UPDATES).
SCHEDULES: dict[str, tuple[str, ...]] = {name: m.rounds() for name, m in METHODS.items()}
# The methods' settings dataclasses, parts of TrainConfig (selfimp_train.config) in registry order.
METHOD_ARGS: tuple[type, ...] = tuple(m.update.settings for m in METHODS.values() if m.update)


def methods_of(method: str) -> tuple[str, ...]:
    """The methods a run trains: --method, or every registered one for `all` (sharing M1)."""
    return tuple(SCHEDULES) if method == ALL else (method,)


def updates_of(method: str) -> set[str]:
    """Every update a run of `method` applies in rounds t >= 2."""
    return {u for m in methods_of(method) if m in SCHEDULES for u in SCHEDULES[m]}


def round_update(method: str, t: int) -> str:
    """The update of round t >= 2 of `method` (a name in UPDATES)."""
    if t < 2:
        raise ValueError(f"round {t}: self-improvement rounds start at t=2")
    if method not in SCHEDULES:
        raise ValueError(f"unknown method {method!r}")
    schedule = SCHEDULES[method]
    return schedule[(t - 2) % len(schedule)]
