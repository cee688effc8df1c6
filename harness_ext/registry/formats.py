"""The domains and their zero-shot prompt formats (one per domain): the prompt ends in "Answer:", the
target follows it."""
from __future__ import annotations

from harness_ext.registry.spec import Domain, PromptFormat

NUMERIC_DOMAIN = Domain("numeric", "a number (`#### <number>`)", equations=True)
MATH_DOMAIN = Domain("math", "a LaTeX expression in `\\boxed{}`")
CSQA_DOMAIN = Domain("csqa", "a choice letter, `(A)`..`(E)`")
CODE_DOMAIN = Domain("code", "a Python program that passes the problem's tests", unsafe_code=True,
                     hidden_tests=True)


def _choices(doc: dict) -> str:
    return "\n".join(f"({label}) {text}" for label, text in zip(doc["choices"]["label"], doc["choices"]["text"]))


def _code(doc: dict) -> str:
    code = doc["code"].replace("\r\n", "\n").strip("\n")
    return f"\n```python\n{code}\n```"


NUMERIC = PromptFormat(
    domain=NUMERIC_DOMAIN, template="Question: {question}\nAnswer:", fields=lambda d: {"question": d["question"]},
    gold=lambda d: " " + d["answer"], stop=("Question:", "\n\n"))
MATH = PromptFormat(
    domain=MATH_DOMAIN, template="Question: {problem}\nAnswer:", fields=lambda d: {"problem": d["problem"]},
    gold=lambda d: " " + d["solution"], stop=("Question:",), doc_key="problem")
CSQA = PromptFormat(
    domain=CSQA_DOMAIN, template="Question: {question}\n{choices}\nAnswer:",
    fields=lambda d: {"question": d["question"], "choices": _choices(d)},
    gold=lambda d: f" The answer is ({d['answerKey']}).", stop=("Question:", "\n\n"), doc_key="choices")
CODE = PromptFormat(
    domain=CODE_DOMAIN, template="Question: {prompt}\nYour code should pass these tests:\n{tests}\nAnswer:",
    fields=lambda d: {"prompt": d["prompt"], "tests": "\n".join(d["test_list"])},
    gold=_code, stop=("Question:",), doc_key="test_list")
