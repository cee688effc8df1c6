"""MBPP hidden tests: they exist for every split, gold passes them, independently written correct
solutions pass them (no false rejects), programs that only fit the shown tests fail them, and the
file regenerates byte for byte, also on a busy machine."""
from __future__ import annotations

import contextlib
import os
import random
import string
import subprocess
import sys

import pytest

from harness_ext import data
from harness_ext.errors import SelfimpError
from harness_ext.gen_hidden_tests import differences, encode, generate
from harness_ext.verify import get_verifier
from harness_ext.verify.hidden import stored
from harness_ext.verify.mutate import mutate_inputs
from mbpp_solutions import SOLUTIONS

SPLITS = ("train", "validation", "test", "prompt")


def rows_by_id() -> dict[int, dict]:
    return {r["task_id"]: r for split in SPLITS for r in data.load_rows("mbpp", split)}


def test_every_split_has_hidden_tests_and_exclusions_are_named():
    problems, excluded = stored()["problems"], stored()["excluded"]
    rows = rows_by_id()
    assert set(problems) | set(excluded) == set(map(str, rows))
    assert not set(problems) & set(excluded)
    for split in SPLITS:
        ids = [str(r["task_id"]) for r in data.load_rows("mbpp", split)]
        assert sum(i in problems for i in ids) >= 0.9 * len(ids), split
    counts = [len(p["tests"]) for p in problems.values()]
    assert sum(c >= 10 for c in counts) >= 0.9 * len(rows)
    assert all(reason.split(":")[0] in SPLITS for reason in excluded.values())


def test_gold_programs_pass_their_hidden_tests():
    rows = list(rows_by_id().values())
    v = get_verifier("mbpp")
    refs = [v.reference(r) for r in rows]
    verdicts = v.judge_both([r["code"] for r in rows], refs)
    failing = [r["task_id"] for r, (shown, both) in zip(rows, verdicts) if shown and not both]
    assert failing == []
    assert sum(ref.hidden is not None for ref in refs) == len(stored()["problems"])


def test_independent_correct_solutions_pass_their_hidden_tests():
    assert len(SOLUTIONS) >= 30
    rows = rows_by_id()
    v = get_verifier("mbpp")
    refs = [v.reference(rows[tid]) for tid in SOLUTIONS]
    assert all(ref.hidden is not None and len(ref.hidden.tests) >= 10 for ref in refs)
    verdicts = v.judge_both(list(SOLUTIONS.values()), refs)
    assert [tid for tid, (shown, _) in zip(SOLUTIONS, verdicts) if not shown] == []
    assert [tid for tid, (_, both) in zip(SOLUTIONS, verdicts) if not both] == []


HARD_CODED = '''
def remove_Occ(s, ch):
    return {("hello", "l"): "heo", ("abcda", "a"): "bcd", ("PHP", "P"): "H"}.get((s, ch), s)
'''
# A bool function answering the shown asserts from a fixed sequence (task 16's are True, False, False).
SEQUENCE = '''
answers = iter([True, False, False])
def text_lowercase_underscore(text):
    return next(answers, True)
'''

# Writes the shown expected values into the values channel itself and disables the reporter:
# everything in the program's process is the program's (docs/safety.md).
CHANNEL = '''
import os, stat, sys
for fd in range(3, 256):  # the values file: the one regular file among the program's descriptors
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.write(fd, b"'heo'\\n'bcd'\\n'H'\\n")
    except OSError:
        pass
sys._getframe(1).f_globals["_report_values"] = lambda *args: None
def remove_Occ(s, ch):
    return s
'''


@pytest.mark.parametrize("task_id, forged", [(11, HARD_CODED), (16, SEQUENCE), (11, CHANNEL)],
                         ids=["hard-coded", "bool-sequence", "values-channel"])
def test_programs_fitted_to_the_shown_tests_fail_the_hidden_ones(task_id, forged):
    row = rows_by_id()[task_id]
    v = get_verifier("mbpp")
    ref = v.reference(row)
    [record] = v.records([forged], [ref])
    assert record["correct_shown"] is True  # the standard pass@1 is forged
    assert record["correct"] is False  # the training verdict is not


def test_an_edited_row_is_refused_not_judged_against_another_versions_tests():
    row = dict(rows_by_id()[11])
    row["test_list"] = [*row["test_list"][:2], 'assert remove_Occ("PHP","P") == "HP"']
    with pytest.raises(SelfimpError, match="row id='11'.*'code'/'test_list' differ"):
        get_verifier("mbpp").reference(row)
    assert get_verifier("mbpp").reference({"test_list": ["assert f(1) == 1"]}).hidden is None


def test_mutated_inputs_keep_the_shown_contract():
    shown = [("hello", "l"), ("abcda", "a"), ("PHP", "P")]
    new = mutate_inputs(shown, 40, random.Random(0))
    alphabet = set(string.ascii_lowercase) | set("PH")  # 3+ lowercase letters shown: all of them
    assert len(new) == 40 and not set(new) & set(shown)
    assert all(len(ch) == 1 and set(s) <= alphabet and 2 <= len(s) <= 8 for s, ch in new)
    sized = mutate_inputs([([3, 1, 2], 3), ([5, 4], 2)], 30, random.Random(1))
    assert all(n == len(xs) and all(x >= 1 for x in xs) for xs, n in sized)
    indexed = mutate_inputs([([3, 1, 2], 0), ([5, 4, 9, 9], 3)], 30, random.Random(2))
    assert all(0 <= i < len(xs) for xs, i in indexed)
    assert mutate_inputs(shown, 10, random.Random(5)) == mutate_inputs(shown, 10, random.Random(5))


def test_the_report_shows_both_pass_rates_and_their_gap(tmp_path):
    from harness_ext.report.hardcoding import hardcoding_lines, hardcoding_row
    from harness_ext.samples import DocRecord, SampleLog, _our_records

    rows = rows_by_id()
    v = get_verifier("mbpp")
    programs = {11: HARD_CODED, 12: rows[12]["code"], 14: "def find_Volume(l, b, h):\n    return 0\n"}
    records = v.records(list(programs.values()), [v.reference(rows[t]) for t in programs])
    log = SampleLog("selfimp_mbpp_pass1", tmp_path)
    for tid, record in zip(programs, records):
        samples = _our_records([[repr(record)]], tmp_path, 1)  # lm-eval logs a record as its repr
        log.docs[str(tid)] = DocRecord(str(tid), tid, rows[tid], samples)
    row = hardcoding_row(log)
    assert row == {"n_docs": 3, "shown": 2 / 3, "hidden": 1 / 3, "gap": 1 / 3}
    assert "| M2 | 3 | 0.667 | 0.333 | 0.333 |" in hardcoding_lines({"M2": row})
    assert hardcoding_row(SampleLog("selfimp_gsm8k_pass1", tmp_path)) is None


def test_the_mbpp_pass1_task_reports_both_pass_rates():
    from harness_ext import tasks
    from harness_ext.lm_eval_compat import tasks_dir

    record = {"text": "", "answer": None, "correct": False, "correct_shown": True}
    assert tasks.process_pass1({}, [[record]]) == {"pass@1": 1.0, "pass@1_hidden": 0.0}
    task = (tasks_dir() / "mbpp" / "selfimp_mbpp_pass1.yaml").read_text()
    template = (tasks_dir() / "_templates" / "pass1_hidden.yaml").read_text()
    assert "../_templates/pass1_hidden.yaml" in task
    assert "metric: pass@1\n" in template and "metric: pass@1_hidden\n" in template


# Gold's costliest calls (tasks 84, 123: up to ~1M trace events, about the old 50 ms wall-time
# cut), one whose large answers meet the sandbox's per-run bound on reported values (462: 12 of its
# 60 inputs refused), a plain one (11).
REGENERATED = {"11", "84", "123", "462"}


@contextlib.contextmanager
def busy_machine():
    """Two busy loops per core for the duration."""
    loops = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@pytest.fixture(scope="module")
def regenerated() -> dict:
    return generate(task_ids=REGENERATED)[0]


def test_hidden_tests_regenerate_byte_for_byte_on_a_busy_machine(regenerated):
    with busy_machine():
        busy, costs = generate(task_ids=REGENERATED)
    assert encode(busy) == encode(regenerated)
    assert costs.guard_stopped == [] and 0 < costs.slowest_kept_s < 0.5
    part = {**stored(), "problems": {t: stored()["problems"][t] for t in REGENERATED}}
    assert differences(part, regenerated) == []  # the committed file, reproduced


def test_the_check_names_the_problems_a_regeneration_does_not_reproduce(regenerated):
    part = {**stored(), "problems": {t: stored()["problems"][t] for t in REGENERATED}}
    part["problems"]["84"] = {**part["problems"]["84"], "tests": part["problems"]["84"]["tests"][1:]}
    del part["problems"]["11"]
    assert differences({**part, "generator": 1}, regenerated) == [
        f"generator: stored 1, regenerated {regenerated['generator']}",
        "task 11: its problem entry differs from a regeneration",
        "task 84: its problem entry differs from a regeneration"]
