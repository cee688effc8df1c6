"""Generate the MBPP hidden tests (harness_ext/verify/mbpp_hidden_tests.json.gz) by differential
testing against the gold programs: new inputs by contract-respecting mutation of the shown ones
(`harness_ext.verify.mutate`), gold's answers computed in the sandbox, twice; inputs where gold
raises, goes over its per-call budget of trace events (or, in C builtins, of CPU time), answers
differently in the two runs, or answers with something that is not builtin data are dropped.
Which inputs are kept does not depend on the machine's speed or load (see DRIVER), so the file
regenerates byte for byte.

    HF_ALLOW_CODE_EVAL=1 python -m harness_ext.gen_hidden_tests            # write the file
    HF_ALLOW_CODE_EVAL=1 python -m harness_ext.gen_hidden_tests --check    # exit 1 if it does not
                                                                         # fit or does not regenerate
"""
from __future__ import annotations

import argparse
import ast
import gzip
import json
import random
import sys
from dataclasses import dataclass, field

from harness_ext.errors import SelfimpError
from harness_ext.io import atomic_write_bytes
from harness_ext.verify.hidden import HIDDEN_TESTS_FILE, HiddenTests, fingerprint
from harness_ext.verify.mutate import canonical, mutate_inputs

SPLITS = ("train", "validation", "test", "prompt")
SEED = 0
CANDIDATES = 60  # mutated inputs tried per problem
KEEP = 12  # hidden tests kept per problem
MAX_REPR = 1000  # an input or answer longer than this (as a literal) is dropped
EVENT_BUDGET = 1_000_000  # gold's trace events per call (see DRIVER); over it: dropped (docs/safety.md)
CPU_GUARD_S = 1.0  # gold's CPU time per call, against time spent in C builtins (see DRIVER)
GENERATOR_VERSION = 2


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


# Gold's cost per call is counted, not timed: the trace events (calls, lines, returns) its Python
# code makes, the same on any machine under any load. A call over EVENT_BUDGET stops there. Time
# spent inside C builtins (big-int arithmetic, a huge sort) makes no events; a CPU-time guard
# (ITIMER_PROF: the process's own CPU time, not the wall clock) stops such a call after CPU_GUARD_S.
DRIVER = """
import signal as _hidden_signal, sys as _hidden_sys, time as _hidden_time
class _HiddenOverBudget(BaseException):
    pass
def _hidden_call(thunk):
    events, guarded, armed = 0, False, True
    def _count(frame, event, arg):
        nonlocal events
        events += 1
        if events > {budget}:
            raise _HiddenOverBudget  # an error in a trace function also ends the tracing
        return _count
    def _late(*_):
        nonlocal guarded
        if armed:
            guarded = True
            raise TimeoutError
    _hidden_signal.signal(_hidden_signal.SIGPROF, _late)
    start = _hidden_time.process_time()
    _hidden_signal.setitimer(_hidden_signal.ITIMER_PROF, {guard})
    _hidden_sys.settrace(_count)
    try:
        try:
            outcome = ("ok", thunk())
        finally:
            armed = False
            _hidden_sys.settrace(None)
            _hidden_signal.setitimer(_hidden_signal.ITIMER_PROF, 0)
    except BaseException as e:
        outcome = ("raised", type(e).__name__)
    if guarded or events > {budget}:  # over the budget: dropped whatever the guard did
        outcome = ("over" if events > {budget} else "guard",)
    return (*outcome, events, _hidden_time.process_time() - start)
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


@dataclass(frozen=True)
class Plan:
    """One problem to generate for: its row, shown tests and the mutated inputs to try."""

    split: str
    row: dict
    shown: Shown
    inputs: list[tuple]
    rng: random.Random  # seeded per problem; after mutation it picks the tests kept

    @property
    def task_id(self) -> str:
        return str(self.row["task_id"])


@dataclass
class Costs:
    """What the event count cannot see, printed after a generation: the most CPU time a kept call
    took (traced) and the calls the CPU guard stopped, the only load-dependent decisions."""

    slowest_kept_s: float = 0.0
    slowest_kept_task: str = ""
    guard_stopped: list[str] = field(default_factory=list)  # "task <id>: <events> events"

    def lines(self) -> list[str]:
        return [f"slowest kept call: {self.slowest_kept_s * 1000:.1f} ms CPU (task {self.slowest_kept_task}); "
                f"CPU guard {CPU_GUARD_S} s", f"calls stopped by the CPU guard: {len(self.guard_stopped)}",
                *self.guard_stopped]


def plans(data_dir: str | None = None, task_ids: set[str] | None = None) -> tuple[list[Plan], dict]:
    """The problems to generate for (all, or those in `task_ids`) and those excluded, with why."""
    from harness_ext.data import load_rows

    todo, excluded = [], {}
    for split in SPLITS:
        for row in load_rows("mbpp", split, data_dir):
            tid = str(row["task_id"])
            if task_ids is not None and tid not in task_ids:
                continue
            try:
                shown = shown_tests(row)
            except ValueError as e:
                excluded[tid] = f"{split}: {e}"
                continue
            rng = random.Random(f"{SEED}-{tid}")
            inputs = mutate_inputs(shown.inputs, CANDIDATES, rng)
            todo.append(Plan(split, row, shown, [a for a in inputs if len(canonical(a)) <= MAX_REPR], rng))
    return todo, excluded


def gold_outcomes(todo: list[Plan], budget: int = EVENT_BUDGET) -> list[list[list[tuple]] | str]:
    """Per plan, per input, gold's outcome in each of two runs: (kind, [value,] events, cpu_s),
    kind "ok", "raised" (then the exception's name), "over" (`budget` events), "guard" (CPU_GUARD_S)
    or "refused" (not builtin data); for a plan whose gold program did not run, why."""
    from harness_ext.sandbox import Refused, SandboxLimits, run_many

    sources = ["\n".join([*(p.row.get("test_imports") or []), p.row["code"],
                          DRIVER.format(budget=budget, guard=CPU_GUARD_S)]) for p in todo]
    calls = [[f"_hidden_call(lambda: {call})" for call in _calls(p.shown, p.inputs)] for p in todo]
    # Wall time only as the sandbox's backstop: every call may use its CPU guard, on a busy machine.
    limits = SandboxLimits(timeout_s=CANDIDATES * CPU_GUARD_S * 5 + 30)
    outcomes = []
    for p, *runs in zip(todo, *(run_many(sources, limits=limits, values=calls) for _ in range(2))):
        if any(r.status == "timeout" for r in runs):  # which inputs survive would depend on the load
            raise SelfimpError(f"task {p.task_id}: gold's run in the sandbox timed out; cannot "
                               "generate its hidden tests")
        failed = next((r for r in runs if len(r.values) < len(p.inputs)), None)
        if failed:
            outcomes.append(f"{failed.status}: {(failed.stderr.strip().splitlines() or [''])[-1][-200:]}")
            continue
        outcomes.append([[("refused", 0, 0.0) if isinstance(v, Refused) else v for v in pair]
                         for pair in zip(*(r.values for r in runs))])
    return outcomes


def generate(data_dir: str | None = None, task_ids: set[str] | None = None) -> tuple[dict, Costs]:
    """The hidden tests of every problem (or those in `task_ids`), and what their calls cost."""
    todo, excluded = plans(data_dir, task_ids)
    problems, costs = {}, Costs()
    for p, outcomes in zip(todo, gold_outcomes(todo)):
        if isinstance(outcomes, str):
            excluded[p.task_id] = f"{p.split}: gold did not run in the sandbox ({outcomes})"
            continue
        answers = []
        for args, (a, b) in zip(p.inputs, outcomes):
            if "guard" in (a[0], b[0]):
                costs.guard_stopped.append(f"task {p.task_id}: {max(a[-2], b[-2])} events")
            if a[0] != "ok" or b[0] != "ok" or canonical(a[1]) != canonical(b[1]):
                continue
            if max(a[-1], b[-1]) > costs.slowest_kept_s:
                costs.slowest_kept_s, costs.slowest_kept_task = max(a[-1], b[-1]), p.task_id
            value = a[1]
            if p.shown.compare == "set":  # gold's items in any order: stored as the set they form
                try:
                    value = set(value)
                except TypeError:
                    continue
            if len(canonical(value)) <= MAX_REPR:
                answers.append((args, value))
        if not p.inputs:
            excluded[p.task_id] = f"{p.split}: no new input within the shown inputs' contract"
            continue
        if not answers:
            excluded[p.task_id] = (f"{p.split}: gold raised, went over its budget or answered "
                                   "non-builtin data on every new input")
            continue
        problems[p.task_id] = {
            "split": p.split, "fingerprint": fingerprint(p.row["code"], p.row["test_list"]),
            "entry": p.shown.entry, "compare": p.shown.compare, "rel_tol": p.shown.rel_tol,
            "tests": [[canonical(args), canonical(value)] for args, value in _choose(answers, p.rng)]}
    tests = {"generator": GENERATOR_VERSION, "seed": SEED, "problems": problems, "excluded": excluded}
    return tests, costs


def encode(tests: dict) -> bytes:
    return gzip.compress(json.dumps(tests, indent=0, sort_keys=True).encode(), mtime=0)


def differences(stored: dict, regenerated: dict) -> list[str]:
    """Where a regeneration differs from the stored hidden tests, naming the problems."""
    out = [f"{key}: stored {stored.get(key)!r}, regenerated {regenerated[key]!r}"
           for key in ("generator", "seed") if stored.get(key) != regenerated[key]]
    for part in ("problems", "excluded"):
        old, new = stored.get(part, {}), regenerated[part]
        out += [f"task {t}: its {part[:-1]} entry differs from a regeneration"
                for t in sorted({*old, *new}, key=int) if old.get(t) != new.get(t)]
    if not out and encode(stored) != encode(regenerated):
        out.append("the stored file is not encoded as the generator encodes it")
    return out


def check(data_dir: str | None = None) -> list[str]:
    """What is wrong with the stored hidden tests for this dataset: problems missing, stale or
    generated from another version of their row, gold programs failing their hidden tests, and
    problems whose tests a regeneration does not reproduce byte for byte."""
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
    return problems_out + differences(tests, generate(data_dir)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the stored tests do not fit the dataset or a "
                             "regeneration differs from them (see check())")
    parser.add_argument("--data-dir", default=None, help="MBPP JSONL dir (default: SELFIMP_DATA_DIR)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            wrong = check(args.data_dir)
            print("\n".join(wrong) or f"{HIDDEN_TESTS_FILE.name}: fits the dataset, gold passes every "
                                      "hidden test, and a regeneration reproduces it byte for byte")
            return 1 if wrong else 0
        tests, costs = generate(args.data_dir)
        atomic_write_bytes(HIDDEN_TESTS_FILE, encode(tests))
    except SelfimpError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join([f"wrote {HIDDEN_TESTS_FILE.name}: {len(tests['problems'])} problems, "
                     f"{len(tests['excluded'])} excluded", *costs.lines()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
