"""Sandboxed execution of model-written Python (used by the mbpp verifier); see docs/safety.md."""
from harness_ext.sandbox.runner import (
    RunResult,
    SandboxLimits,
    require_code_eval_opt_in,
    run_many,
    run_program,
)

__all__ = ["RunResult", "SandboxLimits", "require_code_eval_opt_in", "run_many", "run_program"]
