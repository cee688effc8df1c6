"""Python programs (MBPP): the candidate code run in the sandbox, judged on the trusted side.

Every shown test the verifier can split is judged outside the program (see OutsideCheck): the
program only computes the values of the candidate's calls. The training verdict also needs the
row's hidden tests (`harness_ext.verify.hidden`), which the program never sees; the standard
pass@1 (shown tests only) is kept alongside it (`records`' "correct_shown")."""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import logging
import re
import sys
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import Refused, SandboxLimits, run_many
from harness_ext.verify.base import Verifier, check_same_length, missing_field, row_label
from harness_ext.verify.hidden import HiddenTests, hidden_tests

logger = logging.getLogger(__name__)
FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
VALUE = "_v"  # the name of a candidate's value in an OutsideCheck's test: _v0, _v1, ...


@dataclass(frozen=True)
class CodeTests:
    """What a program must pass: imports, optional setup code, assert statements (shown in the
    prompt) and the hidden tests (None: the row has none). `defines`: what the tests' names
    mean (a gold `def sum` makes `sum(..)` the candidate's call; else `sum` is the builtin)."""

    test_list: tuple[str, ...]
    test_imports: tuple[str, ...] = ()
    test_setup_code: str = ""
    hidden: HiddenTests | None = None
    defines: frozenset[str] = frozenset()  # top-level names of the row's gold program


@dataclass(frozen=True)
class OutsideCheck:
    """An assert judged on the trusted side. The sandbox reports only the values of `calls`
    (the candidate's outermost calls in the assert; `bool(..)` of a call the assert tests for
    truth, `list(..)` of one it turns into a set); `test`, the assert's condition with each call
    replaced by `_v<i>`, is evaluated here (with the standard-library `modules` it names), so
    `==`, `math.isclose`, `set`, `not`, truthiness and the expected side's own expressions
    never run in the program's process."""

    calls: tuple[str, ...]
    test: str
    modules: tuple[str, ...] = ()


class _Calls(ast.NodeTransformer):
    """Replaces the outermost calls of names that are not trusted (builtins, imports) or
    that the problem's gold program defines (a `def sum` shadows the builtin)."""

    def __init__(self, trusted: frozenset[str], defined: frozenset[str]) -> None:
        self.trusted, self.defined, self.calls = trusted, defined, []

    def _value(self, node: ast.Call, wrap: str = "") -> ast.Name:
        self.calls.append(f"{wrap}({ast.unparse(node)})" if wrap else ast.unparse(node))
        return ast.Name(f"{VALUE}{len(self.calls) - 1}", ast.Load())

    def candidate(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and (node.func.id not in self.trusted or node.func.id in self.defined)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if self.candidate(node):
            return self._value(node)
        if isinstance(node.func, ast.Name) and node.func.id == "set" and len(node.args) == 1 \
                and self.candidate(node.args[0]):  # set(f(x)): f may return any iterable
            node.args[0] = self._value(node.args[0], "list")
            return node
        return self.generic_visit(node)

    def condition(self, test: ast.expr) -> ast.expr:
        """`test` with the calls replaced; a bare `f(x)` or `not f(x)` reports bool(f(x))."""
        if self.candidate(test):
            return self._value(test, "bool")
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and self.candidate(test.operand):
            return ast.UnaryOp(ast.Not(), self._value(test.operand, "bool"))
        return self.visit(test)


def _imported(imports: tuple[str, ...]) -> frozenset[str]:
    names = set()
    for line in imports:
        try:
            tree = ast.parse(line)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def defined_names(code: str) -> frozenset[str]:
    """Top-level names a program binds."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom)):
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            names.update((a.asname or a.name).split(".")[0] for a in getattr(node, "names", ()))
    return frozenset(names)


def outside_check(test: str, imports: tuple[str, ...] = (),
                  defines: frozenset[str] = frozenset()) -> OutsideCheck | None:
    """The test as an OutsideCheck when it is one `assert` whose condition, once the candidate's
    calls (calls of the names in `defines` included) are replaced by their values, names only
    builtins, imports and standard-library modules; else None."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    condition = tree.body[0].test
    named = {n.id for n in ast.walk(condition) if isinstance(n, ast.Name)}
    modules = frozenset(n for n in named if n in sys.stdlib_module_names)
    finder = _Calls(frozenset(dir(builtins)) | _imported(imports) | modules, defines)
    condition = finder.condition(condition)
    free = {n.id for n in ast.walk(condition) if isinstance(n, ast.Name)} - finder.trusted
    if not finder.calls or any(not name.startswith(VALUE) for name in free) \
            or any(isinstance(n, (ast.Lambda, ast.comprehension, ast.NamedExpr)) for n in ast.walk(condition)):
        return None
    used = {n.id for n in ast.walk(condition) if isinstance(n, ast.Name)}
    return OutsideCheck(tuple(finder.calls), ast.unparse(condition), tuple(sorted(modules & used)))


def split_tests(tests: CodeTests) -> tuple[tuple[str, ...], tuple[OutsideCheck, ...]]:
    """(asserts that run inside the sandbox as written, checks judged outside it). With
    `test_setup_code` every assert runs inside (it may define what the tests use)."""
    if tests.test_setup_code:
        return tests.test_list, ()
    checks = [(test, outside_check(test, tests.test_imports, tests.defines)) for test in tests.test_list]
    return (tuple(t for t, c in checks if c is None), tuple(c for _, c in checks if c is not None))


def program_source(code: str, tests: CodeTests, asserts: tuple[str, ...] | None = None) -> str:
    """Candidate code + imports + setup + asserts (default: all of the tests), as one program."""
    parts = [code, *tests.test_imports, tests.test_setup_code,
             *(tests.test_list if asserts is None else asserts)]
    return "\n".join(p for p in parts if p) + "\n"


@functools.cache
def _namespace(imports: tuple[str, ...], modules: tuple[str, ...]) -> dict:
    """The trusted side's globals for evaluating checks: the dataset's own test imports and
    the standard-library modules a test names."""
    namespace: dict = {"__builtins__": builtins}
    for name in modules:
        namespace[name] = importlib.import_module(name)
    for line in imports:
        exec(line, namespace)  # noqa: S102 - the dataset's import lines, never the program's code
    return namespace


def checks_hold(values: list, checks: tuple[OutsideCheck, ...], imports: tuple[str, ...] = ()) -> bool:
    """Every check holds on the reported values (builtin data; a Refused fails its check)."""
    if len(values) != sum(len(c.calls) for c in checks):
        return False
    values = iter(values)
    for check in checks:
        got = [next(values) for _ in check.calls]
        if any(type(v) is Refused for v in got):  # noqa: E721
            return False
        scope = {f"{VALUE}{i}": v for i, v in enumerate(got)}
        try:
            if not eval(check.test, _namespace(imports, check.modules), scope):  # noqa: S307 - the dataset's test
                return False
        except Exception:  # noqa: BLE001 - e.g. set() of unhashable values: the check fails
            return False
    return True


def hidden_hold(values: list, hidden: HiddenTests | None) -> bool:
    """Every hidden test's reported value answers like gold's."""
    if hidden is None:
        return True
    return len(values) == len(hidden.tests) and all(
        type(got) is not Refused and hidden.holds(got, expected)  # noqa: E721
        for got, (_, expected) in zip(values, hidden.tests))


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
        """The row's `test_list` with `test_imports`, `test_setup_code`, its hidden tests (by
        `task_id`, for the MBPP version they were generated from) and the names its gold
        `code` defines, when present."""
        tests = _str_list(doc, "test_list", self.name)
        if not tests:
            raise missing_field(self.name, doc, "a non-empty field 'test_list'")
        setup = doc.get("test_setup_code") or ""
        if not isinstance(setup, str):
            raise SelfimpError(f"{self.name} {row_label(doc)}: field 'test_setup_code' must be a string")
        code = doc.get("code")
        return CodeTests(tests, _str_list(doc, "test_imports", self.name), setup,
                         hidden_tests(doc, f"{self.name} {row_label(doc)}"),
                         defined_names(code) if isinstance(code, str) else frozenset())

    def is_correct(self, completion: str, reference: CodeTests) -> bool:
        return self.judge([completion], [reference])[0]

    def judge(self, completions: list[str], references: list[CodeTests]) -> list[bool]:
        """The training verdict: shown and hidden tests pass (see `judge_both`)."""
        return [both for _, both in self.judge_both(completions, references)]

    def records(self, completions: list[str], references: list) -> list[dict]:
        """Per sample `{"text", "answer", "correct", "correct_shown"}`: `correct` is the
        training verdict (shown + hidden tests), `correct_shown` the standard pass (shown only)."""
        verdicts = self.judge_both(completions, references)
        return [{"text": c, "answer": self.extract(c, r), "correct": both, "correct_shown": shown}
                for c, r, (shown, both) in zip(completions, references, verdicts)]

    def judge_both(self, completions: list[str], references: list[CodeTests]) -> list[tuple[bool, bool]]:
        """(shown tests pass, shown and hidden tests pass) per completion; no code: incorrect.

        Each distinct program runs once with the values of its shown and hidden calls, in
        parallel through the sandbox pool; one that did not run to its end is run again with
        its shown calls only, for the shown verdict. A test passes when the program ran to its
        end (asserts that stay inside included) and its check holds on the trusted side."""
        check_same_length(completions, references)
        codes = list(map(self.extract, completions))
        plans = [split_tests(ref) for ref in references]
        shown_runs = [None if code is None else
                      (program_source(code, ref, asserts), tuple(x for c in checks for x in c.calls))
                      for code, ref, (asserts, checks) in zip(codes, references, plans)]
        full_runs = [None if run is None else (run[0], run[1] + (ref.hidden.calls() if ref.hidden else ()))
                     for run, ref in zip(shown_runs, references)]
        results = self._run(full_runs)
        again = [shown if full is not None and full != shown and not results[full].passed else None
                 for shown, full in zip(shown_runs, full_runs)]
        results.update(self._run(again))
        logger.debug("mbpp: %d of %d shown tests judged outside the sandbox",
                     sum(len(checks) for _, checks in plans), sum(len(r.test_list) for r in references))
        verdicts = []
        for shown, full, ref, (_, checks) in zip(shown_runs, full_runs, references, plans):
            if full is None:
                verdicts.append((False, False))
                continue
            result = results[full]
            n_shown = len(shown[1])
            shown_ok = result.passed and checks_hold(result.values[:n_shown], checks, ref.test_imports)
            if full != shown and not result.passed:
                again_result = results[shown]
                shown_ok = again_result.passed and checks_hold(again_result.values, checks, ref.test_imports)
            both = shown_ok and result.passed and hidden_hold(result.values[n_shown:], ref.hidden)
            verdicts.append((shown_ok, both))
        return verdicts

    def _run(self, runs: list) -> dict:
        """{(source, expressions): RunResult} for the distinct runs among `runs` (None: skipped)."""
        distinct = list(dict.fromkeys(r for r in runs if r is not None))
        if not distinct:
            return {}
        results = run_many([source for source, _ in distinct], limits=self.limits,
                           workers=self.workers, values=[exprs for _, exprs in distinct])
        return dict(zip(distinct, results))
