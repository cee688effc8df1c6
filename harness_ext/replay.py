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

from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting
from harness_ext.io import read_jsonl
from harness_ext.samples import doc_stable_id


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
