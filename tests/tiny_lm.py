"""Tiny random Llama checkpoints with tokenizers built in code (no Hub), for lm-eval runs in tests."""
from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from harness_ext.arith import TOKEN_PATTERN, arith_vocabulary
from harness_ext.prompts import NUMERIC_TEMPLATE

SPECIAL = ["<pad>", "<eos>", "<unk>"]


def arith_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer over the arith vocabulary (exact round trip)."""
    vocab = {t: i for i, t in enumerate([*SPECIAL, *arith_vocabulary(NUMERIC_TEMPLATE)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer without merges: any text encodes."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {t: i for i, t in enumerate([*SPECIAL, *sorted(alphabet)])}
    tok = Tokenizer(models.BPE(vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


def save_tiny_llama(path: Path, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> Path:
    """A random LlamaForCausalLM (hidden 64, 2 layers, head_dim 32) saved with its tokenizer."""
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
