"""The one zero-shot prompt format, shared by training (SFT targets, sampling) and evaluation.

`task` is a dataset name (gsm8k, svamp, mawps, arith, math, csqa, mbpp); docs are rows in the
normalised schema of `harness_ext.data`. The prompt is plain text ending in "Answer:", so it
also works as the user turn under `--apply_chat_template`: `chat_prompt` renders it exactly as
lm-eval does, and `selfimp-train --apply_chat_template` trains and samples on that text.
"""
from __future__ import annotations

from harness_ext.data import domain_of
from harness_ext.errors import SelfimpError

NUMERIC_TEMPLATE = "Question: {question}\nAnswer:"
MATH_TEMPLATE = "Question: {problem}\nAnswer:"
CSQA_TEMPLATE = "Question: {question}\n{choices}\nAnswer:"
MBPP_TEMPLATE = "Question: {prompt}\nYour code should pass these tests:\n{tests}\nAnswer:"

_STOP = {
    "numeric": ["Question:", "\n\n"],
    "math": ["Question:"],
    "csqa": ["Question:", "\n\n"],
    "code": ["Question:"],
}
_MAX_GEN_TOKS = {"gsm8k": 512, "svamp": 512, "mawps": 512, "arith": 128, "math": 1024,
                 "csqa": 64, "mbpp": 512}


def prompt(task: str, doc: dict) -> str:
    """The zero-shot prompt for one doc."""
    domain = domain_of(task)
    if domain == "numeric":
        return NUMERIC_TEMPLATE.format(question=doc["question"])
    if domain == "math":
        return MATH_TEMPLATE.format(problem=doc["problem"])
    if domain == "csqa":
        choices = "\n".join(f"({label}) {text}" for label, text in
                            zip(doc["choices"]["label"], doc["choices"]["text"]))
        return CSQA_TEMPLATE.format(question=doc["question"], choices=choices)
    return MBPP_TEMPLATE.format(prompt=doc["prompt"], tests="\n".join(doc["test_list"]))


def gold_completion(task: str, doc: dict) -> str:
    """The SFT target that follows `prompt(task, doc)` (M1's training data)."""
    domain = domain_of(task)
    if domain == "numeric":
        return " " + doc["answer"]
    if domain == "math":
        return " " + doc["solution"]
    if domain == "csqa":
        return f" The answer is ({doc['answerKey']})."
    code = doc["code"].replace("\r\n", "\n").strip("\n")
    return f"\n```python\n{code}\n```"


def stop_sequences(task: str) -> list[str]:
    """Strings that end a generation (the model's EOS token ends it too)."""
    return list(_STOP[domain_of(task)])


def max_gen_toks(task: str) -> int:
    """Generation length limit in tokens."""
    domain_of(task)  # validates the name
    return _MAX_GEN_TOKS[task]


def chat_prompt(tokenizer, text: str) -> str:
    """`text` as the one user turn of the tokenizer's chat template, up to where the assistant's
    answer begins: what lm-eval's `--apply_chat_template` sends for a zero-shot task."""
    if not getattr(tokenizer, "chat_template", None):
        raise SelfimpError(f"--apply_chat_template: the tokenizer {tokenizer.name_or_path!r} has no chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)
