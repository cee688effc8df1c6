"""harness_ext.improve: IS(t) and transition tables, joined by doc id (never by position)."""
from __future__ import annotations

import pytest
from lmeval_logs import our_log_lines, write_log

from harness_ext.errors import SelfimpError
from harness_ext.improve import compare_solved, improvement_set


def greedy_log(tmp_path, name, solved: dict[str, bool], task="selfimp_arith_pass1"):
    docs = [({"id": i, "question": f"q{i}", "answer": "#### 1"}, [("t", "1" if ok else "2", ok)])
            for i, ok in solved.items()]
    return write_log(tmp_path / name, task, our_log_lines(docs))


def test_transitions_join_by_id_not_position(tmp_path):
    ref = greedy_log(tmp_path, "m1", {"a": True, "b": False, "c": False, "d": True, "e": False})
    # candidate lists the docs in another order and lacks "e", has an extra "f"
    cand = greedy_log(tmp_path, "m2", {"d": False, "c": True, "b": False, "a": True, "f": True})
    iset = improvement_set(ref, cand)
    assert iset.ids == ("c",)
    assert iset.forgotten == ("d",)
    assert iset.both == ("a",) and iset.neither == ("b",)
    assert iset.transitions() == {"newly_solved": 1, "newly_forgotten": 1, "both": 1, "neither": 1}
    assert (iset.n_common, iset.only_reference, iset.only_candidate) == (4, 1, 1)
    assert iset.to_dict()["ids"] == ["c"]


def test_dirs_and_errors(tmp_path):
    greedy_log(tmp_path, "m1", {"a": False, "b": True})
    greedy_log(tmp_path, "m2", {"a": True, "b": True})
    assert improvement_set(tmp_path / "m1", tmp_path / "m2").ids == ("a",)
    with pytest.raises(SelfimpError, match="no such file"):
        improvement_set(tmp_path / "m1", tmp_path / "nope")
    greedy_log(tmp_path, "gsm", {"a": True}, task="selfimp_gsm8k_pass1")
    with pytest.raises(SelfimpError, match="different tasks"):
        improvement_set(tmp_path / "m1", tmp_path / "gsm")
    greedy_log(tmp_path, "other_docs", {"x": True, "y": False})
    with pytest.raises(SelfimpError, match="no docs in common"):
        improvement_set(tmp_path / "m1", tmp_path / "other_docs")
    with pytest.raises(SelfimpError, match="share no doc ids"):
        compare_solved({"a": True}, {"b": True})
