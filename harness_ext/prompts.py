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


def stop_sequences(task: str, chat_template: bool = False) -> list[str]:
    """Strings that end a generation (the model's EOS token ends it too); `chat_stops` of them
    under a chat template."""
    stop = list(registry.get(task).prompt.stop)
    return chat_stops(stop) if chat_template else stop


def chat_stops(stop: list[str]) -> list[str]:
    """The stops that apply under a chat template: a chat model ends its answer with its end-of-turn
    token, and a blank line there is a paragraph break of its reasoning, not the end of the answer
    (SmolLM2-Instruct with `\\n\\n` as a stop: 75% of GSM8K answers cut; benchmarks/README.md "Stop
    truncation"), so whitespace-only stops are dropped. lm-eval tasks apply the same rule to their
    `until` (`harness_ext.tasks.SelfimpTask`)."""
    return [s for s in stop if s.strip()]


def max_gen_toks(task: str, split: str = "test") -> int:
    """Generation length limit in tokens for problems of `split`."""
    return registry.get(task).gen_toks(split)


def chat_prompt(tokenizer, text: str) -> str:
    """`text` as the one user turn of the tokenizer's chat template, up to where the assistant's
    answer begins: what lm-eval's `--apply_chat_template` sends for a zero-shot task."""
    if not getattr(tokenizer, "chat_template", None):
        raise SelfimpError(f"--apply_chat_template: the tokenizer {tokenizer.name_or_path!r} has no chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)
