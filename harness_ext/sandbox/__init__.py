"""Sandboxed execution of model-written Python (used by the mbpp verifier); see docs/safety.md."""
from harness_ext.sandbox.runner import (
    Refused,
    RunResult,
    SandboxLimits,
    require_code_eval_opt_in,
    run_many,
    run_program,
)

__all__ = ["Refused", "RunResult", "SandboxLimits", "require_code_eval_opt_in", "run_many", "run_program"]
