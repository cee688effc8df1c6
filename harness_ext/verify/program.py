"""Python programs (MBPP): the candidate code run against the row's tests in the sandbox; tests
of the form `assert <expression> == <literal>` are judged outside it (see ValueCheck)."""
from __future__ import annotations

import ast
import logging
import re
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import Refused, RunResult, SandboxLimits, run_many
from harness_ext.verify.base import Verifier, check_same_length, missing_field, row_label

logger = logging.getLogger(__name__)
FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class CodeTests:
    """What a program must pass: imports, optional setup code, and assert statements."""

    test_list: tuple[str, ...]
    test_imports: tuple[str, ...] = ()
    test_setup_code: str = ""


@dataclass(frozen=True)
class ValueCheck:
    """`assert <expression> == <expected>` with a literal `expected`: the sandbox reports the
    expression's value and the comparison happens here; the sandbox never sees `expected`."""

    expression: str
    expected: object


_NOT_LITERAL = object()


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def value_check(test: str) -> ValueCheck | None:
    """The test as a ValueCheck when it is one `assert x == <literal>` (either side); else None."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    compare = tree.body[0].test
    if not (isinstance(compare, ast.Compare) and len(compare.ops) == 1
            and isinstance(compare.ops[0], ast.Eq)):
        return None
    sides = (compare.left, compare.comparators[0])
    for computed, literal in (sides, sides[::-1]):
        expected = _literal(literal)
        if expected is not _NOT_LITERAL and _literal(computed) is _NOT_LITERAL:
            return ValueCheck(ast.unparse(computed), expected)
    return None


def split_tests(tests: CodeTests) -> tuple[tuple[str, ...], tuple[ValueCheck, ...]]:
    """(asserts that run inside the sandbox as written, checks judged outside it)."""
    checks = [(test, value_check(test)) for test in tests.test_list]
    return (tuple(t for t, c in checks if c is None), tuple(c for _, c in checks if c is not None))


def program_source(code: str, tests: CodeTests, asserts: tuple[str, ...] | None = None) -> str:
    """Candidate code + imports + setup + asserts (default: all of the tests), as one program."""
    parts = [code, *tests.test_imports, tests.test_setup_code,
             *(tests.test_list if asserts is None else asserts)]
    return "\n".join(p for p in parts if p) + "\n"


def checks_hold(result: RunResult, checks: tuple[ValueCheck, ...]) -> bool:
    """Every reported value equals its expected value (compared here, on builtin types only)."""
    if len(result.values) != len(checks):
        return False
    return all(type(got) is not Refused and got == check.expected  # noqa: E721
               for got, check in zip(result.values, checks))


def _str_list(doc: dict, key: str, task: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SelfimpError(f"{task} {row_label(doc)}: field {key!r} must be a list of strings")
    return tuple(value)


class ProgramVerifier(Verifier):
    """Runs programs in `harness_ext.sandbox` (default limits: 10 s each; needs HF_ALLOW_CODE_EVAL=1)."""

    name = "mbpp"

    def __init__(self, limits: SandboxLimits | None = None, workers: int | None = None):
        self.limits = limits
        self.workers = workers

    def extract(self, completion: str, reference=None) -> str | None:
        """The first ```python block (else the first fenced block, else the whole text)."""
        blocks = [(lang.lower(), body) for lang, body in FENCE.findall(completion) if body.strip()]
        python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
        code = (python or [body for _, body in blocks] or [completion])[0]
        return code if code.strip() else None

    def reference(self, doc: dict) -> CodeTests:
        """The row's `test_list` with `test_imports` and `test_setup_code` when present."""
        tests = _str_list(doc, "test_list", self.name)
        if not tests:
            raise missing_field(self.name, doc, "a non-empty field 'test_list'")
        setup = doc.get("test_setup_code") or ""
        if not isinstance(setup, str):
            raise SelfimpError(f"{self.name} {row_label(doc)}: field 'test_setup_code' must be a string")
        return CodeTests(tests, _str_list(doc, "test_imports", self.name), setup)

    def is_correct(self, completion: str, reference: CodeTests) -> bool:
        return self.judge([completion], [reference])[0]

    def judge(self, completions: list[str], references: list[CodeTests]) -> list[bool]:
        """Run each distinct program once, in parallel through the sandbox pool; no code → incorrect.

        Correct = the program ran to its end (its own asserts included) and every value check
        holds, compared outside the sandbox (see ValueCheck)."""
        check_same_length(completions, references)
        plans = [split_tests(ref) for ref in references]
        runs = [None if code is None else
                (program_source(code, ref, asserts), tuple(c.expression for c in checks))
                for code, ref, (asserts, checks) in zip(map(self.extract, completions), references, plans)]
        distinct = list(dict.fromkeys(r for r in runs if r is not None))
        results = run_many([source for source, _ in distinct], limits=self.limits,
                           workers=self.workers, values=[exprs for _, exprs in distinct]) if distinct else []
        by_run = dict(zip(distinct, results))
        outside = sum(len(checks) for _, checks in plans)
        logger.debug("mbpp: %d of %d tests judged outside the sandbox", outside,
                     sum(len(ref.test_list) for ref in references))
        return [run is not None and by_run[run].passed and checks_hold(by_run[run], checks)
                for run, (_, checks) in zip(runs, plans)]
