"""Sentence-BERT backends: OpenVINO's embeddings equal torch float32's, the embedding cache keeps each
backend's vectors apart, and asking for OpenVINO without it installed is one clear error."""
from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from report_sweeps import build_sweep, gsm8k_sweep

from harness_ext import metrics
from harness_ext.data import load_rows
from harness_ext.report import embedding_cache, main, sbert_backends
from harness_ext.report.embedding_cache import EmbeddingStore, cached_encoder, default_key

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="openvino is not installed (pip install 'selfimp[openvino]')")


@pytest.fixture(scope="module")
def texts(data_dir) -> list[str]:
    """Real GSM8K solutions of very different lengths (batches of different padded lengths, and one
    longer than the model's 256-token limit), and a one-word text."""
    answers = [row["answer"] for row in load_rows("gsm8k", "train", data_dir)[:200]]
    by_length = sorted(answers, key=len)
    return by_length[:6] + by_length[-6:] + answers[:12] + ["\n\n".join(answers[:8]), "Yes"]


def encode(model, texts: list[str]) -> np.ndarray:
    return model.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)


@needs_openvino
def test_openvino_float32_embeddings_equal_torch_float32(texts):
    openvino_model, torch_model = sbert_backends.load_encoder("openvino"), metrics.load_sbert()
    cosine = (encode(openvino_model, texts) * encode(torch_model, texts)).sum(axis=1)
    assert cosine.min() > 1 - 1e-6, cosine.min()  # a bfloat16 hint reads 1 - 6e-5 on these texts
    # sentence-transformers' own tokenizer, pooling and normalisation; the torch model is left as it was
    assert [type(m) for m in openvino_model] == [type(m) for m in torch_model]
    assert openvino_model[1].get_config_dict() == torch_model[1].get_config_dict()
    assert type(torch_model[0].model).__name__ == "BertModel"
    assert type(openvino_model[0].model) is sbert_backends.OpenVINOModel


class Recording:
    """Stands in for a backend's model (the real torch MiniLM), remembering every text it encoded."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, batch, **kwargs):
        self.seen += batch
        return metrics.load_sbert().encode(batch, **kwargs)


def test_the_cache_never_mixes_backends(tmp_path, texts):
    cache, hashes = str(tmp_path), [embedding_cache.text_hash(t) for t in texts[:10]]
    embedding_cache._ENCODERS.clear()
    cached_encoder(cache, "torch", "float32").encode(texts[:10])
    other, recording = cached_encoder(cache, "openvino", "float32"), Recording()
    other.load = lambda: recording
    other.encode(texts[:10])
    assert recording.seen == texts[:10] and other.counts.from_cache == 0  # none of torch's vectors read
    torch_store, openvino_store = (EmbeddingStore(cache, default_key(b, "float32")) for b in ("torch", "openvino"))
    assert torch_store.dir != openvino_store.dir
    (shard,) = torch_store.shards()
    planted = openvino_store.dir / shard.name
    planted.write_bytes(shard.read_bytes())  # a torch shard among OpenVINO's: foreign, deleted
    assert len(openvino_store.lookup(hashes)) == 10
    assert openvino_store.rejected == [f"{shard.name}: written for another encoder"] and not planted.exists()
    embedding_cache._ENCODERS.clear()


@needs_openvino
def test_cli_openvino_report_same_verdicts_and_diversity_within_1e_4(tmp_path, data_dir, capsys):
    sweep = gsm8k_sweep(tmp_path, [row["answer"] for row in load_rows("gsm8k", "train", data_dir)[:125]])
    cache = str(tmp_path / "cache")
    reports = {}
    for backend in ("torch", "openvino"):
        embedding_cache._ENCODERS.clear()
        assert main([str(sweep), "--out", str(tmp_path / backend), "--embedding-cache", cache,
                     "--sbert-backend", backend]) == 0
        assert "Sentence-BERT: 125 texts encoded, 0 read from the cache" in capsys.readouterr().out
        reports[backend] = json.loads((tmp_path / backend / "report.json").read_text())
    embedding_cache._ENCODERS.clear()
    torch_report, openvino_report = reports["torch"], reports["openvino"]
    assert openvino_report["verdicts"] == torch_report["verdicts"]
    ds = "selfimp_arith"
    for label, entry in torch_report["datasets"][ds]["diversity"].items():
        for kind in ("correct", "incorrect"):
            expect = entry[kind]["sbert"]["value"]
            assert openvino_report["datasets"][ds]["diversity"][label][kind]["sbert"]["value"] == pytest.approx(
                expect, abs=1e-4)
    assert openvino_report["datasets"][ds]["sbert_backend"] == "openvino"
    assert "Sentence-BERT in float32 (openvino)" in (tmp_path / "openvino" / "report.md").read_text()


def test_cli_openvino_without_openvino_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    sweep = build_sweep(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([str(sweep), "--out", str(tmp_path / "r"), "--sbert-backend", "openvino"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: --sbert-backend openvino needs the openvino package") and "selfimp[openvino]" in err
    assert not (tmp_path / "r").exists()
    assert main([str(sweep), "--out", str(tmp_path / "r"), "--sbert-backend", "openvino", "--no-sbert"]) == 0
