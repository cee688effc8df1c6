"""The one training config: a dataclass parsed by `transformers.HfArgumentParser`.

Precedence (lowest to highest): dataclass defaults (the paper's protocol) < preset < YAML file
(`--config`) < command-line flags. The `embedded` preset (tiny from-scratch Llama on the bundled
`arith` task, CPU, minutes) applies when `--task arith` and no `--model` is given; every other
run uses the paper defaults (N=50 samples, T=0.75, top-p=0.95, ...).
"""
from __future__ import annotations

import dataclasses
import functools
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser

from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EVAL_DTYPES
from harness_ext.io import parse_json, read_text
from selfimp_train.field_types import accepts_list, type_error

TASKS = ("gsm8k", "math", "csqa", "mbpp", "arith")
METHODS = ("sft", "dpo", "sft-dpo", "all")
SAMPLERS = ("hf", "vllm")
DTYPES = ("auto", "float32", "bfloat16", "float16")

# Fields that may differ between a run and its `--resume` without changing any result (batch
# sizes are not among them: sampling with another batching draws other random numbers).
RESUME_FREE_FIELDS = ("iters", "resume", "config", "out")


@dataclass
class TrainConfig:
    """Every knob of the self-improvement loop; each field is also a `--flag`."""

    # run
    task: str = field(default="arith", metadata={"help": f"Task: one of {', '.join(TASKS)}."})
    model: str | None = field(
        default=None,
        metadata={"help": "Base model: HF id, local dir, or `smollm2`. None with task arith = embedded tiny Llama."},
    )
    apply_chat_template: bool = field(
        default=False,
        metadata={"help": "Train and sample on the prompt as the user turn of the model's chat template, as "
                          "lm-eval's --apply_chat_template does (evaluate with that flag too)."},
    )
    method: str = field(default="sft", metadata={"help": f"Self-improvement method: one of {', '.join(METHODS)}."})
    iters: int = field(default=5, metadata={"help": "Number of models T (M1 plus T-1 self-improvement rounds)."})
    seed: int = field(default=0, metadata={"help": "Seed for model init, sampling and training."})
    name: str | None = field(default=None, metadata={"help": "Run name (default: <task>-<method>)."})
    out: str | None = field(default=None, metadata={"help": "Run directory (default: runs/<name>)."})
    resume: bool = field(default=False, metadata={"help": "Continue the run in --out where it stopped."})
    config: str | None = field(default=None, metadata={"help": "YAML file with values for any of these fields."})
    data_dir: str | None = field(default=None, metadata={"help": "Local dataset dir (default: $SELFIMP_DATA_DIR or Hub)."})

    # M1: SFT on gold training solutions
    m1_max_examples: int | None = field(default=None, metadata={"help": "Gold training examples for M1 (None = all)."})
    m1_epochs: float = field(default=3.0, metadata={"help": "Epochs of gold SFT for M1."})
    m1_learning_rate: float = field(default=2e-5, metadata={"help": "Learning rate for M1."})
    m1_warmup_ratio: float = field(default=0.03, metadata={"help": "Warm-up fraction for M1."})

    # sampling (rounds t >= 2)
    sampler: str = field(default="hf", metadata={"help": "Sampler backend: hf (transformers generate) or vllm."})
    n_samples: int = field(default=50, metadata={"help": "Samples N per training question."})
    temperature: float = field(default=0.75, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling top-p."})
    max_new_tokens: int | None = field(default=None, metadata={"help": "Generation length (default: the task's)."})
    max_train_questions: int | None = field(
        default=None, metadata={"help": "Training questions sampled per round (None = all)."}
    )
    sample_dtype: str = field(
        default="auto", metadata={"help": f"dtype of the training samples: {', '.join(DTYPES)} (auto: bf16 on CUDA)."}
    )
    sample_batch_size: int = field(default=64, metadata={"help": "Prompts per generate call (HF sampler)."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM tensor parallel size."})
    data_parallel_size: int = field(default=1, metadata={"help": "vLLM data parallel size."})
    vllm_kwargs: str | None = field(
        default=None,
        metadata={"help": "JSON dict passed to vllm.LLM, e.g. '{\"distributed_executor_backend\": \"ray\"}'."},
    )

    # training of rounds t >= 2 (shared by M1 where it has no own field)
    per_device_train_batch_size: int = field(default=8, metadata={"help": "Per-device batch size."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Gradient accumulation steps."})
    lr_scheduler_type: str = field(default="cosine_with_min_lr", metadata={"help": "transformers LR scheduler."})
    min_lr_rate: float = field(default=0.1, metadata={"help": "Final LR as a fraction of the peak (cosine_with_min_lr)."})
    max_length: int = field(default=1024, metadata={"help": "Max tokens of prompt + completion in training."})
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed-precision training."})
    activation_checkpointing: bool = field(default=False, metadata={"help": "Activation (gradient) checkpointing."})
    logging_steps: int = field(default=50, metadata={"help": "Trainer logging interval (steps)."})
    sft_learning_rate: float = field(default=1e-5, metadata={"help": "LR of iterative SFT rounds."})
    sft_epochs: float = field(default=1.0, metadata={"help": "Epochs of each iterative SFT round."})
    sft_warmup_ratio: float = field(default=0.03, metadata={"help": "Warm-up fraction of SFT rounds."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 = no clipping)."})
    completion_only_loss: bool = field(
        default=True, metadata={"help": "SFT loss on completion tokens only (TRL's completion_only_loss); False = whole sequence."}
    )
    dpo_learning_rate: float = field(default=5e-7, metadata={"help": "LR of iterative DPO rounds."})
    dpo_epochs: float = field(default=1.0, metadata={"help": "Epochs of each DPO round."})
    dpo_warmup_ratio: float = field(default=0.1, metadata={"help": "Warm-up fraction of DPO rounds."})
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO beta."})
    dpo_loss_type: list[str] = field(
        default_factory=lambda: ["sigmoid"],
        metadata={"help": "TRL DPO loss types; RPO = `sigmoid sft` with --dpo_loss_weights 1.0 <alpha>."},
    )
    dpo_loss_weights: list[float] | None = field(default=None, metadata={"help": "Weights of --dpo_loss_type."})
    max_pairs_per_question: int = field(default=5, metadata={"help": "Max (correct, incorrect) pairs per question."})

    # LoRA
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (merged into each checkpoint)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"], metadata={"help": "LoRA targets."})

    # evaluation inside the loop (greedy pass@1 on the task's test split)
    eval_max_questions: int | None = field(default=None, metadata={"help": "Test questions (None = all, 0 = no eval)."})
    eval_dtype: str = field(
        default="float32",
        metadata={"help": f"dtype of greedy eval and the IS probe: {', '.join(EVAL_DTYPES)} "
                          "(recorded in manifest.json; selfimp-eval sweep uses it)."},
    )
    eval_batch_size: int = field(default=128, metadata={"help": "Prompts per greedy generate call."})
    is_samples: int = field(
        default=0, metadata={"help": "M1 samples per test question it fails, for pass@k on IS(t) (0 = skip)."}
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise SelfimpError for the first field with a bad value."""
        for name, hint in field_hints().items():
            problem = type_error(getattr(self, name), hint)
            if problem:
                raise SelfimpError(f"--{name}: {problem}")
        choices = {"task": TASKS, "method": METHODS, "sampler": SAMPLERS, "sample_dtype": DTYPES,
                   "eval_dtype": EVAL_DTYPES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SelfimpError(f"--{name}: unknown value {getattr(self, name)!r} (choose from {', '.join(allowed)})")
        positive = ("iters", "n_samples", "sample_batch_size", "eval_batch_size", "per_device_train_batch_size",
                    "gradient_accumulation_steps", "max_length", "max_pairs_per_question", "tensor_parallel_size",
                    "data_parallel_size")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise SelfimpError(f"--{name}: must be a positive integer, got {getattr(self, name)!r}")
        for name in ("m1_max_examples", "max_train_questions", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SelfimpError(f"--{name}: must be a positive integer or unset, got {value!r}")
        if self.eval_max_questions is not None and self.eval_max_questions < 0:
            raise SelfimpError(f"--eval_max_questions: must be >= 0, got {self.eval_max_questions}")
        if not 0.0 < self.top_p <= 1.0:
            raise SelfimpError(f"--top_p: must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise SelfimpError(f"--temperature: must be > 0 (sampling), got {self.temperature}")
        if self.dpo_loss_weights is not None and len(self.dpo_loss_weights) != len(self.dpo_loss_type):
            raise SelfimpError("--dpo_loss_weights: needs one weight per --dpo_loss_type")
        self.vllm_engine_kwargs()  # validates the JSON

    @property
    def run_name(self) -> str:
        return self.name or f"{self.task}-{self.method}"

    @property
    def run_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.run_name

    @property
    def embedded(self) -> bool:
        """True for the CPU demo: tiny from-scratch model on the bundled arith task."""
        return self.task == "arith" and self.model is None

    def vllm_engine_kwargs(self) -> dict[str, Any]:
        if not self.vllm_kwargs:
            return {}
        if isinstance(self.vllm_kwargs, dict):
            return dict(self.vllm_kwargs)
        value = parse_json(self.vllm_kwargs, "--vllm_kwargs")
        if not isinstance(value, dict):
            raise SelfimpError("--vllm_kwargs: must be a JSON object")
        return value

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The embedded CPU demo: starting points from ../shared/notes/embedded-default.md; the 20 M1 epochs (with
# the 2-layer tiny model) and the 64 IS samples are this project's (README, "What the embedded job printed").
EMBEDDED_PRESET: dict[str, Any] = {
    "m1_max_examples": 3000,
    "m1_epochs": 20.0,
    "m1_learning_rate": 3e-3,
    "m1_warmup_ratio": 0.0,
    "n_samples": 8,
    "max_train_questions": 400,
    "sample_dtype": "bfloat16",  # training samples only; greedy eval and the IS probe: eval_dtype float32
    "sample_batch_size": 128,
    "per_device_train_batch_size": 32,
    "max_length": 256,
    "logging_steps": 1000,
    "sft_learning_rate": 1.5e-4,
    "sft_epochs": 1.0,
    "sft_warmup_ratio": 0.2,
    "dpo_learning_rate": 3e-4,
    "dpo_warmup_ratio": 0.2,
    "eval_max_questions": 3000,  # IS(t) of ~200 problems: enough for the accuracy and beyond-M1 verdicts
    "eval_batch_size": 256,
    "is_samples": 64,
}


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


@functools.cache
def field_hints() -> dict[str, Any]:
    """Each config field's type; `vllm_kwargs` may also be a mapping (from YAML)."""
    hints = typing.get_type_hints(TrainConfig)
    return {**hints, "vllm_kwargs": str | dict | None}


def _read_yaml(file: Path) -> Any:
    try:
        return yaml.safe_load(read_text(file))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SelfimpError(f"{file}: not valid YAML ({e.problem or e.context}{where})") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise SelfimpError(f"{file}: not valid YAML ({e})") from None


def _load_yaml(path: str) -> dict[str, Any]:
    """Read a YAML config; values are converted by the same argparse types as the flags."""
    file = Path(path)
    if not file.is_file():
        raise SelfimpError(f"--config: {file}: file not found")
    values = _read_yaml(file) or {}
    if not isinstance(values, dict):
        raise SelfimpError(f"{file}: expected a mapping of config fields")
    unknown = sorted(set(map(str, values)) - _field_names())
    if unknown:
        raise SelfimpError(f"{file}: unknown config field(s) {', '.join(unknown)}")
    hints, argv, direct = field_hints(), [], {}
    for key, value in values.items():
        if isinstance(value, list) and accepts_list(hints[key]) and all(isinstance(v, (str, int, float)) for v in value):
            argv += [f"--{key}", *map(str, value)]
        elif value is None or isinstance(value, (list, dict)):
            direct[key] = value
        else:
            argv.append(f"--{key}={value}")  # `=`: a value that starts with '-' is still a value
    typed = {**direct, **_parse_explicit(_yaml_parser(file), argv)}
    for key, value in typed.items():
        problem = type_error(value, hints[key])
        if problem:
            raise SelfimpError(f"{file}: field {key!r} {problem}")
    return typed


def _yaml_parser(file: Path) -> HfArgumentParser:
    """The flags' parser, with argparse's usage-and-exit turned into one SelfimpError naming the file."""
    parser = make_parser()

    def error(message: str) -> typing.NoReturn:
        raise SelfimpError(f"{file}: {message}")

    parser.error = error  # type: ignore[method-assign]
    return parser


def make_parser() -> HfArgumentParser:
    return HfArgumentParser(
        TrainConfig, prog="selfimp-train", description=__doc__.split("\n")[0], allow_abbrev=False
    )


def _parse_explicit(parser: HfArgumentParser, argv: list[str]) -> dict[str, Any]:
    """Typed values of only the flags present in `argv` (so presets/YAML fill the rest)."""
    values = vars(parser.parse_args(args=argv))
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    return {
        action.dest: values[action.dest]
        for action in parser._actions
        if action.dest in values and given.intersection(action.option_strings)
    }


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Build the config from defaults, preset, YAML (`--config`) and command-line flags."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    explicit = _parse_explicit(parser, argv)
    from_yaml = _load_yaml(explicit["config"]) if explicit.get("config") else {}
    chosen = {**from_yaml, **explicit}
    preset = EMBEDDED_PRESET if chosen.get("task", "arith") == "arith" and chosen.get("model") is None else {}
    return TrainConfig(**{**preset, **chosen})
