"""The one greedy-evaluation setting of a training run, recorded in its manifest.json.

`selfimp-train` evaluates every checkpoint (greedy pass@1, which defines IS(t)) and draws M1's
IS probe with it; `selfimp-eval sweep <run>` uses it by default, so both see the same completions.
Training samples may use another dtype (`--sample_dtype`); evaluation is this one thing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness_ext.errors import SelfimpError
from harness_ext.prompts import max_gen_toks, stop_sequences

# harness_ext.prompts.prompt(), no chat template, the tokenizer's own special tokens (lm-eval's default);
# with --apply_chat_template that prompt as the one user turn of the tokenizer's chat template
PROMPT_FORMAT = "selfimp-zero-shot"
CHAT_PROMPT_FORMAT = "selfimp-zero-shot+chat-template"
EVAL_DTYPES = ("float32", "bfloat16", "float16")
PADDING_SIDE = "left"  # both transformers generate in the trainer and lm-eval's HF model pad on the left


@dataclass(frozen=True)
class EvalSetting:
    """What decides a greedy completion besides the weights."""

    backend: str  # hf (transformers generate) or vllm: the trainer's --sampler, lm-eval's --model
    dtype: str
    device: str  # cpu or cuda (hf); vllm decides itself
    max_new_tokens: int
    stop: tuple[str, ...]
    max_questions: int | None  # first N test problems (None = all): lm-eval's --limit
    batch_size: int | str  # prompts per generate call (the trainer records an int; lm-eval also takes "auto")
    padding_side: str = PADDING_SIDE
    prompt_format: str = PROMPT_FORMAT
    attn_implementation: str | None = None  # transformers' attn_implementation (hf only; None: its default)

    @classmethod
    def for_task(cls, task: str, backend: str, dtype: str, device: str, batch_size: int,
                 max_new_tokens: int | None = None, max_questions: int | None = None,
                 chat_template: bool = False, attn_implementation: str | None = None) -> EvalSetting:
        return cls(backend=backend, dtype=dtype, device=device, max_new_tokens=max_new_tokens or max_gen_toks(task),
                   stop=tuple(stop_sequences(task, chat_template)), max_questions=max_questions, batch_size=batch_size,
                   prompt_format=CHAT_PROMPT_FORMAT if chat_template else PROMPT_FORMAT,
                   attn_implementation=attn_implementation if backend == "hf" else None)

    @property
    def chat_template(self) -> bool:
        return self.prompt_format == CHAT_PROMPT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stop": list(self.stop)}

    @classmethod
    def from_dict(cls, value: Any, where: str) -> EvalSetting:
        """Parse a manifest's `eval_setting`; `where` names the file in errors."""
        if not isinstance(value, dict):
            raise SelfimpError(f"{where}: field 'eval_setting' must be an object")
        expected = {"backend": str, "dtype": str, "device": str, "max_new_tokens": int, "stop": list,
                    "max_questions": (int, type(None)), "batch_size": int, "padding_side": str, "prompt_format": str}
        for key, kind in expected.items():
            if not isinstance(value.get(key), kind) or isinstance(value.get(key), bool):
                raise SelfimpError(f"{where}: field 'eval_setting.{key}' is missing or has the wrong type")
        if not all(isinstance(s, str) for s in value["stop"]):
            raise SelfimpError(f"{where}: field 'eval_setting.stop' must be a list of strings")
        attn = value.get("attn_implementation")  # absent in runs made before it was recorded: the default
        if not isinstance(attn, (str, type(None))):
            raise SelfimpError(f"{where}: field 'eval_setting.attn_implementation' must be a string or null")
        return cls(**{**{k: value[k] for k in expected}, "stop": tuple(value["stop"]), "attn_implementation": attn})

    def differences(self, used: EvalSetting) -> list[str]:
        """`<field>: <this setting's value> (run) vs <used's value>` for every field in which they differ."""
        mine, theirs = self.to_dict(), used.to_dict()
        return [f"{k}: {mine[k]!r} (run) vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


def default_device() -> str:
    """Where transformers generates by default here: cuda when torch sees a GPU, else cpu."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
