"""harness_ext.verify: every extraction rule, and gold/shuffled answers of the real datasets."""
from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness_ext import data
from harness_ext.errors import SelfimpError
from harness_ext.io import read_jsonl
from harness_ext.sandbox import SandboxLimits
from harness_ext.verify import ChoiceReference, CodeTests, get_verifier
from harness_ext.verify.program import ProgramVerifier
from harness_ext.verify import math_expr
from harness_ext.verify.deadline import call_with_deadline
from harness_ext.verify.numeric import to_fraction


def shuffled(items: list, seed: int = 0) -> list:
    """`items` permuted so that no position keeps its own item."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[order[i]] if order[i] != i else items[(i + 1) % len(items)] for i in range(len(items))]


def test_unknown_name_lists_valid_names():
    with pytest.raises(SelfimpError, match="unknown verifier .gsm9k.; valid names: gsm8k, arith, svamp, mawps, math, csqa, mbpp"):
        get_verifier("gsm9k")


@pytest.mark.parametrize("name", ["gsm8k", "arith", "svamp", "mawps", "math", "csqa", "mbpp"])
def test_verifier_names(name):
    assert get_verifier(name).name == name


# ---- numeric: gsm8k, arith, svamp, mawps ----

@pytest.mark.parametrize("completion,answer", [
    ("She makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18"),
    ("#### 72\nThen 5 more words 6", "72"),
    ("3 + 4 = 7. The answer is $1,234.00. Check: 12", "1,234.00"),
    ("The Answer is: -5 apples", "-5"),
    ("first 3 then 4 so 3/4", "3/4"),
    ("it costs $56 in total", "56"),
    ("a loss of -$56", "-56"),
    ("so 7 - 2", "2"),
    ("so 7-2", "2"),
    ("a rise of 50%.", "50"),
    ("x2 and y3 but 7.5 dollars.", "7.5"),
    ("#### \nno number after the marker, the answer is 7", "7"),
    ("no digits at all", None),
    ("", None),
])
def test_numeric_extract(completion, answer):
    assert get_verifier("gsm8k").extract(completion) == answer


@pytest.mark.parametrize("completion,reference,correct", [
    ("#### 1,234.00", "1234", True),
    ("The answer is 3/4", "0.75", True),
    ("The answer is -5.", "-5", True),
    ("#### 18.0", "18", True),
    ("#### $18", "18", True),
    ("#### 145", "145.0", True),
    ("#### 3.33", "3.3333333333333335", False),
    ("#### 3.3333333333", "3.3333333333333335", True),
    ("#### 17", "18", False),
    ("#### 1073741825", "1073741824", False),
    ("#### 1073741824.0000001", "1073741824", False),
    ("#### -18", "18", False),
    ("nothing here", "18", False),
    ("#### 1/0", "0", False),
])
def test_numeric_is_correct(completion, reference, correct):
    assert get_verifier("gsm8k").is_correct(completion, reference) is correct


def test_numeric_reference_schemas():
    v = get_verifier("svamp")
    assert v.reference({"answer": "so 6 * 12 = <<6*12=72>>72\n#### 72"}) == "72"
    assert v.reference({"answer": "#### 1,234"}) == "1234"
    assert v.reference({"Answer": 145.0}) == "145.0"
    assert v.reference({"target": 43.0}) == "43.0"
    assert v.reference({"answer": 12}) == "12"


def test_numeric_reference_errors():
    v = get_verifier("gsm8k")
    with pytest.raises(SelfimpError, match="gsm8k row id='q1'.*'answer'.*'Answer'.*'target'"):
        v.reference({"id": "q1", "question": "?"})
    with pytest.raises(SelfimpError, match="field 'answer' does not end in a number"):
        v.reference({"answer": "#### seventy"})
    with pytest.raises(SelfimpError, match="reference 'abc' is not a number"):
        v.is_correct("#### 1", "abc")


def _numeric_gold_and_shuffled(name: str, rows: list[dict], completions: list[str]) -> None:
    v = get_verifier(name)
    refs = [v.reference(r) for r in rows]
    gold = v.judge(completions, refs)
    assert sum(gold) / len(rows) >= 0.99
    others = shuffled(refs)
    wrong = [(c, o) for c, r, o in zip(completions, refs, others) if to_fraction(r) != to_fraction(o)]
    assert len(wrong) > 0.9 * len(rows)
    assert not any(v.judge([c for c, _ in wrong], [o for _, o in wrong]))


def test_gsm8k_gold_local_jsonl(data_dir):
    rows = read_jsonl(data_dir / "gsm8k" / "test.jsonl")
    assert len(rows) == 1319
    _numeric_gold_and_shuffled("gsm8k", rows, [r["answer"] for r in rows])


def test_gsm8k_gold_normalised_rows():
    rows = data.load_rows("gsm8k", "test")
    _numeric_gold_and_shuffled("gsm8k", rows, [r["answer"] for r in rows])


def test_arith_gold():
    rows = data.load_rows("arith", "test")
    _numeric_gold_and_shuffled("arith", rows, [r["answer"] for r in rows])


@pytest.mark.parametrize("name,field", [("svamp", "Answer"), ("mawps", "target")])
def test_ood_gold_local_jsonl(data_dir, name, field):
    rows = read_jsonl(data_dir / name / "test.jsonl")
    _numeric_gold_and_shuffled(name, rows, [f"So the answer is {r[field]:g}." for r in rows])


@pytest.mark.parametrize("name", ["svamp", "mawps"])
def test_ood_gold_normalised_rows(name):
    rows = data.load_rows(name, "test")
    _numeric_gold_and_shuffled(name, rows, [r["answer"] for r in rows])


# ---- math ----

@pytest.mark.parametrize("completion,answer", [
    (r"so $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (r"\boxed{1} then \boxed{\left( 3, \frac{\pi}{2} \right)}", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"\boxed{\sqrt{x^{2}+{1}}} done", r"\sqrt{x^{2}+{1}}"),
    (r"\fbox{7}", "7"),
    (r"\boxed 5$", "5"),
    (r"\boxed{3} and an unfinished \boxed{4", "3"),
    ("Final Answer: The final answer is $\\frac{2}{3}$. I hope it is correct.", r"\frac{2}{3}"),
    ("The answer is \\$18.90.", r"\$18.90"),
    ("The answer is 12 apples.", "12 apples"),
    ("no final answer", None),
    (r"\boxed{}", None),
])
def test_math_extract(completion, answer):
    assert get_verifier("math").extract(completion) == answer


@pytest.mark.parametrize("gold,pred,correct", [
    (r"\frac{1}{2}", "0.5", True),
    (r"\frac{1}{2}", r"\dfrac12", True),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)", True),
    (r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}", True),
    (r"\$18.90", "18.90", True),
    (r"\text{(C)}", r"\text{(C)}", True),
    ("2", "3", False),
    (r"\frac{1}{2}", r"\frac{1}{3}", False),
    (r"(3, \pi)", r"(3, \frac{\pi}{2})", False),
])
def test_math_equivalence(gold, pred, correct):
    v = get_verifier("math")
    assert v.is_correct(f"Therefore \\boxed{{{pred}}}.", gold) is correct


def test_math_reference_schemas_and_errors():
    v = get_verifier("math")
    assert v.reference({"solution": r"So \boxed{\frac{a}{b}} and not \boxed{2}? No: \boxed{3}."}) == "3"
    assert v.reference({"answer": r"\frac{1}{2}", "solution": r"\boxed{0.5}"}) == r"\frac{1}{2}"
    with pytest.raises(SelfimpError, match=r"math row id='m1'.*'answer'.*'solution'"):
        v.reference({"id": "m1", "solution": "no box here"})


def test_math_is_thread_safe():
    """math-verify's SIGALRM timeout only works in the main thread: workers must still judge."""
    v = get_verifier("math")
    cases = [(r"\boxed{0.5}", r"\frac{1}{2}", True), (r"\boxed{\dfrac{3}{4}}", "0.75", True),
             (r"\boxed{5}", "6", False)] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: v.is_correct(c[0], c[1]), cases))
    assert results == [c[2] for c in cases]


def _math_gold_and_shuffled(rows: list[dict]) -> None:
    v = get_verifier("math")
    refs = [v.reference(r) for r in rows]
    gold = v.judge([r["solution"] for r in rows], refs)
    assert sum(gold) / len(rows) >= 0.99
    # The gold answer alone, in the "The answer is $...$" form, verifies too.
    assert sum(v.judge([f"The answer is ${r}$." for r in refs], refs)) / len(rows) >= 0.99
    others = shuffled(refs)
    pairs = [(r["solution"], o) for r, ref, o in zip(rows, refs, others) if ref != o]
    assert sum(v.judge([s for s, _ in pairs], [o for _, o in pairs])) <= 0.01 * len(pairs)


def test_math_gold_sample(data_dir):
    rows = read_jsonl(data_dir / "math" / "test.jsonl")
    assert len(rows) == 5000
    _math_gold_and_shuffled(random.Random(0).sample(rows, 1000))


@pytest.mark.slow
def test_math_gold_full_set():
    _math_gold_and_shuffled(data.load_rows("math", "test"))


# ---- csqa ----

def _csqa_forms(key: str, text: str) -> list[str]:
    return [f"({key})", f"{key}.", f"The answer is {key}", f"answer: {key.lower()}", f"**{key}**",
            f"Answer: ({key}) {text}", f"{key}) {text}", text, f"The answer is {text}.",
            f"Let me think. (B) looks tempting, but no.\nThe answer is {key}."]


@pytest.mark.parametrize("source", ["local", "normalised"])
def test_csqa_gold_forms_and_wrong_letters(data_dir, source):
    rows = (read_jsonl(data_dir / "csqa" / "validation.jsonl") if source == "local"
            else data.load_rows("csqa", "validation"))
    assert len(rows) == 1221
    v = get_verifier("csqa")
    for row in rows[:200]:
        ref = v.reference(row)
        assert isinstance(ref, ChoiceReference) and len(ref.choices) == 5
        text = dict(ref.choices)[ref.key]
        for form in _csqa_forms(ref.key, text):
            assert v.is_correct(form, ref), (form, ref)
        wrong = "E" if ref.key != "E" else "D"
        wrong_text = dict(ref.choices)[wrong]
        for form in _csqa_forms(wrong, wrong_text):
            if not (ref.key == "B" and "(B)" in form):
                assert not v.is_correct(form, ref), (form, ref)


@pytest.mark.parametrize("completion,letter", [
    ("A person would go to the bank.", None),
    ("A revolving door is in a bank.", None),
    ("The answer is a bank", None),
    ("I first thought (B), but the answer is D.", "D"),
    ("The answer is C. A person would agree.", "C"),
    ("Options:\nA. bank\nB. library", "B"),
    ("answer: e", "E"),
    ("The answer is option (c)", "C"),
    ("c", "C"),
    ("The correct answer is A.", "A"),
    ("The answer is A because banks are secure.", "A"),
])
def test_csqa_extract_letters(completion, letter):
    assert get_verifier("csqa").extract(completion) == letter


def test_csqa_choice_text_needs_choices():
    v = get_verifier("csqa")
    ref = ChoiceReference("A", (("A", "bank"), ("B", "library")))
    assert v.extract("The answer is a bank", ref) == "A"
    assert v.extract("Bank.", ref) == "A" and v.extract("Bank.") is None
    assert v.extract("I would go to the bank to read", ref) is None
    assert v.is_correct("(A)", "A") and not v.is_correct("(B)", "A")


def test_csqa_reference_errors():
    v = get_verifier("csqa")
    with pytest.raises(SelfimpError, match="csqa row id='x'.*'answerKey'"):
        v.reference({"id": "x", "question": "?", "choices": {"label": ["A"], "text": ["a"]}})
    for bad in ("F", "", "AB", None):
        with pytest.raises(SelfimpError, match="'answerKey'"):
            v.reference({"answerKey": bad})
    with pytest.raises(SelfimpError, match="field 'choices'"):
        v.reference({"answerKey": "A", "choices": {"label": ["A", "B"], "text": ["a"]}})


# ---- mbpp ----

def test_mbpp_extract():
    v = get_verifier("mbpp")
    assert v.extract("Here:\n```python\ndef f():\n    return 1\n```\nand\n```python\nassert f()\n```") == \
        "def f():\n    return 1\n"
    assert v.extract("```\ndef g(): pass\n```") == "def g(): pass\n"
    assert v.extract("```python\ndef h(): return 2") == "def h(): return 2"
    assert v.extract("def k(): return 3") == "def k(): return 3"
    assert v.extract("  \n") is None


def test_mbpp_reference_schemas_and_errors():
    v = get_verifier("mbpp")
    ref = v.reference({"test_list": ["assert f(1) == 1"], "test_imports": ["import math"]})
    assert ref == CodeTests(("assert f(1) == 1",), ("import math",), "")
    hub = v.reference({"test_list": ["assert f(1) == 1"], "test_setup_code": "x = 1"})
    assert hub.test_setup_code == "x = 1" and hub.test_imports == ()
    with pytest.raises(SelfimpError, match="mbpp row task_id=7.*'test_list'"):
        v.reference({"task_id": 7, "code": "pass"})
    with pytest.raises(SelfimpError, match="'test_imports' must be a list of strings"):
        v.reference({"test_list": ["assert True"], "test_imports": "import math"})


def test_mbpp_gold_code_passes_local_jsonl(data_dir):
    rows = read_jsonl(data_dir / "mbpp" / "test.jsonl")
    assert len(rows) == 257
    v = get_verifier("mbpp")
    passed = v.judge([f"```python\n{r['code']}\n```" for r in rows], [v.reference(r) for r in rows])
    assert sum(passed) / len(rows) >= 0.95


def test_mbpp_gold_normalised_rows_and_shuffled_code():
    rows = data.load_rows("mbpp", "test")[:64]
    v = get_verifier("mbpp")
    refs = [v.reference(r) for r in rows]
    codes = [r["code"] for r in rows]
    assert sum(v.judge(codes, refs)) >= 0.95 * len(rows)
    assert sum(v.judge(shuffled(codes), refs)) <= 1


@pytest.mark.parametrize("code", [
    "def f(x):\n    while True:\n        pass",
    "def f(x):\n    while True:\n        print('spam' * 1000)",
    "def f(x):\n    raise RuntimeError('boom')",
    "import os\nos._exit(0)",
    "def f(x) return x",
])
def test_mbpp_bad_programs_are_incorrect(code):
    v = ProgramVerifier(limits=SandboxLimits(timeout_s=2))
    assert v.is_correct(code, CodeTests(("assert f(1) == 1",))) is False


def test_mbpp_good_program_is_correct():
    v = get_verifier("mbpp")
    ref = CodeTests(("assert f(4) == 2.0",), ("import math",))
    assert v.is_correct("def f(x):\n    return math.sqrt(x)", ref) is True


def test_mbpp_judge_runs_nothing_for_empty_completions():
    assert get_verifier("mbpp").judge(["", "  "], [CodeTests(("assert True",))] * 2) == [False, False]


def test_mbpp_needs_code_eval_opt_in(monkeypatch):
    monkeypatch.delenv("HF_ALLOW_CODE_EVAL", raising=False)
    with pytest.raises(SelfimpError, match="HF_ALLOW_CODE_EVAL=1"):
        get_verifier("mbpp").is_correct("def f(x): return x", CodeTests(("assert f(1) == 1",)))


# ---- time limits in any thread ----

def _spin(seconds: float) -> str:
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pass
    return "done"


def test_deadline_interrupts_worker_threads_and_never_fires_late():
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(call_with_deadline, [0.2, 2.0], [_spin] * 2, [3.0, 0.05]))
    assert results == [(False, None), (True, "done")]
    assert call_with_deadline(0.2, _spin, 3.0) == (False, None)
    for _ in range(200):
        assert call_with_deadline(1e-4, _spin, 1e-4)[0] in (True, False)
    time.sleep(0.2)  # a late injection would raise here


def test_math_pathological_answer_is_wrong_within_the_limit_off_main_thread(monkeypatch):
    monkeypatch.setattr(math_expr, "TIMEOUT_S", 0.5)
    math_expr.equivalent.cache_clear()
    v = get_verifier("math")
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(v.is_correct, r"\boxed{\binom{10^{9}}{10^{6}}}", "1").result()
    assert result is False and time.perf_counter() - start < 4


# ---- the project's own SFT targets verify as correct ----

@pytest.mark.parametrize("task,split", [("gsm8k", "test"), ("arith", "test"), ("svamp", "test"),
                                        ("math", "test"), ("csqa", "validation"), ("mbpp", "test")])
def test_gold_completions_of_the_prompt_format_verify(task, split):
    from harness_ext import prompts

    rows = data.load_rows(task, split)[:40]
    v = get_verifier(task)
    completions = [prompts.gold_completion(task, r) for r in rows]
    assert all(v.judge(completions, [v.reference(r) for r in rows]))


def test_mbpp_judge_runs_duplicate_programs_once(monkeypatch):
    from harness_ext.verify import program

    calls = []
    real_run_many = program.run_many

    def counting_run_many(sources, **kwargs):
        calls.append(len(sources))
        return real_run_many(sources, **kwargs)

    monkeypatch.setattr(program, "run_many", counting_run_many)
    ref = CodeTests(("assert f(2) == 4",))
    good, bad = "def f(x):\n    return x * 2", "def f(x):\n    return x + 3"
    assert get_verifier("mbpp").judge([good, bad, good, good, ""], [ref] * 5) == [True, False, True, True, False]
    assert calls == [2]
