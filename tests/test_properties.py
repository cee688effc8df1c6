"""Property tests: extractors never raise on hostile text; metric invariants hold."""
from __future__ import annotations

import math
import time
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness_ext.metrics import distinct_equations, distinct_n, distinct_n_avg, equations, group_disparity, pass_at_k
from harness_ext.verify import ChoiceReference, get_verifier, math_expr

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = [
    "{" * 5000,
    "\\boxed" + "{" * 5000,
    "\\boxed{" * 5000,
    "\\boxed{" + "{" * 3000 + "1" + "}" * 3001,
    "9" * 20000,
    "-" + "1," * 5000 + "5",
    "#### " + "9" * 5000 + "/" + "0",
    "The answer is " + "(" * 5000,
    "$" * 5001,
    "```python\n" * 2000,
    "(A" * 5000,
    "answer: " * 3000,
    "answer " * 5000,
    "answer" + " " * 20000 + "x",
    "\x00\ud7ff\U0010ffff ＡＢＣ ١٢٣ ⅞ ½",
]
TEXT = st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE))
REFERENCE_FOR = {"gsm8k": "18", "math": r"\frac{1}{2}", "csqa": ChoiceReference("A", (("A", "bank"), ("B", "mall")))}


@pytest.mark.parametrize("name", ["gsm8k", "math", "csqa", "mbpp"])
@FAST
@given(text=TEXT)
def test_extract_never_raises(name, text):
    answer = get_verifier(name).extract(text, REFERENCE_FOR.get(name))
    assert answer is None or isinstance(answer, str)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_extract_is_fast_on_hostile_text(text):
    start = time.process_time()
    for name in ("gsm8k", "math", "csqa", "mbpp"):
        get_verifier(name).extract(text, REFERENCE_FOR.get(name))
    assert time.process_time() - start < 2.0


# A time-limit injection can land in hypothesis's own gc callback, which reports and drops it
# (the limit then injects again); that report is expected here, not a failure.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", ["gsm8k", "math", "csqa"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=200), st.sampled_from(HOSTILE[:4] + HOSTILE[5:])))
def test_is_correct_never_raises(name, text):
    with mock.patch.object(math_expr, "TIMEOUT_S", 0.3):  # hostile LaTeX hits the limit: keep it short
        assert get_verifier(name).is_correct(text, REFERENCE_FOR[name]) in (True, False)


@FAST
@given(value=st.integers(min_value=-10**30, max_value=10**30), noise=st.text(alphabet="abc .,\n", max_size=30))
def test_numeric_round_trip(value, noise):
    v = get_verifier("gsm8k")
    assert v.is_correct(f"{noise}\n#### {value:,}", str(value))
    assert not v.is_correct(f"{noise}\n#### {value + 1}", str(value))


@st.composite
def n_c_k(draw):
    n = draw(st.integers(1, 1000))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@FAST
@given(nck=n_c_k())
def test_pass_at_k_bounded_and_monotone(nck):
    n, c, k = nck
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0 and math.isfinite(value)
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value - 1e-12


WORDS = st.lists(st.text(alphabet="ab c\n", max_size=40), max_size=8)


@FAST
@given(texts=WORDS, n=st.integers(1, 6))
def test_distinct_n_in_unit_interval(texts, n):
    for value in (distinct_n(texts, n), distinct_n_avg(texts)):
        assert math.isnan(value) or 0.0 < value <= 1.0


@FAST
@given(texts=st.lists(st.text(alphabet="<>=+12 x", max_size=60), max_size=8))
def test_distinct_equations_in_unit_interval(texts):
    value = distinct_equations(texts)
    assert math.isnan(value) == (not any(equations(t) for t in texts))
    assert math.isnan(value) or 0.0 < value <= 1.0


@FAST
@given(acc=st.dictionaries(st.integers(1, 5), st.floats(0.0, 1.0), min_size=1))
def test_group_disparity_at_most_one(acc):
    value = group_disparity(acc)
    assume(not math.isnan(value))
    assert value <= 1.0
