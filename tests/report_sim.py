"""Simulated checkpoints as sample-log files, run through the real `selfimp-report`: the calibration
tests (`tests/test_calibration.py`) and benchmark (`benchmarks/bench_verdict_calibration.py`).

Each checkpoint of a simulated report has, per problem i with success rate p_i, a greedy answer
(one Bernoulli(p_i) draw, its checkpoint noise), 8 sampled answers with texts from one word
generator per problem (the IS probe and diversity), an OOD dataset and a groups log with levels 1
and 4 (fairness). Under the null every checkpoint draws from the same rates."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lmeval_logs import log_line, our_log_lines, write_log

from harness_ext.report import write_report
from harness_ext.report.analysis import Options

# every word the report can give that is not a null word (no change / inconclusive / not measured / does not apply)
WORDS = {"progress", "regress", "new ability beyond M1", "gains within M1's sampling space", "more confident",
         "less confident", "calibration worse (ECE rose)", "calibration better (ECE fell)",
         "hardest level covered more", "tail narrowing (hardest level covered less)"}


@dataclass
class Size:
    """Problems per dataset of one simulated report."""

    problems: int = 300  # primary (arith) and OOD (svamp) datasets
    level_first: int = 150  # groups dataset: declared first level (1) ...
    level_last: int = 50  # ... and last level (4)
    samples: int = 8  # sampled answers per problem (passn)


def rates(rng: np.random.Generator, size: Size) -> dict[str, np.ndarray]:
    """Per-problem success rates of each dataset (levels: easy around 0.7, hard around 0.3)."""
    return {"arith": rng.uniform(size=size.problems), "svamp": rng.uniform(size=size.problems),
            "level1": rng.beta(7, 3, size=size.level_first), "level4": rng.beta(3, 7, size=size.level_last)}


def text(rng: np.random.Generator, q: int) -> str:
    """One sample's text from problem q's fixed word generator (diversity is the same for every model)."""
    return " ".join(f"w{q}_{j}" for j in rng.integers(0, 12, size=6)) + " #### 1"


def write_checkpoint(out: Path, r: dict[str, np.ndarray], rng: np.random.Generator, size: Size,
                     drop_failed: float = 0.0) -> None:
    """One checkpoint's logs drawn from rates `r`; its arith logs leave out a share `drop_failed` of
    the problems it fails greedily."""
    greedy = rng.uniform(size=len(r["arith"])) < r["arith"]
    keep = greedy | (rng.uniform(size=len(greedy)) >= drop_failed)
    docs = [({"id": f"q{i}", "question": f"problem {i}", "answer": "#### 1"}, [("#### 1", "1", bool(ok))])
            for i, ok in enumerate(greedy) if keep[i]]
    write_log(out, "selfimp_arith_pass1", our_log_lines(docs))
    sampled = rng.uniform(size=(len(r["arith"]), size.samples)) < r["arith"][:, None]
    docs = [({"id": f"q{i}", "question": f"problem {i}", "answer": "#### 1"},
             [(text(rng, i), "1" if ok else "2", bool(ok)) for ok in row])
            for i, row in enumerate(sampled) if keep[i]]
    write_log(out, "selfimp_arith_passn", our_log_lines(docs))
    ood = rng.uniform(size=len(r["svamp"])) < r["svamp"]
    write_log(out, "selfimp_svamp_pass1", our_log_lines(
        [({"id": f"s{i}", "question": f"svamp {i}", "answer": "#### 1"}, [("t", None, bool(ok))])
         for i, ok in enumerate(ood)]))
    levels = [(lv, i, ok) for lv in (1, 4) for i, ok in enumerate(rng.uniform(size=len(r[f"level{lv}"])) < r[f"level{lv}"])]
    write_log(out, "selfimp_arith_groups", our_log_lines(
        [({"id": f"L{lv}-{i}", "question": "p", "answer": "#### 1", "level": lv}, [("t", None, bool(ok))])
         for lv, i, ok in levels]))


def run_report(root: Path, labels: list[str], **opts) -> dict:
    """report.json of the checkpoints under `root`/<label> (M1 first), written to `root`/report."""
    return write_report([str(root / lab) for lab in labels], root / "report",
                        opts=Options(sbert=False, **opts), train_task="arith")


def words(report: dict) -> list[str]:
    """Every non-null word of a report: its tests and the fairness rows of its headline (the other
    headline rows are tests already counted)."""
    rows = report["verdicts"] + [r for h in report["headline"].values() for r in h["rows"] if r["axis"] == "fairness"]
    return [f"{r['axis']}: {r['verdict']}" for r in rows if r["verdict"] in WORDS]


def null_report(root: Path, seed: int, size: Size = Size(), checkpoints: int = 3) -> dict:
    """A report of `checkpoints` rounds that all draw from the same per-problem rates."""
    rng = np.random.default_rng(seed)
    r = rates(rng, size)
    labels = [f"m{t}" for t in range(1, checkpoints + 1)]
    for lab in labels:
        write_checkpoint(root / lab, r, rng, size)
    return run_report(root, labels)


def shifted(r: dict[str, np.ndarray], by: dict[str, float]) -> dict[str, np.ndarray]:
    """Rates with `by[name]` added (clipped to [0, 1]) to the named datasets."""
    return {k: np.clip(v + by.get(k, 0.0), 0, 1) for k, v in r.items()}


def pair_report(root: Path, seed: int, size: Size, after: dict[str, float], drop_failed: float = 0.0,
                **opts) -> dict:
    """M1 from the base rates, m2 from rates shifted by `after`, its arith logs leaving out a share
    `drop_failed` of the problems it fails."""
    rng = np.random.default_rng(seed)
    r = rates(rng, size)
    write_checkpoint(root / "m1", r, rng, size)
    write_checkpoint(root / "m2", shifted(r, after), rng, size, drop_failed)
    return run_report(root, ["m1", "m2"], **opts)


def builtin_repeats_lines(solved: np.ndarray) -> list[dict]:
    """A built-in `gsm8k` log run with `repeats`: raw generations (one per sample), rescored by the report."""
    lines = []
    for i, row in enumerate(solved):
        d = {"question": f"What is {i}?", "answer": f"It is {i}.\n#### {i}"}
        texts = [f"#### {i if ok else i + 1}" for ok in row]
        lines.append(log_line(i, d, texts, [t.split()[-1] for t in texts], target=d["answer"], filt="strict-match"))
    return lines


def repeats_report(root: Path, seed: int, problems: int, n_before: int, n_after: int) -> dict:
    """`--compare` of two built-in gsm8k logs with n_before and n_after samples per problem, same rates."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=problems)
    for lab, n in (("base", n_before), ("tuned", n_after)):
        write_log(root / lab, "gsm8k", builtin_repeats_lines(rng.uniform(size=(problems, n)) < p[:, None]))
    return write_report(None, root / "report", compare=[str(root / "base"), str(root / "tuned")],
                        opts=Options(sbert=False))


def row(report: dict, axis: str, dataset: str | None = None) -> dict:
    """The one headline row of `axis` (and `dataset`) of the report's only method."""
    (h,) = report["headline"].values()
    rows = [r for r in h["rows"] if r["axis"] == axis and dataset in (None, r["dataset"])]
    assert len(rows) == 1, json.dumps(rows)[:500]
    return rows[0]
