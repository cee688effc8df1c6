"""Generate the MBPP hidden tests (harness_ext/verify/mbpp_hidden_tests.json.gz) by differential
testing against the gold programs: new inputs by contract-respecting mutation of the shown ones
(`harness_ext.verify.mutate`), gold's answers computed in the sandbox, twice; inputs where gold
raises, runs over its per-call time, answers differently in the two runs, or answers with
something that is not builtin data are dropped.

    HF_ALLOW_CODE_EVAL=1 python -m harness_ext.gen_hidden_tests            # write the file
    HF_ALLOW_CODE_EVAL=1 python -m harness_ext.gen_hidden_tests --check    # exit 1 if it does not fit
"""
from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import sys
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.io import atomic_write_bytes
from harness_ext.verify.hidden import HIDDEN_TESTS_FILE, HiddenTests, fingerprint
from harness_ext.verify.mutate import canonical, mutate_inputs

SPLITS = ("train", "validation", "test", "prompt")
SEED = 0
CANDIDATES = 60  # mutated inputs tried per problem
KEEP = 12  # hidden tests kept per problem
MAX_REPR = 1000  # an input or answer longer than this (as a literal) is dropped
CALL_TIMEOUT_S = 0.5  # gold's time limit per call
FAST_S = 0.05  # a hidden test is kept only if gold answers within this (both runs)
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Shown:
    """What a problem's shown tests call and how they compare."""

    entry: str
    compare: str
    rel_tol: float
    inputs: list[tuple]


def _literal(node: ast.expr) -> object:
    """A literal, or constant arithmetic on literals (`14*14`) of the dataset's own tests."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        if not all(isinstance(n, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop))
                   for n in ast.walk(node)):
            raise
        return eval(compile(ast.Expression(node), "<test>", "eval"), {"__builtins__": {}})  # noqa: S307


def _entry_call(node: ast.expr, functions: set[str]) -> tuple[str, tuple] | None:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions
            and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)):
        try:
            return node.func.id, tuple(_literal(a) for a in node.args)
        except (ValueError, TypeError, SyntaxError, ArithmeticError):
            return None
    return None


def _parse_test(test: str, functions: set[str]) -> tuple[str, float, tuple[str, tuple]] | None:
    """(comparison, rel_tol, (entry, args)) of one shown test, None when it has another form."""
    tree = ast.parse(test).body
    if len(tree) != 1 or not isinstance(tree[0], ast.Assert):
        return None
    node = tree[0].test
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    call = _entry_call(node, functions)
    if call:
        return "truth", 0.0, call
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "math.isclose" and node.args:
        rel = next((k.value for k in node.keywords if k.arg == "rel_tol"), None)
        call = _entry_call(node.args[0], functions)
        try:
            rel_tol = 1e-9 if rel is None else float(_literal(rel))
        except (ValueError, TypeError, SyntaxError):
            return None
        return ("isclose", rel_tol, call) if call else None
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        left = node.left
        if isinstance(left, ast.Call) and ast.unparse(left.func) == "set" and len(left.args) == 1:
            call = _entry_call(left.args[0], functions)
            return ("set", 0.0, call) if call else None
        call = _entry_call(left, functions) or _entry_call(node.comparators[0], functions)
        return ("eq", 0.0, call) if call else None
    return None


def shown_tests(row: dict) -> Shown:
    """The entry point, comparison and inputs of a row's shown tests; raises ValueError naming
    why the row gets no hidden tests."""
    try:
        functions = {n.name for n in ast.parse(row["code"]).body if isinstance(n, ast.FunctionDef)}
    except SyntaxError:
        raise ValueError("gold code does not parse") from None
    parsed = [_parse_test(t, functions) for t in row["test_list"]]
    if any(p is None for p in parsed):
        raise ValueError("a shown test is not a literal call of the entry point in a known comparison")
    entries = {call[0] for _, _, call in parsed}
    compares = {(c, r) for c, r, _ in parsed}
    if len(entries) != 1 or len(compares) != 1:
        raise ValueError("shown tests call several functions or compare in several ways")
    (compare, rel_tol), = compares
    return Shown(entries.pop(), compare, rel_tol, [args for _, _, (_, args) in parsed])


DRIVER = """
import signal as _hidden_signal, time as _hidden_time
def _hidden_call(thunk):
    def _late(*_):
        raise TimeoutError
    _hidden_signal.signal(_hidden_signal.SIGALRM, _late)
    _hidden_signal.setitimer(_hidden_signal.ITIMER_REAL, {timeout})
    start = _hidden_time.perf_counter()
    try:
        value = thunk()
        return ("ok", value, _hidden_time.perf_counter() - start)
    except BaseException as e:
        return ("raised", type(e).__name__)
    finally:
        _hidden_signal.setitimer(_hidden_signal.ITIMER_REAL, 0)
"""


def _calls(shown: Shown, inputs: list[tuple]) -> tuple[str, ...]:
    """The expressions the verifier will send for these inputs (HiddenTests.calls)."""
    return HiddenTests(shown.entry, shown.compare, shown.rel_tol,
                       tuple((canonical(a), None) for a in inputs)).calls()


def _choose(answers: list[tuple[tuple, object]], rng: random.Random) -> list[tuple[tuple, object]]:
    """Up to KEEP tests, spread over gold's distinct answers (round robin)."""
    groups: dict[str, list] = {}
    for args, value in answers:
        groups.setdefault(canonical(value), []).append((args, value))
    order = list(groups)
    rng.shuffle(order)
    chosen: list = []
    while len(chosen) < KEEP and any(groups.values()):
        for key in order:
            if groups[key] and len(chosen) < KEEP:
                chosen.append(groups[key].pop(0))
    return chosen


def generate(data_dir: str | None = None) -> dict:
    from harness_ext.data import load_rows
    from harness_ext.sandbox import Refused, SandboxLimits, run_many

    problems, excluded, plans = {}, {}, []
    for split in SPLITS:
        for row in load_rows("mbpp", split, data_dir):
            tid = str(row["task_id"])
            try:
                shown = shown_tests(row)
            except ValueError as e:
                excluded[tid] = f"{split}: {e}"
                continue
            rng = random.Random(f"{SEED}-{tid}")
            inputs = mutate_inputs(shown.inputs, CANDIDATES, rng)
            inputs = [a for a in inputs if len(canonical(a)) <= MAX_REPR]
            source = "\n".join([*(row.get("test_imports") or []), row["code"],
                                DRIVER.format(timeout=CALL_TIMEOUT_S)])
            plans.append((split, row, shown, inputs, source, rng))
    sources = [p[4] for p in plans]
    calls = [[f"_hidden_call(lambda: {call})" for call in _calls(shown, inputs)]
             for _, _, shown, inputs, _, _ in plans]
    limits = SandboxLimits(timeout_s=CANDIDATES * CALL_TIMEOUT_S + 10)
    runs = [run_many(sources, limits=limits, values=calls) for _ in range(2)]
    for (split, row, shown, inputs, _, rng), first, second in zip(plans, *runs):
        tid = str(row["task_id"])
        answers = []
        for args, a, b in zip(inputs, first.values, second.values):
            if isinstance(a, Refused) or isinstance(b, Refused) or a[0] != "ok" or b[0] != "ok" \
                    or canonical(a[1]) != canonical(b[1]) or max(a[2], b[2]) > FAST_S:
                continue
            value = a[1]
            if shown.compare == "set":  # gold's items in any order: stored as the set they form
                try:
                    value = set(value)
                except TypeError:
                    continue
            if len(canonical(value)) <= MAX_REPR:
                answers.append((args, value))
        if not (first.passed and second.passed) and not answers:
            excluded[tid] = f"{split}: gold did not run ({first.status}: {first.stderr.strip()[-200:]})"
            continue
        if not inputs:
            excluded[tid] = f"{split}: no new input within the shown inputs' contract"
            continue
        if not answers:
            excluded[tid] = f"{split}: gold raised, timed out or answered non-builtin data on every new input"
            continue
        problems[tid] = {
            "split": split, "fingerprint": fingerprint(row["code"], row["test_list"]),
            "entry": shown.entry, "compare": shown.compare, "rel_tol": shown.rel_tol,
            "tests": [[canonical(args), canonical(value)] for args, value in _choose(answers, rng)]}
    return {"generator": GENERATOR_VERSION, "seed": SEED, "problems": problems, "excluded": excluded}


def encode(tests: dict) -> bytes:
    return gzip.compress(json.dumps(tests, indent=0, sort_keys=True).encode(), mtime=0)


def check(data_dir: str | None = None) -> list[str]:
    """What is wrong with the stored hidden tests for this dataset: problems missing, stale or
    generated from another version of their row, and gold programs failing their hidden tests.
    (Not a byte-for-byte regeneration: which inputs gold answers within FAST_S depends on the
    machine's load, so a regeneration may pick a few other inputs for slow problems.)"""
    from harness_ext.data import load_rows
    from harness_ext.verify.hidden import stored
    from harness_ext.verify.program import ProgramVerifier

    tests, rows = stored(), [r for split in SPLITS for r in load_rows("mbpp", split, data_dir)]
    problems = tests["problems"]
    known = {str(r["task_id"]) for r in rows}
    problems_out = [f"task {t}: not in the dataset" for t in sorted({*problems, *tests["excluded"]} - known)]
    problems_out += [f"task {t}: neither tested nor excluded" for t in sorted(known - {*problems, *tests["excluded"]})]
    rows = [r for r in rows if str(r["task_id"]) in problems]
    stale = [r for r in rows if problems[str(r["task_id"])]["fingerprint"] != fingerprint(r["code"], r["test_list"])]
    problems_out += [f"task {r['task_id']}: generated from another version of the row" for r in stale]
    rows = [r for r in rows if r not in stale]
    verifier = ProgramVerifier()
    verdicts = verifier.judge_both([r["code"] for r in rows], [verifier.reference(r) for r in rows])
    problems_out += [f"task {r['task_id']}: gold fails its hidden tests"
                     for r, (shown, both) in zip(rows, verdicts) if shown and not both]
    return problems_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the stored tests do not fit the dataset (see check())")
    parser.add_argument("--data-dir", default=None, help="MBPP JSONL dir (default: SELFIMP_DATA_DIR)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            wrong = check(args.data_dir)
            print("\n".join(wrong) or f"{HIDDEN_TESTS_FILE.name}: fits the dataset; gold passes every hidden test")
            return 1 if wrong else 0
        tests = generate(args.data_dir)
        atomic_write_bytes(HIDDEN_TESTS_FILE, encode(tests))
    except SelfimpError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {HIDDEN_TESTS_FILE.name}: {len(tests['problems'])} problems, "
          f"{len(tests['excluded'])} excluded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
