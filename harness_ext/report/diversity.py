"""Diversity of sampled answers: the paper's per-model numbers (every sample of a problem), and the
paired comparison of two models at a matched sample count per problem."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness_ext import metrics, registry
from harness_ext.report import sbert_backends
from harness_ext.report.embedding_cache import cached_encoder
from harness_ext.report.stats import mean_ci
from harness_ext.samples import SampleLog

KINDS = (("correct", True), ("incorrect", False))
DRAWS = 5  # random subsets per problem and model, averaged


@dataclass
class DiversityOptions:
    sbert: bool = True  # Sentence-BERT diversity (needs the sentence-transformers model; the slow part)
    sbert_dtype: str = "float32"  # one of metrics.SBERT_DTYPES; the report states it
    sbert_backend: str = "torch"  # one of sbert_backends.BACKENDS; the report states it
    seed: int = 0
    embedding_cache: str | None = None  # directory of the on-disk embedding cache; None: encode in memory only


def metric_names(dataset: str, sbert: bool) -> list[str]:
    return ["distinct_n"] + (["sbert"] if sbert else []) + (["distinct_equations"] if registry.has_equations(dataset) else [])


def scores(groups: list[list[str]], name: str, opts: DiversityOptions) -> list[float]:
    """Per-problem `name` diversity of each group of texts (NaN where undefined)."""
    if name == "sbert":
        if not groups:
            return []
        model = (cached_encoder(opts.embedding_cache, opts.sbert_backend, opts.sbert_dtype) if opts.embedding_cache
                 else sbert_backends.load_encoder(opts.sbert_backend, opts.sbert_dtype))
        return [float(v) for v in metrics.sbert_diversity_many(groups, model=model)]
    return [metrics.problem_diversity(name, g) for g in groups]


def texts_of(log: SampleLog, doc_id: str, want: bool) -> list[str]:
    return [s.text for s in log.docs[doc_id].samples if s.correct == want]


def summary(values: list[float], seed: int) -> dict | None:
    """Mean [bootstrap CI] over the problems where the value is defined, with their count."""
    kept = [v for v in values if not math.isnan(v)]
    return {**mean_ci(kept, seed).to_dict(), "n_problems": len(kept)} if kept else None


def pooled_diversity(log: SampleLog, dataset: str, opts: DiversityOptions) -> dict:
    """The paper's numbers: each problem's diversity over all its samples of a kind (count not matched)."""
    out: dict = {"task": log.task, "n_samples": log.n_samples, "matched": False}
    for kind, want in KINDS:
        groups = [g for i in log.docs if len(g := texts_of(log, i, want)) >= metrics.MIN_TEXTS]
        out[kind] = {"n_questions": len(groups),
                     **{name: summary(scores(groups, name, opts), opts.seed) for name in metric_names(dataset, opts.sbert)}}
    return out


def draw_subsets(texts: list[str], m: int, rng: np.random.Generator) -> list[list[str]]:
    return [[texts[j] for j in rng.choice(len(texts), size=m, replace=False)] for _ in range(DRAWS)]


def draw_means(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) per problem: the mean over the defined draws (NaN when none is)."""
    per = flat.reshape(-1, DRAWS)
    defined = ~np.isnan(per)
    counts = defined.sum(axis=1)
    means = np.where(counts > 0, np.where(defined, per, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan)
    return means[0::2], means[1::2]


def matched_diversity(before: SampleLog, after: SampleLog, dataset: str, opts: DiversityOptions) -> dict:
    """Per kind and metric: both models scored on the same problems with the same number m_i of
    samples (m_i = the smaller of their counts, >= 2; DRAWS seeded random subsets each, averaged).
    `_diffs` holds the per-problem after − before differences for the paired test."""
    rng = np.random.default_rng(opts.seed)
    common = [i for i in before.docs if i in after.docs]
    out: dict = {}
    for kind, want in KINDS:
        pairs = [(texts_of(before, i, want), texts_of(after, i, want)) for i in common]
        pairs = [(a, b) for a, b in pairs if min(len(a), len(b)) >= metrics.MIN_TEXTS]
        ms = [min(len(a), len(b)) for a, b in pairs]
        subsets = [draw_subsets(texts, m, rng) for (a, b), m in zip(pairs, ms) for texts in (a, b)]
        entry: dict = {"n_problems": len(pairs),
                       "m": {"min": min(ms), "median": float(np.median(ms)), "max": max(ms)} if ms else None}
        for name in metric_names(dataset, opts.sbert):
            a, b = draw_means(np.array(scores([s for draws in subsets for s in draws], name, opts), dtype=float))
            ok = ~(np.isnan(a) | np.isnan(b))
            entry[name] = {"before": float(a[ok].mean()) if ok.any() else None,
                           "after": float(b[ok].mean()) if ok.any() else None,
                           "n_problems": int(ok.sum()), "_diffs": (b[ok] - a[ok]).tolist()}
        out[kind] = entry
    return out
