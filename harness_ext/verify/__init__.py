"""One verifier per domain, shared by training and evaluation: `get_verifier(name)` for any
registered dataset (`harness_ext.registry`: its `domain` names the verifier)."""
from __future__ import annotations

from typing import Callable

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.verify.base import Verifier
from harness_ext.verify.choice import ChoiceReference, ChoiceVerifier
from harness_ext.verify.math_expr import MathVerifier
from harness_ext.verify.numeric import NumericVerifier
from harness_ext.verify.program import CodeTests, ProgramVerifier

VERIFIERS: dict[str, Callable[[str], Verifier]] = {
    "numeric": NumericVerifier,
    "math": lambda name: MathVerifier(),
    "csqa": lambda name: ChoiceVerifier(),
    "code": lambda name: ProgramVerifier(),
}


def get_verifier(name: str) -> Verifier:
    """The verifier of a dataset's domain: gsm8k, arith, svamp, mawps (numeric), math, csqa, mbpp, ..."""
    if name not in registry.REGISTRY:
        raise SelfimpError(f"unknown verifier {name!r}; valid names: {', '.join(registry.names())}")
    return VERIFIERS[registry.get(name).domain.name](name)


__all__ = ["ChoiceReference", "CodeTests", "Verifier", "VERIFIERS", "get_verifier"]
