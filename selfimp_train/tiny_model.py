"""The embedded default model: a ~0.3M-parameter Llama built from config and a word-level
tokenizer made in code, both saved with every checkpoint so `AutoModelForCausalLM` /
`AutoTokenizer` (and `lm_eval --model hf`) load them like any HF model."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from harness_ext.arith import TOKEN_PATTERN, arith_vocabulary
from harness_ext.prompts import NUMERIC_TEMPLATE

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Architecture of the embedded model (0.28M parameters with the arith vocabulary). One layer:
    M1's accuracy hangs on how many epochs it trains, and on 2 CPU cores one layer trains 20 epochs
    1.5-1.7x faster than two, to a better M1 (docs/embedded-job.md, "How the embedded M1 got here")."""

    hidden_size: int = 128
    num_hidden_layers: int = 1
    num_attention_heads: int = 4  # head_dim 32: also what vLLM's CPU attention supports
    intermediate_size: int = 512
    max_position_embeddings: int = 512


def build_tokenizer(vocabulary: list[str] | None = None) -> PreTrainedTokenizerFast:
    """A lossless word-level tokenizer (regex split into words, digits, markers; Fuse decoder);
    the vocabulary defaults to every piece of the arith task's texts."""
    pieces = arith_vocabulary(NUMERIC_TEMPLATE) if vocabulary is None else vocabulary
    vocab = {token: i for i, token in enumerate([PAD, EOS, UNK, *pieces])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK, padding_side="left"
    )


def build_tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int, spec: TinyLlamaSpec = TinyLlamaSpec()) -> LlamaForCausalLM:
    """A freshly initialised (seeded) tiny Llama with tied embeddings for `tokenizer`."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
