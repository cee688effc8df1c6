"""The logic behind the lm-eval task family in `lm_eval_tasks/` (its utils.py only re-exports this).

Datasets come from `harness_ext.data`, prompts from `harness_ext.prompts`, and what a doc is from
`harness_ext.registry` (lm-eval hands `doc_to_text` and `process_results` the doc alone). A `VerifyFilter` judges
every sample of every doc in one batch with the shared verifier and leaves per sample a record
`{"text", "answer", "correct"}` in `filtered_resps`; `process_*` functions only read those records,
and the aggregations turn per-doc values into the task's metrics.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Sequence

from lm_eval.api.filter import Filter
from lm_eval.api.task import ConfigurableTask

from harness_ext import data, metrics, prompts, registry
from harness_ext.errors import SelfimpError
from harness_ext.metric_table import CLASSES, PASS_K
from harness_ext.sandbox.runner import require_code_eval_opt_in

log = logging.getLogger(__name__)

IMPROVE_KEYS = ("reference", "candidate")
IN_IS = "in_improvement_set"
GROUP_DISPARITY_PREFIX = "group_disparity_"  # + dataset: the aggregation of its groups task


# ---------------------------------------------------------------- datasets and prompts
def load_docs(name: str, split: str = "test", data_dir: str | None = None, **metadata: Any):
    """`custom_dataset` of every task: {"test": Dataset}; lm-eval also passes --metadata / model_args."""
    import datasets

    if registry.get(name).domain.unsafe_code:
        require_code_eval_opt_in()
    return datasets.DatasetDict({"test": data.load_hf_dataset(name, split, data_dir)})


def load_improvement_docs(name: str, split: str = "test", data_dir: str | None = None,
                          **metadata: Any):
    """`custom_dataset` of `selfimp_<name>_improve`: the docs of IS(candidate vs reference).

    `--metadata '{"reference": <M1 greedy log or output dir>, "candidate": <M_t greedy log or dir>}'`;
    logs of `selfimp_<name>_pass1` are joined by doc id. An empty IS keeps one placeholder doc
    (flagged `in_improvement_set: false`) so lm-eval can run; all its metrics are then NaN.
    """
    import datasets

    from harness_ext.improve import improvement_set

    missing = [k for k in IMPROVE_KEYS if not metadata.get(k)]
    if missing:
        raise SelfimpError(
            f"selfimp_{name}_improve needs --metadata keys {', '.join(IMPROVE_KEYS)} (missing: "
            f"{', '.join(missing)}), e.g. --metadata '{{\"reference\": \"out/m1\", \"candidate\": \"out/m3\"}}'")
    if registry.get(name).domain.unsafe_code:
        require_code_eval_opt_in()
    task = registry.task_name(name, "pass1")
    iset = improvement_set(metadata["reference"], metadata["candidate"], task=task)
    rows = {r["id"]: r for r in data.load_rows(name, split, data_dir)}
    unknown = [i for i in (*iset.ids, *iset.forgotten, *iset.both, *iset.neither) if i not in rows]
    if unknown:
        raise SelfimpError(
            f"reference/candidate logs hold doc ids that are not in {name} {split} "
            f"(e.g. {unknown[0]!r}): they are logs of a different dataset")
    if not iset.ids:
        log.warning("selfimp_%s_improve: the improvement set is empty (%d common docs): every "
                    "metric is NaN", name, iset.n_common)
        placeholder = next(i for i in (*iset.both, *iset.neither, *iset.forgotten))
        docs = [{**rows[placeholder], IN_IS: False}]
    else:
        log.info("selfimp_%s_improve: improvement set of %d docs (of %d common)", name,
                 len(iset.ids), iset.n_common)
        members = set(iset.ids)
        docs = [{**row, IN_IS: True} for i, row in rows.items() if i in members]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def task_of_doc(doc: dict) -> str:
    """A dataset prompted like this normalised row (all numeric datasets share gsm8k's format)."""
    return registry.spec_of_doc(doc).name


def doc_to_text(doc: dict) -> str:
    return prompts.prompt(task_of_doc(doc), doc)


def doc_to_target(doc: dict) -> str:
    return prompts.gold_completion(task_of_doc(doc), doc).strip()


class SelfimpTask(ConfigurableTask):
    """Every selfimp task (`class:` in `_templates/common.yaml`): lm-eval's YAML task, except that under
    `--apply_chat_template` its requests stop at `prompts.chat_stops(until)`, as the trainer's samples do."""

    def __init__(self, config: dict) -> None:
        super().__init__(config={k: v for k, v in config.items() if k != "class"})

    def construct_requests(self, doc: dict, ctx: Any, **kwargs: Any):
        chat = kwargs.get("apply_chat_template", False)
        requests = super().construct_requests(doc, ctx, **kwargs)
        if chat:
            for request in requests if isinstance(requests, list) else [requests]:
                gen = request.arguments[1]
                until = gen.get("until", [])
                gen["until"] = prompts.chat_stops([until] if isinstance(until, str) else list(until))
        return requests


# ---------------------------------------------------------------- the verify filter
class VerifyFilter(Filter):
    """Judge all samples of all docs at once with the task's shared verifier."""

    def __init__(self, task: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from harness_ext.verify import get_verifier

        self.verifier = get_verifier(task)

    def apply(self, resps: Iterable[list[str]], docs: list[dict]) -> list[list[dict]]:
        resps = [list(r) for r in resps]
        refs = [self.verifier.reference(doc) for doc in docs]
        flat = self.verifier.records([text for r in resps for text in r],
                                     [ref for ref, r in zip(refs, resps) for _ in r])
        records, i = [], 0
        for r in resps:
            records.append(flat[i:i + len(r)])
            i += len(r)
        return records


# ---------------------------------------------------------------- per-doc results
def _records(results: Sequence) -> list[dict]:
    """The verify filter's records of one doc (lm-eval passes one entry per request)."""
    records = results[0]
    if not isinstance(records, list) or not all(isinstance(r, dict) and "correct" in r for r in records):
        raise SelfimpError("task has no verify filter: filtered_resps are not per-sample records")
    return records


def process_pass1(doc: dict, results: Sequence) -> dict:
    """pass@1; for code (records with "correct_shown"): on the shown tests, the standard one
    comparable with other harnesses, and `pass@1_hidden` on shown + hidden tests (the training
    verdict; the gap between the two is the rate of programs fitted to the shown tests)."""
    record = _records(results)[0]
    if "correct_shown" not in record:
        return {"pass@1": float(record["correct"])}
    return {"pass@1": float(record["correct_shown"]), "pass@1_hidden": float(record["correct"])}


def process_passn(doc: dict, results: Sequence) -> dict:
    """Unbiased pass@k per k (None when k > n) and avg@n; for improve docs, IS membership."""
    records = _records(results)
    n, c = len(records), sum(r["correct"] for r in records)
    out: dict[str, Any] = {f"pass@{k}": metrics.pass_at_k(n, c, k) if k <= n else None for k in PASS_K}
    out["avg@n"] = c / n
    if IN_IS in doc:
        out["improvement_set_size"] = int(doc[IN_IS])
        if not doc[IN_IS]:
            out = {key: (None if key != "improvement_set_size" else 0) for key in out}
    return out


def process_diversity(doc: dict, results: Sequence) -> dict:
    """Per class (correct / incorrect) of this doc's samples: Distinct-N, the texts for SBERT
    (scored in the aggregation), Distinct Equations in a domain whose solutions write equations; None
    when undefined (`metrics.UNDEFINED`: e.g. fewer than 2 texts)."""
    records = _records(results)
    out: dict[str, Any] = {"avg@n": sum(r["correct"] for r in records) / len(records)}
    equations = registry.spec_of_doc(doc).domain.equations
    names = ("distinct_n", "distinct_equations") if equations else ("distinct_n",)
    for cls, want in zip(CLASSES, (True, False)):
        texts = [r["text"] for r in records if r["correct"] is want]
        enough = len(texts) >= metrics.MIN_TEXTS
        out[f"n_problems_{cls}"] = int(enough)
        out[f"sbert_{cls}"] = texts if enough else None
        for name in names:
            value = metrics.problem_diversity(name, texts)
            out[f"{name}_{cls}"] = None if math.isnan(value) else value
    return out


def process_groups(doc: dict, results: Sequence) -> dict:
    """Greedy pass@1 overall and for the doc's own level (other levels: None)."""
    correct = float(_records(results)[0]["correct"])
    levels = registry.levels_of_doc(doc)
    out: dict[str, Any] = {"pass@1": correct}
    out.update({f"level_{lv}": correct if doc.get("level") == lv else None for lv in levels})
    out["group_disparity"] = [doc.get("level"), correct]
    return out


# ---------------------------------------------------------------- aggregations
def mean(values: Sequence) -> float:
    """Mean over the values that are not None/NaN; NaN when none are left (`metrics.problem_mean`)."""
    return metrics.problem_mean(values)[0]


def total(values: Sequence) -> int:
    return int(sum(values))


def sbert_diversity(values: Sequence) -> float:
    """Mean SBERT diversity over the docs with >= 2 texts, all encoded in one batch."""
    groups = [v for v in values if v]
    return mean(metrics.sbert_diversity_many(groups)) if groups else math.nan


def _group_disparity(values: Sequence, levels: tuple[int, ...]) -> float:
    """GD from the declared first and last level (NaN when either has no doc)."""
    by_level = {lv: [c for level, c in values if level == lv] for lv in (levels[0], levels[-1])}
    acc = {lv: sum(cs) / len(cs) for lv, cs in by_level.items() if cs}
    return metrics.group_disparity(acc, levels[0], levels[-1])


def group_disparity_of(dataset: str):
    """The `group_disparity` aggregation of one dataset's groups task: (L_first − L_last) / L_first
    over its declared levels (math: Level 1 vs 5; arith: 1 vs 4 steps)."""
    levels = registry.get(dataset).levels
    if not levels:
        raise SelfimpError(f"{dataset} declares no difficulty levels: it has no groups task")

    def aggregate(values: Sequence) -> float:
        return _group_disparity(values, levels)

    aggregate.__name__ = f"{GROUP_DISPARITY_PREFIX}{dataset}"
    return aggregate


def __getattr__(name: str):
    """`group_disparity_<dataset>` for every dataset with levels (what the YAMLs' `!function` name)."""
    dataset = name.removeprefix(GROUP_DISPARITY_PREFIX)
    if name.startswith(GROUP_DISPARITY_PREFIX) and registry.declared_levels(dataset):
        return group_disparity_of(dataset)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
