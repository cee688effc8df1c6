"""Sentence-BERT encoders by backend: sentence-transformers' torch model, or the same model with its
transformer run by OpenVINO (`pip install 'selfimp[openvino]'`).

The OpenVINO encoder is the default SentenceTransformer with only its Hugging Face model replaced:
`openvino.convert_model` of that model (dynamic batch and sequence length), compiled for the CPU in
`dtype` (an explicit inference-precision hint: OpenVINO would otherwise pick bfloat16 on CPUs that
have it). Tokenization, pooling and normalisation stay sentence-transformers' own modules.
sentence-transformers' `backend="openvino"` is not used: it needs optimum-intel, which does not
install next to this project's transformers (docs/scale.md).
"""
from __future__ import annotations

import functools
import warnings

import torch

from harness_ext import metrics
from harness_ext.errors import SelfimpError

BACKENDS = ("torch", "openvino")
OPENVINO_PRECISION = {"float32": "f32", "bfloat16": "bf16"}  # metrics.SBERT_DTYPES -> OpenVINO element type


def check_backend(backend: str) -> None:
    """A SelfimpError unless `backend` is one of BACKENDS and its package is installed."""
    if backend not in BACKENDS:
        raise SelfimpError(f"Sentence-BERT backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if backend == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError as e:
            raise SelfimpError(f"--sbert-backend openvino needs the openvino package ({e}): "
                               "pip install 'selfimp[openvino]'") from None


def device_name(backend: str) -> str:
    """Backend and device, as the embedding cache keys them: torch-cpu, torch-cuda, openvino-cpu."""
    return f"torch-{metrics.sbert_device()}" if backend == "torch" else f"{backend}-cpu"


def load_encoder(backend: str, dtype: str = "float32"):
    """The default Sentence-BERT model (`metrics.load_sbert`) in `dtype` on `backend`, loaded once."""
    check_backend(backend)
    if backend == "torch":
        return metrics.load_sbert(None, dtype)
    if dtype not in OPENVINO_PRECISION:
        raise SelfimpError(f"Sentence-BERT dtype {dtype!r}: choose from {', '.join(OPENVINO_PRECISION)}")
    return _openvino_sbert(dtype)


@functools.lru_cache(maxsize=2)
def _openvino_sbert(dtype: str):
    import openvino as ov

    model, converted = openvino_conversion()
    hint = ov.properties.hint.inference_precision(getattr(ov.Type, OPENVINO_PRECISION[dtype]))
    return with_compiled(model, ov.Core().compile_model(converted, "CPU", dict([hint])))


def openvino_conversion():
    """(a fresh default SentenceTransformer, its Hugging Face model converted by OpenVINO)."""
    import openvino as ov
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(metrics.default_sbert_path(), device="cpu")  # its own copy: with_compiled changes it
    transformer = model[0]
    example = {k: v for k, v in transformer.preprocess(["a short text", "a somewhat longer text"]).items()
               if isinstance(v, torch.Tensor)}
    with warnings.catch_warnings():  # the tracer's notes on shape-dependent branches a BERT encoder never takes
        warnings.simplefilter("ignore")
        return model, ov.convert_model(transformer.model, example_input=example)


def with_compiled(model, compiled):
    """`model` (from `openvino_conversion`) with its Hugging Face model replaced by `compiled`."""
    model[0].model = OpenVINOModel(compiled, model[0].model.config)
    return model


class OpenVINOModel(torch.nn.Module):
    """Stands in for the Hugging Face model inside sentence-transformers' `Transformer` module: takes
    the tokenizer's tensors by name and returns `last_hidden_state`, computed by `compiled`."""

    def __init__(self, compiled, config):
        super().__init__()
        self.compiled, self.config = compiled, config
        self.input_names = [port.get_any_name() for port in compiled.inputs]
        self.output = compiled.output("last_hidden_state")

    def forward(self, **features) -> dict[str, torch.Tensor]:
        result = self.compiled({name: features[name].numpy() for name in self.input_names})
        return {"last_hidden_state": torch.from_numpy(result[self.output].copy())}
