"""The GPU path: HF sampler (CUDA, bf16), one SFT and one DPO update through TRL (LoRA and full
fine-tuning) on a ~0.5B random-init Llama, and `lm_eval --model hf` on CUDA over its checkpoint.

Run on a device machine with `bash scripts/gpu_check.sh`. Figures (sampler vs raw generate,
samples/s, SFT/DPO tokens/s, peak GPU memory per stage) go as JSON to $SELFIMP_GPU_FIGURES, else
to $OUT/gpu_figures.json when $OUT is set.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

N_SAMPLES, MAX_NEW = 8, 128
LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)", re.DOTALL)


def _figures_path() -> Path | None:
    if os.environ.get("SELFIMP_GPU_FIGURES"):
        return Path(os.environ["SELFIMP_GPU_FIGURES"])
    return Path(os.environ["OUT"]) / "gpu_figures.json" if os.environ.get("OUT") else None


@pytest.fixture(scope="module")
def figures():
    """Collected by the tests, written once at the end of the module."""
    found: dict = {"device": torch.cuda.get_device_name(0)}
    yield found
    path = _figures_path()
    if path is not None:
        from harness_ext.io import atomic_write_json

        atomic_write_json(path, found)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A ~0.5B-parameter Llama, random init from config, with the arith word-level tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from selfimp_train.tiny_model import build_tokenizer

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=1536, intermediate_size=4096,
                         num_hidden_layers=18, num_attention_heads=12, num_key_value_heads=12,
                         max_position_embeddings=512, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    assert 0.4e9 < model.num_parameters() < 1.1e9
    path = tmp_path_factory.mktemp("llama-0.5b")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def arith_rows():
    from harness_ext.data import load_rows

    return load_rows("arith", "train")[:64]


def _peak(figures: dict, stage: str) -> None:
    figures.setdefault("peak_gpu_memory_gib", {})[stage] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    torch.cuda.reset_peak_memory_stats()


def test_hf_sampler_cuda_bf16_and_memory_freed(checkpoint, arith_rows, figures):
    from bench_sampler import TEMPERATURE, TOP_P, count_tokens, raw_hf
    from transformers import AutoModelForCausalLM

    from harness_ext.prompts import prompt
    from selfimp_train.samplers import HFSampler

    prompts = [prompt("arith", r) for r in arith_rows]
    torch.cuda.reset_peak_memory_stats()
    sampler = HFSampler(checkpoint, dtype="auto", batch_size=len(prompts) * N_SAMPLES, seed=0)
    assert sampler.device == "cuda" and sampler.model.dtype == torch.bfloat16
    sampler.generate(prompts[:4], N_SAMPLES, TEMPERATURE, TOP_P, 8, [])  # warm-up
    start = time.perf_counter()
    out = sampler.generate(prompts, N_SAMPLES, TEMPERATURE, TOP_P, MAX_NEW, [])
    seconds = time.perf_counter() - start
    assert len(out) == len(prompts) and all(len(group) == N_SAMPLES for group in out)
    assert all(isinstance(t, str) for group in out for t in group)
    sampler_rate = count_tokens(sampler.tokenizer, out) / seconds
    _peak(figures, "sampler")

    raw = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.bfloat16).to("cuda").eval()
    start = time.perf_counter()
    raw_texts = raw_hf(raw, sampler.tokenizer, prompts, N_SAMPLES, MAX_NEW, len(prompts), seed=0)
    raw_rate = count_tokens(sampler.tokenizer, raw_texts) / (time.perf_counter() - start)
    del raw
    figures["sampler"] = {"prompts": len(prompts), "n": N_SAMPLES, "max_new_tokens": MAX_NEW,
                          "sampler_tokens_per_s": round(sampler_rate, 1), "raw_generate_tokens_per_s": round(raw_rate, 1),
                          "sampler_over_raw": round(sampler_rate / raw_rate, 3),
                          "samples_per_s": round(len(prompts) * N_SAMPLES / seconds, 1)}

    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    sampler.close()
    after = torch.cuda.memory_allocated()
    figures["sampler"]["memory_freed_gib"] = round((before - after) / 2**30, 2)
    assert after < before - 0.5 * 2**30  # the bf16 weights (~1 GiB) are gone before any training


def _train_cfg(checkpoint: Path, lora: bool):
    from selfimp_train.config import TrainConfig

    return dataclasses.replace(TrainConfig(task="arith", model=str(checkpoint)), lora=lora, bf16=True,
                               per_device_train_batch_size=8, max_length=256, logging_steps=1000,
                               sft_epochs=1.0, sft_warmup_ratio=0.0)


def _tokens(tokenizer, texts: list[str]) -> int:
    return sum(len(ids) for ids in tokenizer(texts)["input_ids"])


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_one_sft_and_one_dpo_update(checkpoint, arith_rows, figures, lora, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness_ext.prompts import gold_completion, prompt
    from selfimp_train.methods import UPDATES
    from selfimp_train.trainers import TrainJob, dpo_trainer, peft_config, sft_trainer, train_and_save

    cfg = _train_cfg(checkpoint, lora)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    examples = [{"prompt": prompt("arith", r), "completion": gold_completion("arith", r)} for r in arith_rows]
    pairs = [{"prompt": e["prompt"], "chosen": e["completion"],
              "rejected": LAST_NUMBER.sub(lambda m: str(int(m.group(1)) + 1), e["completion"], count=1)}
             for e in examples]
    mode = "lora" if lora else "full"
    torch.cuda.reset_peak_memory_stats()

    start = time.perf_counter()
    job = TrainJob(AutoModelForCausalLM.from_pretrained(checkpoint), tokenizer, examples,
                   UPDATES["sft"].trl_config(cfg, None, 0, tmp_path / "sft"), peft=peft_config(cfg))
    sft = train_and_save(sft_trainer(job), tmp_path / "m2", lora)
    sft_s = time.perf_counter() - start - sft.save_time_s
    assert sft.steps >= 1 and sft.train_loss is not None and math.isfinite(sft.train_loss)
    assert torch.cuda.max_memory_allocated() > 2**30  # the ~0.5B model trained on the GPU
    _peak(figures, f"sft_{mode}")
    torch.cuda.empty_cache()

    policy = AutoModelForCausalLM.from_pretrained(tmp_path / "m2")
    start = time.perf_counter()
    job = TrainJob(policy, tokenizer, pairs, UPDATES["dpo"].trl_config(cfg, None, 0, tmp_path / "dpo"),
                   peft=peft_config(cfg), parent=tmp_path / "m2")
    dpo = train_and_save(dpo_trainer(job), tmp_path / "m3", lora)  # the reference: M2 (full) or the frozen base (LoRA)
    dpo_s = time.perf_counter() - start - dpo.save_time_s
    assert dpo.steps >= 1 and dpo.train_loss is not None and math.isfinite(dpo.train_loss)
    _peak(figures, f"dpo_{mode}")
    for saved in (tmp_path / "m2", tmp_path / "m3"):
        assert (saved / "config.json").is_file()
        assert (saved / "adapter" / "adapter_config.json").is_file() == lora
    sft_tokens = _tokens(tokenizer, [e["prompt"] + e["completion"] for e in examples])
    dpo_tokens = _tokens(tokenizer, [p["prompt"] + p[k] for p in pairs for k in ("chosen", "rejected")])
    figures[f"train_{mode}"] = {"sft_tokens_per_s": round(sft_tokens / sft_s, 1),
                                "dpo_tokens_per_s": round(dpo_tokens / dpo_s, 1),
                                "sft_s": round(sft_s, 2), "dpo_s": round(dpo_s, 2),
                                "examples": len(examples), "pairs": len(pairs)}
    del policy
    torch.cuda.empty_cache()


def test_lm_eval_hf_on_cuda(checkpoint, figures, tmp_path):
    from harness_ext.lm_eval_compat import tasks_dir

    out = tmp_path / "lm_eval"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf",
           "--model_args", f"pretrained={checkpoint},dtype=bfloat16", "--device", "cuda",
           "--tasks", "selfimp_arith_pass1", "--include_path", str(tasks_dir()),
           "--limit", "16", "--batch_size", "16", "--output_path", str(out), "--log_samples"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    figures["lm_eval_selfimp_arith_pass1_16_docs_s"] = round(time.perf_counter() - start, 1)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = list(out.rglob("results_*.json"))
    assert results, f"no results file under {out}"
    task = json.loads(results[0].read_text())["results"]["selfimp_arith_pass1"]
    assert any(k.startswith("pass@1") for k in task), task
