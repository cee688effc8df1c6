"""One verifier per domain, shared by training and evaluation: `get_verifier(name)`."""
from __future__ import annotations

from harness_ext.errors import SelfimpError
from harness_ext.verify.base import Verifier
from harness_ext.verify.choice import ChoiceReference, ChoiceVerifier
from harness_ext.verify.math_expr import MathVerifier
from harness_ext.verify.numeric import NumericVerifier
from harness_ext.verify.program import CodeTests, ProgramVerifier

NUMERIC_TASKS = ("gsm8k", "arith", "svamp", "mawps")
VERIFIER_NAMES = (*NUMERIC_TASKS, "math", "csqa", "mbpp")


def get_verifier(name: str) -> Verifier:
    """The verifier for a task name: gsm8k, arith, svamp, mawps (numeric), math, csqa, mbpp."""
    if name in NUMERIC_TASKS:
        return NumericVerifier(name)
    if name == "math":
        return MathVerifier()
    if name == "csqa":
        return ChoiceVerifier()
    if name == "mbpp":
        return ProgramVerifier()
    raise SelfimpError(f"unknown verifier {name!r}; valid names: {', '.join(VERIFIER_NAMES)}")


__all__ = ["ChoiceReference", "CodeTests", "Verifier", "VERIFIER_NAMES", "get_verifier"]
