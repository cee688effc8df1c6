"""Hidden tests of MBPP problems: inputs the program never sees, judged on the trusted side.

Generated once per dataset version by `python -m harness_ext.gen_hidden_tests` (differential
testing against the gold program, see there) into HIDDEN_TESTS_FILE; each problem's entry holds
a fingerprint of its gold code and shown tests, so an edited row is refused rather than judged
against tests of another version (docs/safety.md)."""
from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness_ext.errors import SelfimpError

HIDDEN_TESTS_FILE = Path(__file__).with_name("mbpp_hidden_tests.json.gz")


@dataclass(frozen=True)
class HiddenTests:
    """Calls of the entry point on new inputs and gold's answers, compared per `compare`:
    "eq" (==, floats within 1e-9 relative), "set" (as sets), "isclose" (math.isclose with
    `rel_tol`) or "truth" (the same truth value), as the problem's shown tests compare."""

    entry: str
    compare: str
    rel_tol: float
    tests: tuple[tuple[str, object], ...]  # (args as a Python literal tuple, expected value)

    def calls(self) -> tuple[str, ...]:
        """The expressions the sandbox reports: bool(..) for "truth", list(..) for "set"."""
        wrap = {"truth": "bool", "set": "list"}.get(self.compare, "")
        return tuple(f"{wrap}({self.entry}(*{args}))" for args, _ in self.tests)

    def holds(self, got: object, expected: object) -> bool:
        """Whether a reported value `got` (builtin data) answers like gold's `expected`."""
        try:
            if self.compare == "truth":
                return bool(got) == bool(expected)
            if self.compare == "set":
                return isinstance(got, (list, tuple, set, str)) and set(got) == set(expected)
            if self.compare == "isclose":
                return _is_number(got) and math.isclose(got, expected, rel_tol=self.rel_tol)
            return same(got, expected)
        except (TypeError, ValueError, OverflowError, RecursionError):  # e.g. unhashable items for "set"
            return False


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def same(got: object, expected: object) -> bool:
    """`got == expected`, but a float within 1e-9 relative of gold's float counts as equal
    (another correct algorithm rounds differently); containers compared item by item."""
    if isinstance(expected, float) and _is_number(got):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    if type(expected) in (list, tuple) and type(got) is type(expected):
        return len(got) == len(expected) and all(map(same, got, expected))
    if type(expected) is dict and type(got) is dict:
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in expected)
    return got == expected


def fingerprint(code: str, test_list: list[str] | tuple[str, ...]) -> str:
    """Which version of a problem the hidden tests belong to: its gold code and shown tests."""
    return hashlib.sha256(json.dumps([code, list(test_list)]).encode()).hexdigest()[:16]


@functools.cache
def stored() -> dict:
    """The committed hidden tests: {"problems": {task_id: entry}, ...} (see gen_hidden_tests)."""
    try:
        return json.loads(gzip.decompress(HIDDEN_TESTS_FILE.read_bytes()))
    except (OSError, ValueError, EOFError) as e:
        raise SelfimpError(f"{HIDDEN_TESTS_FILE}: cannot read the hidden tests ({e}); regenerate them "
                           "with `python -m harness_ext.gen_hidden_tests`") from None


def from_entry(entry: dict) -> HiddenTests:
    return HiddenTests(entry["entry"], entry["compare"], entry["rel_tol"],
                       tuple((args, ast.literal_eval(expected)) for args, expected in entry["tests"]))


def hidden_tests(doc: dict, where: str) -> HiddenTests | None:
    """The hidden tests of an MBPP row (by `task_id`), None for a row without any (not an MBPP
    problem, or one excluded at generation); a row whose gold code or shown tests differ from
    the version they were generated for is refused."""
    task_id = doc.get("task_id")
    entry = stored()["problems"].get(str(task_id)) if task_id is not None else None
    if entry is None or "code" not in doc:
        return None
    if entry["fingerprint"] != fingerprint(doc["code"], doc.get("test_list") or []):
        raise SelfimpError(
            f"{where}: fields 'code'/'test_list' differ from the MBPP version the hidden tests in "
            f"{HIDDEN_TESTS_FILE.name} were generated from; regenerate them with "
            "`python -m harness_ext.gen_hidden_tests`")
    return from_entry(entry)
