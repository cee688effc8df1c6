"""Read lm-eval sample logs (`samples_<task>_<date>.jsonl`) into per-doc records keyed by a stable id.

Our tasks log one record per generated sample in `filtered_resps[0]`
(`{"text", "answer", "correct"}`; lm-eval stores it as JSON or as a Python repr string).
Logs of lm-eval's built-in tasks (gsm8k, gsm8k_cot, minerva_math, hendrycks_math, leaderboard_math,
mbpp) carry only raw generations: those are rescored here with the shared verifier of their domain.
Any other task's log is kept with lm-eval's own per-doc scores (`DocRecord.metrics`), and
`score_by_metric` turns one of them into the per-doc verdict (the report picks which:
`harness_ext.report.task_metrics`).
"""
from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.io import read_jsonl_numbered

SAMPLE_FILE_RE = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.:]+)\.jsonl$")


@dataclass(frozen=True)
class Sample:
    """One generated answer of a model to one doc."""

    text: str
    answer: str | None
    correct: bool
    correct_shown: bool | None = None  # code: the shown tests alone pass (`correct`: shown + hidden)


@dataclass
class DocRecord:
    """All samples of one doc; `solved` is the first (greedy, for pass@1 tasks) sample's verdict.

    `metrics` holds lm-eval's own per-doc scores of every logged filter, keyed as in results_*.json
    ("acc,none", "exact_match,strict-match"); `resps`, `target` and `arguments` are the log's fields."""

    id: str
    doc_id: int
    doc: dict
    samples: list[Sample]
    metrics: dict[str, Any] = field(default_factory=dict)
    resps: Any = None
    target: str | None = None
    arguments: Any = None
    doc_hash: str | None = None

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def n_correct(self) -> int:
        return sum(s.correct for s in self.samples)

    @property
    def solved(self) -> bool:
        return bool(self.samples) and self.samples[0].correct


@dataclass
class SampleLog:
    """One task's sample log: docs keyed by stable id, in file order."""

    task: str
    path: Path
    docs: dict[str, DocRecord] = field(default_factory=dict)
    rescored_with: str | None = None  # verifier name when rebuilt from a built-in task's raw resps
    scored_by: str | None = None  # "metric,filter" of lm-eval's per-doc score when `score_by_metric` set the verdicts

    @property
    def dataset(self) -> str:
        """Name shared by logs over the same problems (selfimp_gsm8k_pass1 and _passn -> selfimp_gsm8k)."""
        return registry.dataset_key(self.task)

    @property
    def n_samples(self) -> int:
        """Samples per doc (the largest, in case a log is ragged)."""
        return max((d.n for d in self.docs.values()), default=0)


def find_sample_files(path: str | Path) -> dict[str, Path]:
    """Map task -> newest `samples_<task>_<date>.jsonl` under `path` (a file or a dir, recursive)."""
    path = Path(path)
    if path.is_file():
        m = SAMPLE_FILE_RE.match(path.name)
        if not m:
            raise SelfimpError(f"{path}: not an lm-eval sample log (expected samples_<task>_<date>.jsonl)")
        return {m["task"]: path}
    if not path.is_dir():
        raise SelfimpError(f"{path}: no such file or directory")
    newest: dict[str, tuple[str, Path]] = {}
    for f in sorted(path.rglob("samples_*.jsonl")):
        if any(part.startswith(".") for part in f.relative_to(path).parts[:-1]):
            continue  # hidden dirs: a sweep's unfinished .tmp-* output
        m = SAMPLE_FILE_RE.match(f.name)
        if m and (m["task"] not in newest or m["date"] > newest[m["task"]][0]):
            newest[m["task"]] = (m["date"], f)
    if not newest:
        raise SelfimpError(f"{path}: no lm-eval sample logs (samples_<task>_<date>.jsonl) found")
    return {task: f for task, (_, f) in sorted(newest.items())}


def read_sample_logs(path: str | Path, unscored_ok: bool = False) -> dict[str, SampleLog]:
    """Read the newest sample log of every task found under `path` (`unscored_ok`: see read_sample_file)."""
    return {task: read_sample_file(f, task, unscored_ok) for task, f in find_sample_files(path).items()}


def read_sample_log(path: str | Path, task: str | None = None) -> SampleLog:
    """Read one task's log from a file or dir; `task` picks one when a dir holds several."""
    files = find_sample_files(path)
    if task is None:
        if len(files) != 1:
            raise SelfimpError(f"{path}: holds sample logs of several tasks ({', '.join(files)}); name one")
        task = next(iter(files))
    if task not in files:
        raise SelfimpError(f"{path}: no sample log of task {task!r} (found: {', '.join(files)})")
    return read_sample_file(files[task], task)


def read_sample_file(path: Path, task: str, unscored_ok: bool = False) -> SampleLog:
    """One task's log: our per-sample records, or a built-in family rescored by its verifier; any
    other task raises unless `unscored_ok`, which keeps its docs with lm-eval's per-doc scores and
    no samples yet (`score_by_metric` adds them)."""
    rows = read_jsonl_numbered(path)
    if not rows:
        raise SelfimpError(f"{path}: empty sample log")
    log = SampleLog(task=task, path=path)
    raw: list[tuple[int, dict]] = []
    by_doc_id: dict[int, DocRecord] = {}
    for lineno, row in rows:
        _check_line(row, path, lineno)
        record = by_doc_id.get(row["doc_id"])
        if record is not None:  # lm-eval writes one line per (doc, filter): keep the first filter's samples
            record.metrics.update(_line_metrics(row))
            continue
        samples = _our_records(row["filtered_resps"], path, lineno)
        if samples is None and task.startswith(registry.TASK_PREFIX):
            raise SelfimpError(f"{path}:{lineno}: filtered_resps[0] of our task {task!r} does not parse as "
                               f"per-sample records ({{'text', 'answer', 'correct'}}): "
                               f"{str(row['filtered_resps'])!r:.200}")
        if samples is None:
            raw.append((lineno, row))
        key = _unique_key(log.docs, doc_stable_id(row), row["doc"], f"{path}:{lineno}")
        record = DocRecord(id=key, doc_id=row["doc_id"], doc=row["doc"],
                           samples=samples or [], metrics=_line_metrics(row), resps=row.get("resps"),
                           target=row.get("target"), arguments=row.get("arguments"), doc_hash=row.get("doc_hash"))
        by_doc_id[row["doc_id"]] = log.docs[record.id] = record
    if raw:
        if len(raw) != len(log.docs):
            raise SelfimpError(f"{path}:{raw[0][0]}: filtered_resps has no per-sample records on some lines only")
        if registry.builtin_verifier_name(task) is not None:
            log.rescored_with = _rescore(log, [row for _, row in raw], path)
        elif not unscored_ok:
            raise SelfimpError(
                f"{path}: task {task!r} logs no per-sample records and is not a built-in task we can rescore "
                f"({', '.join(p + '*' for p in registry.builtin_prefixes())}); selfimp-report reads its per-doc metrics"
            )
    return log


def _line_metrics(row: dict) -> dict[str, Any]:
    """lm-eval's per-doc scores on one line, keyed "metric,filter" as in results_*.json."""
    names = row.get("metrics")
    filt = row.get("filter") or "none"
    return {f"{name},{filt}": row[name] for name in names or [] if isinstance(name, str) and name in row}


def _unique_key(docs: dict[str, DocRecord], key: str, doc: dict, where: str) -> str:
    """The doc's stable id; the k-th doc of a log with the same content gets `#k`, so identical docs
    stay apart and join in order across runs. Two different docs under one id are refused: they
    would be joined to each other's counterparts by position."""
    if key not in docs:
        return key
    if docs[key].doc != doc:
        raise SelfimpError(f"{where}: doc id {key!r} is also the id of another doc (doc_id {docs[key].doc_id}) "
                           "with different content: two problems cannot share an id")
    k = 2
    while f"{key}#{k}" in docs:
        k += 1
    return f"{key}#{k}"


def score_by_metric(log: SampleLog, key: str, threshold: float | None = None) -> None:
    """Per doc, one sample whose verdict is lm-eval's own score `key` ("metric,filter"): a bool or
    0/1 as it is; any other number only with `threshold` (solved when score >= threshold)."""
    undefined = [r.doc_id for r in log.docs.values() if isinstance(r.metrics.get(key), float) and math.isnan(r.metrics[key])]
    if undefined:
        shown = ", ".join(map(str, undefined[:10])) + (f" and {len(undefined) - 10} more" if len(undefined) > 10 else "")
        raise SelfimpError(f"{log.path}: {key} is NaN (undefined) for {len(undefined)} docs (doc_id {shown}): "
                           "an undefined score is not 'not solved'; rerun those docs or choose another metric")
    for record in log.docs.values():
        if key not in record.metrics:
            have = ", ".join(sorted(record.metrics)) or "none"
            raise SelfimpError(f"{log.path}: doc {record.doc_id} has no per-doc score {key!r} (it has: {have})")
        value = record.metrics[key]
        if isinstance(value, bool) or value in (0, 1):
            correct = bool(value)
        elif isinstance(value, (int, float)) and threshold is not None:
            correct = value >= threshold
        else:
            raise SelfimpError(
                f"{log.path}: doc {record.doc_id}: {key} = {value!r:.80} is not a binary per-doc score; "
                f"give a threshold (--metric {log.task}={key.split(',')[0]}>=T) or another metric"
            )
        record.samples = [Sample(text=_first_generation(record.resps), answer=None, correct=correct)]
    log.scored_by = key if threshold is None else f"{key} >= {threshold:g}"


def _first_generation(resps: Any) -> str:
    """The first generated text of a generate_until line ("" for loglikelihood lines)."""
    if isinstance(resps, list) and resps and isinstance(resps[0], list) and resps[0] and isinstance(resps[0][0], str):
        return resps[0][0]
    return ""


def _check_line(row: dict, path: Path, lineno: int) -> None:
    """The fields every lm-eval sample-log line has, with the types lm-eval writes."""
    for key in ("doc_id", "doc", "filtered_resps"):
        if key not in row:
            raise SelfimpError(f"{path}:{lineno}: missing field {key!r} (not an lm-eval sample log?)")
    if not isinstance(row["doc_id"], int) or isinstance(row["doc_id"], bool):
        raise SelfimpError(f"{path}:{lineno}: field 'doc_id' must be an int, got {row['doc_id']!r:.80}")
    if not isinstance(row["doc"], dict):
        raise SelfimpError(f"{path}:{lineno}: field 'doc' must be an object, got {row['doc']!r:.80}")


def doc_stable_id(row: dict) -> str:
    """doc["id"], else a dataset id (task_id, unique_id), else lm-eval's doc_hash."""
    doc = row["doc"] if isinstance(row["doc"], dict) else {}
    for key in ("id", "task_id", "unique_id"):
        if doc.get(key) not in (None, ""):
            return str(doc[key])
    if row.get("doc_hash"):
        return str(row["doc_hash"])
    return f"doc-{row['doc_id']}"


def _our_records(filtered_resps: Any, path: Path, lineno: int) -> list[Sample] | None:
    """Parse filtered_resps[0] as our per-sample records; None if it is not in that format."""
    if not isinstance(filtered_resps, list) or not filtered_resps or not isinstance(filtered_resps[0], list):
        return None
    items = [_as_record(x) for x in filtered_resps[0]]
    if not items or any(r is None for r in items):
        return None
    out = []
    for r in items:
        if not isinstance(r.get("correct"), bool) or not isinstance(r.get("text", ""), str):
            raise SelfimpError(f"{path}:{lineno}: per-sample record needs bool 'correct' and str 'text': {r!r:.200}")
        answer = r.get("answer")
        shown = r.get("correct_shown")
        out.append(Sample(text=r.get("text", ""), answer=None if answer is None else str(answer), correct=r["correct"],
                          correct_shown=shown if isinstance(shown, bool) else None))
    return out


def _as_record(x: Any) -> dict | None:
    if isinstance(x, dict):
        return x if "correct" in x else None
    if not isinstance(x, str) or not x.startswith("{"):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(x)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            continue
        if isinstance(value, dict) and "correct" in value:
            return value
    return None


def _rescore(log: SampleLog, rows: list[dict], path: Path) -> str:
    """Rebuild per-sample records of a built-in task's log from its raw `resps` with our verifier."""
    name = registry.builtin_verifier_name(log.task)
    from harness_ext.verify import get_verifier

    verifier = get_verifier(name)
    texts: list[list[str]] = []
    for row in rows:
        resps = row.get("resps")
        if not isinstance(resps, list) or not resps or not isinstance(resps[0], list):
            raise SelfimpError(f"{path}: doc {row['doc_id']}: 'resps' is not a list of generations")
        texts.append([str(t) for t in resps[0]])
    flat = [t for ts in texts for t in ts]
    refs = [verifier.reference(row["doc"]) for row, ts in zip(rows, texts) for _ in ts]
    records = iter(verifier.records(flat, refs))
    by_doc_id = {d.doc_id: d for d in log.docs.values()}
    for row, ts in zip(rows, texts):
        by_doc_id[row["doc_id"]].samples.extend(Sample(**next(records)) for _ in ts)
    return name
