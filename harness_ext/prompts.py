"""The one zero-shot prompt format, shared by training (SFT targets, sampling) and evaluation.

`task` is a registered dataset name (`harness_ext.registry`); docs are rows in the normalised
schema of `harness_ext.data`. Each dataset's prompt format, stop strings and generation length
live in its registry entry. The prompt is plain text ending in "Answer:", so it also works as the
user turn under `--apply_chat_template`: `chat_prompt` renders it exactly as lm-eval does, and
`selfimp-train --apply_chat_template` trains and samples on that text.
"""
from __future__ import annotations

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.registry import formats

NUMERIC_TEMPLATE = formats.NUMERIC.template  # the arith tokenizer's vocabulary includes it


def prompt(task: str, doc: dict) -> str:
    """The zero-shot prompt for one doc."""
    return registry.get(task).prompt.prompt(doc)


def gold_completion(task: str, doc: dict) -> str:
    """The SFT target that follows `prompt(task, doc)` (M1's training data)."""
    return registry.get(task).prompt.gold(doc)


def stop_sequences(task: str) -> list[str]:
    """Strings that end a generation (the model's EOS token ends it too)."""
    return list(registry.get(task).prompt.stop)


def max_gen_toks(task: str) -> int:
    """Generation length limit in tokens."""
    return registry.get(task).max_gen_toks


def chat_prompt(tokenizer, text: str) -> str:
    """`text` as the one user turn of the tokenizer's chat template, up to where the assistant's
    answer begins: what lm-eval's `--apply_chat_template` sends for a zero-shot task."""
    if not getattr(tokenizer, "chat_template", None):
        raise SelfimpError(f"--apply_chat_template: the tokenizer {tokenizer.name_or_path!r} has no chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)
