"""The training config: dataclasses split by concern, parsed by `transformers.HfArgumentParser`.

Precedence (lowest to highest): dataclass defaults (the paper's protocol) < preset < YAML file
(`--config`) < command-line flags. Presets are YAML files shipped in `selfimp_train/presets/`:
`embedded` (tiny from-scratch Llama on the bundled `arith` task, CPU, minutes) applies when
`--task arith` and no `--model` is given; `--config <name>` names any other (e.g. `smollm2`).
Every other run uses the paper defaults (N=50 samples, T=0.75, top-p=0.95, ...).
"""
from __future__ import annotations

import dataclasses
import functools
import re
import sys
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml
from transformers import HfArgumentParser

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EVAL_DTYPES
from harness_ext.io import parse_json, read_text
from selfimp_train.args import LoraArgs, TrainerArgs
from selfimp_train.args import arg as _f
from selfimp_train.field_types import coerce, type_error
from selfimp_train.methods import ALL, METHOD_ARGS, SCHEDULES, GoldSFTArgs

TASKS = registry.training_tasks()  # every registered dataset with a train split
# --method: the registry's methods (selfimp_train.methods: schedule, settings and update of each), or all.
METHODS = (*SCHEDULES, ALL)
SAMPLERS = ("hf", "vllm")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def report_to_values() -> tuple[str, ...]:
    """--report_to values: transformers' logging integrations, `all` (every installed one) or `none`."""
    from transformers.integrations import INTEGRATION_TO_CALLBACK

    return ("none", "all", *INTEGRATION_TO_CALLBACK)


def attention_implementations() -> tuple[str, ...]:
    """transformers' attn_implementation values (eager and the registered attention functions)."""
    from transformers import AttentionInterface

    return ("eager", *AttentionInterface().valid_keys())


# Fields that may differ between a run and its `--resume` without changing any result (batch
# sizes are not among them: sampling with another batching draws other random numbers).
RESUME_FREE_FIELDS = ("iters", "resume", "config", "out", "report_to")


@dataclass
class LoopArgs:
    """What to run and where: task, base model, method, iterations."""

    _argument_group_name: ClassVar[str] = "run"
    task: str = _f("arith", f"Task: one of {', '.join(TASKS)}.")
    model: str | None = _f(None, "Base model: HF id, local dir, or `smollm2`. "
                                 "None with task arith = embedded tiny Llama.")
    apply_chat_template: bool = _f(False, "Train and sample on the prompt as the user turn of the model's chat "
                                          "template, as lm-eval's --apply_chat_template does "
                                          "(evaluate with that flag too).")
    method: str = _f("sft", f"Self-improvement method: one of {', '.join(METHODS)}.")
    iters: int = _f(5, "Number of models T (M1 plus T-1 self-improvement rounds).")
    seed: int = _f(0, "Seed for model init, sampling and training.")
    name: str | None = _f(None, "Run name (default: <task>-<method>).")
    out: str | None = _f(None, "Run directory (default: runs/<name>).")
    resume: bool = _f(False, "Continue the run in --out where it stopped.")
    config: str | None = _f(None, "YAML file with values for any of these fields, or a shipped preset's name "
                                  "(embedded, smollm2).")
    data_dir: str | None = _f(None, "Local dataset dir (default: $SELFIMP_DATA_DIR or Hub).")


@dataclass
class SamplingArgs:
    """Sampling the training questions in rounds t >= 2."""

    _argument_group_name: ClassVar[str] = "sampling"
    sampler: str = _f("hf", "Sampler backend: hf (transformers generate) or vllm.")
    n_samples: int = _f(50, "Samples N per training question.")
    temperature: float = _f(0.75, "Sampling temperature.")
    top_p: float = _f(0.95, "Nucleus sampling top-p.")
    max_new_tokens: int | None = _f(None, "Generation length (default: the task's).")
    max_train_questions: int | None = _f(None, "Training questions sampled per round (None = all).")
    sample_dtype: str = _f("auto", f"dtype of the training samples: {', '.join(DTYPES)} (auto: bf16 on CUDA).")
    sample_batch_size: int = _f(64, "Prompts per generate call (HF sampler).")
    tensor_parallel_size: int = _f(1, "vLLM tensor parallel size.")
    data_parallel_size: int = _f(1, "vLLM data parallel size.")
    vllm_kwargs: str | None = _f(None, "JSON dict passed to vllm.LLM, "
                                       "e.g. '{\"distributed_executor_backend\": \"ray\"}'.")


@dataclass
class EvalArgs:
    """Greedy pass@1 on the task's test split after each model, and M1's improvement-set probe."""

    _argument_group_name: ClassVar[str] = "evaluation"
    eval_max_questions: int | None = _f(None, "Test questions (None = all, 0 = no eval).")
    eval_dtype: str = _f("float32", f"dtype of greedy eval and the IS probe: {', '.join(EVAL_DTYPES)} "
                                    "(recorded in manifest.json; selfimp-eval sweep uses it).")
    eval_batch_size: int = _f(128, "Prompts per greedy generate call.")
    attn_implementation: str | None = _f(None, "transformers attention of the HF sampler (greedy eval, IS probe, "
                                               "training samples), e.g. eager, sdpa (None: transformers' default); "
                                               "recorded in manifest.json, passed to lm-eval by the sweep.")
    is_samples: int = _f(0, "M1 samples per test question of the union of the IS(t), for pass@k on IS(t) (0 = skip).")


# The parser's dataclasses, in --help order; TrainConfig is their union.
CONFIG_PARTS = (LoopArgs, GoldSFTArgs, SamplingArgs, TrainerArgs, *METHOD_ARGS, LoraArgs, EvalArgs)
_POSITIVE = ("iters", "n_samples", "sample_batch_size", "eval_batch_size", "per_device_train_batch_size",
             "gradient_accumulation_steps", "max_length", "max_pairs_per_question", "tensor_parallel_size",
             "data_parallel_size")


@dataclass
class TrainConfig(*reversed(CONFIG_PARTS)):  # type: ignore[misc]  # fields in CONFIG_PARTS order
    """Every knob of the self-improvement loop; each field is also a `--flag` and a YAML key."""

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
            value = getattr(self, name)
            if value not in allowed:
                raise SelfimpError(f"--{name}: unknown value {value!r} (choose from {', '.join(allowed)})")
        attn, known = self.attn_implementation, attention_implementations()
        if attn is not None and attn not in known and "/" not in attn:  # "/": a Hub kernel repo
            raise SelfimpError(f"--attn_implementation: unknown value {attn!r} "
                               f"(choose from {', '.join(known)}, or a Hub kernel repo)")
        self.check_report_to()
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise SelfimpError(f"--{name}: must be a positive integer, got {getattr(self, name)!r}")
        for name in ("m1_max_examples", "max_train_questions", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SelfimpError(f"--{name}: must be a positive integer or unset, got {value!r}")
        if self.eval_max_questions is not None and self.eval_max_questions < 0:
            raise SelfimpError(f"--eval_max_questions: must be >= 0, got {self.eval_max_questions}")
        if not 0.0 < self.top_p <= 1.0:
            raise SelfimpError(f"--top_p: must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise SelfimpError(f"--temperature: must be > 0 (sampling), got {self.temperature}")
        for part in METHOD_ARGS:  # a method's own checks (its dataclass's `check`)
            if "check" in vars(part):
                part.check(self)
        self.vllm_engine_kwargs()  # validates the JSON

    def check_report_to(self) -> None:
        """Every --report_to value is an integration of transformers, and an installed one (else the
        first trainer would fail after M1's data is built)."""
        from transformers.integrations import get_available_reporting_integrations

        for value in self.report_to:
            if value not in report_to_values():
                raise SelfimpError(f"--report_to: unknown value {value!r} "
                                   f"(choose from {', '.join(report_to_values())})")
        missing = sorted(set(self.report_to) - {"none", "all"} - set(get_available_reporting_integrations()))
        if missing:
            raise SelfimpError(f"--report_to: {', '.join(missing)} not installed (pip install {' '.join(missing)})")

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


@functools.cache
def field_hints() -> dict[str, Any]:
    """Each config field's type; `vllm_kwargs` may also be a mapping (from YAML)."""
    hints = {f.name: typing.get_type_hints(part)[f.name] for part in CONFIG_PARTS for f in dataclasses.fields(part)}
    return {**hints, "vllm_kwargs": str | dict | None}


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: `3e-3` is a number, not the string PyYAML's YAML 1.1 rules make it."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
               r"|[0-9][0-9_]*[eE][-+]?[0-9]+|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN)$"),
    list("-+0123456789."),
)


def _read_yaml(file: Path) -> Any:
    try:
        return yaml.load(read_text(file), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SelfimpError(f"{file}: not valid YAML ({e.problem or e.context}{where})") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise SelfimpError(f"{file}: not valid YAML ({e})") from None


def read_config_file(file: Path) -> dict[str, Any]:
    """A YAML config's values, each checked against its field's type (an int is a float where one is
    expected, a single value a one-element list)."""
    values = _read_yaml(file) or {}
    if not isinstance(values, dict):
        raise SelfimpError(f"{file}: expected a mapping of config fields")
    hints = field_hints()
    unknown = sorted(set(map(str, values)) - set(hints))
    if unknown:
        raise SelfimpError(f"{file}: unknown config field(s) {', '.join(unknown)}")
    typed = {key: coerce(value, hints[key]) for key, value in values.items()}
    for key, value in typed.items():
        problem = type_error(value, hints[key])
        if problem:
            raise SelfimpError(f"{file}: field {key!r} {problem}")
    return typed


def preset_file(name: str) -> Path:
    """The shipped preset `name` (package data in selfimp_train/presets/)."""
    return Path(str(resources.files("selfimp_train") / "presets" / f"{name}.yaml"))


def config_file(value: str) -> Path:
    """`--config`: a YAML file, or the name of a shipped preset when no such file exists."""
    file = Path(value)
    if not file.exists() and preset_file(value).is_file():
        return preset_file(value)
    if not file.is_file():
        raise SelfimpError(f"--config: {file}: file not found")
    return file


EMBEDDED_PRESET: dict[str, Any] = read_config_file(preset_file("embedded"))


def make_parser(*defaults: dict[str, Any]) -> HfArgumentParser:
    """The flags' parser; each mapping in `defaults` (preset, YAML file) overrides the ones before it."""
    parser = HfArgumentParser(CONFIG_PARTS, prog="selfimp-train", description=__doc__.split("\n")[0],
                              allow_abbrev=False)
    for values in defaults:
        parser.set_defaults(**values)
    return parser


def _parse(argv: list[str], *defaults: dict[str, Any]) -> TrainConfig:
    parts = make_parser(*defaults).parse_args_into_dataclasses(args=argv)
    return TrainConfig(**{k: v for part in parts for k, v in vars(part).items()})


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """Build the config from defaults, preset, YAML (`--config`) and command-line flags."""
    argv = sys.argv[1:] if argv is None else list(argv)
    flags = make_parser().parse_args(args=argv)  # bad flags stop here; it names the --config file
    from_file = read_config_file(config_file(flags.config)) if flags.config else {}
    cfg = _parse(argv, from_file)
    return _parse(argv, EMBEDDED_PRESET, from_file) if cfg.embedded else cfg
