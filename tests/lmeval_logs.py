"""Test helpers: synthetic sample logs in lm-eval 0.4.13's exact samples_<task>_<date>.jsonl layout
(copied from a real log of the built-in gsm8k task), and a tiny random HF model for real lm-eval runs."""
from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path

DATE = "2026-11-23T11-20-30.055663"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def log_line(doc_id: int, doc: dict, resps: list[str], filtered, target: str = "", filt: str = "none") -> dict:
    """One line as lm-eval's EvaluationTracker writes it (a generate_until task, one request per doc)."""
    prompt = f"Question: {doc.get('question', '')}\nAnswer:"
    return {
        "doc_id": doc_id,
        "doc": doc,
        "target": str(target),
        "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": {"until": ["Question:"], "do_sample": False}}},
        "resps": [[str(r) for r in resps]],
        "filtered_resps": [filtered],
        "filter": filt,
        "metrics": ["acc"],
        "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": _hash(prompt),
        "target_hash": _hash(str(target)),
        "acc": 0.0,
    }


def our_log_lines(docs: list[tuple[dict, list[tuple[str, str | None, bool]]]], as_json: bool = False) -> list[dict]:
    """Lines of one of our tasks: filtered_resps[0] = per-sample records, stringified as lm-eval's
    sanitize_list does (Python repr of each dict) or as JSON strings (`as_json`)."""
    lines = []
    for i, (doc, samples) in enumerate(docs):
        records = [{"text": t, "answer": a, "correct": c} for t, a, c in samples]
        filtered = [json.dumps(r) if as_json else str(r) for r in records]
        lines.append(log_line(i, doc, [t for t, _, _ in samples], filtered, target=doc.get("answer", "")))
    return lines


def write_log(out_dir: Path, task: str, lines: list[dict], date: str = DATE) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"samples_{task}_{date}.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return path


def make_tiny_model(out: Path) -> Path:
    """A 2-layer random Llama with a character-level tokenizer (a few hundred KB), saved as an HF checkpoint."""
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(["<pad>", "<unk>", "</s>"] + list(string.printable))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=2048, pad_token_id=0, bos_token_id=2,
                         eos_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    fast.save_pretrained(out)
    return out
