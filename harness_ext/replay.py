"""The trainer's greedy completions, served to lm-eval as a model, so that `selfimp-eval sweep <run>`
scores each checkpoint's greedy test completions without generating them a second time.

`selfimp-train` evaluates every checkpoint greedily on the test split in the run's recorded evaluation
setting and keeps each prompt with its completion (`<checkpoint>/eval_greedy.jsonl`). Where the sweep's
greedy tasks use that same setting, `TrainerGreedyLM` answers each lm-eval request with the trainer's
completion of that doc, after checking that lm-eval's context is the very prompt the trainer
completed and that the request asks for the same decoding (greedy, stop sequences, token limit). lm-eval
then filters, scores and logs as for any model. Nothing is served that was not checked: a request
without such a completion is an error, not a fallback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from harness_ext import registry
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting
from harness_ext.io import read_jsonl
from harness_ext.registry.variants import GROUPS
from harness_ext.run_format import EVAL_RECORDS
from harness_ext.samples import doc_stable_id
from harness_ext.sweep_checkpoints import CheckpointSpec
from harness_ext.sweep_settings import SweepSettings


class TrainerGreedyLM(LM):
    """lm-eval `generate_until` from one checkpoint's eval_greedy.jsonl (records with `prompt`); its class
    name is the `config.model` of the results it answers (the report reads it there)."""

    def __init__(self, records_path: Path, records: dict[str, dict], setting: EvalSetting, checkpoint: str):
        super().__init__()
        self.path, self.records, self.setting, self.checkpoint = records_path, records, setting, checkpoint

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        return [self._completion(req) for req in requests]

    def _completion(self, req) -> str:
        context, gen_kwargs = req.args
        qid = doc_stable_id({"doc": req.doc, "doc_id": req.doc_id})
        record = self.records.get(qid)
        where = f"{self.path}: task {req.task_name!r}, doc {qid!r}"
        if record is None:
            raise SelfimpError(f"{where}: the trainer made no greedy completion of this doc; "
                               "rerun the sweep with --regenerate-greedy")
        if record.get("prompt") != context:
            raise SelfimpError(f"{where}: lm-eval's prompt is not the one the trainer completed; "
                               "rerun the sweep with --regenerate-greedy")
        asked = (bool(gen_kwargs.get("do_sample")) or float(gen_kwargs.get("temperature") or 0.0) > 0,
                 list(gen_kwargs.get("until") or []), gen_kwargs.get("max_gen_toks"))
        made = (False, list(self.setting.stop), self.setting.max_new_tokens)
        if asked != made:
            raise SelfimpError(f"{where}: the request asks for (sampled, stop, max tokens) {asked}, the trainer "
                               f"made {made}; rerun the sweep with --regenerate-greedy")
        return record["completion"]

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise SelfimpError("the trainer's greedy completions serve generation tasks only")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        raise SelfimpError("the trainer's greedy completions serve generation tasks only")

    def get_model_info(self) -> dict[str, Any]:
        """Recorded in results_*.json's config: where the completions came from."""
        return {"model_source": self.checkpoint, "completions": str(self.path)}


def replayable_records(records_path: Path) -> dict[str, dict] | None:
    """An eval_greedy.jsonl's records by question id, if it keeps its prompts (None: no file, or a run
    made before prompts were kept)."""
    records = read_jsonl(records_path) if records_path.is_file() else []
    if not records or not all("prompt" in r for r in records):
        return None
    return {r["question_id"]: r for r in records}


@dataclass(frozen=True)
class GreedyReplay:
    """The trainer's greedy test completions that the sweep scores instead of generating them again
    (`TrainerGreedyLM`): per checkpoint label its eval_greedy.jsonl and that file's records, made in
    `setting`, and the sweep's tasks over those problems with that decoding (the training task's pass1
    and groups tasks)."""

    records: dict[str, tuple[Path, dict[str, dict]]]
    setting: EvalSetting
    tasks: frozenset[str]

    def covers(self, label: str, task: str) -> bool:
        return label in self.records and task in self.tasks

    def model(self, spec: CheckpointSpec):
        """The lm-eval model that serves this checkpoint's completions."""
        path, records = self.records[spec.label]
        return TrainerGreedyLM(path, records, self.setting, spec.path)


def greedy_replay(specs: list[CheckpointSpec], recorded: EvalSetting | None, settings: SweepSettings,
                  train_task: str, comparison: dict | None) -> GreedyReplay | None:
    """What can be replayed: only where the sweep's greedy setting is the run's (`comparison`), without a
    chat template (lm-eval would build those prompts through its model), and only checkpoints whose
    eval_greedy.jsonl keeps its prompts."""
    if recorded is None or not (comparison or {}).get("comparable") or settings.apply_chat_template:
        return None
    records = {}
    for spec in specs:
        path = Path(spec.path) / EVAL_RECORDS
        if (kept := replayable_records(path)) is not None:
            records[spec.label] = (path, kept)
    tasks = frozenset({registry.task_name(train_task, "pass1"), registry.task_name(train_task, GROUPS.suffix)})
    return GreedyReplay(records, recorded, tasks) if records else None
