"""The trainer's greedy completions served to lm-eval (harness_ext.replay): served only for the very
prompt and decoding the trainer used, an error otherwise; and the sweep uses them only where it may."""
from __future__ import annotations

from pathlib import Path

import pytest
from lm_eval.api.instance import Instance

from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting
from harness_ext.io import atomic_write_jsonl
from harness_ext.prompts import prompt
from harness_ext.replay import TrainerGreedyLM, greedy_replay, replayable_records
from harness_ext.run_format import EVAL_RECORDS, TRAINER_GREEDY_MODEL
from harness_ext.sweep_checkpoints import CheckpointSpec
from harness_ext.sweep_settings import SweepSettings

SETTING = EvalSetting.for_task("arith", backend="hf", dtype="float32", device="cpu", batch_size=8, max_questions=3)
ROWS = load_rows("arith", "test")[:3]


def request(row: dict, **gen) -> Instance:
    gen = {"until": list(SETTING.stop), "max_gen_toks": SETTING.max_new_tokens, "do_sample": False,
           "temperature": 0.0, **gen}
    return Instance("generate_until", row, (prompt("arith", row), gen), 0, ("selfimp_arith_pass1", 0, 1))


def records_file(tmp_path: Path, rows: list[dict], with_prompt: bool = True) -> Path:
    path = tmp_path / EVAL_RECORDS
    atomic_write_jsonl(path, [{"question_id": r["id"], **({"prompt": prompt("arith", r)} if with_prompt else {}),
                               "completion": f" answer {i}", "answer": str(i), "correct": False}
                              for i, r in enumerate(rows)])
    return path


def test_serves_the_trainers_completion_of_each_doc(tmp_path):
    path = records_file(tmp_path, ROWS)
    lm = TrainerGreedyLM(path, replayable_records(path), SETTING, "ckpt")
    assert lm.generate_until([request(ROWS[2]), request(ROWS[0])]) == [" answer 2", " answer 0"]
    assert type(lm).__name__ == TRAINER_GREEDY_MODEL  # what the report looks for in results_*.json
    assert lm.get_model_info() == {"model_source": "ckpt", "completions": str(tmp_path / EVAL_RECORDS)}


@pytest.mark.parametrize("case", ["missing doc", "other prompt", "sampled", "other stop", "longer"])
def test_anything_the_trainer_did_not_make_is_an_error(tmp_path, case):
    path = records_file(tmp_path, ROWS[:2])
    req = {"missing doc": request(ROWS[2]), "sampled": request(ROWS[0], do_sample=True, temperature=0.75),
           "other stop": request(ROWS[0], until=["\n"]), "longer": request(ROWS[0], max_gen_toks=512),
           "other prompt": Instance("generate_until", ROWS[0], ("Q: " + prompt("arith", ROWS[0]), request(ROWS[0]).args[1]),
                                    0, ("selfimp_arith_pass1", 0, 1))}[case]
    with pytest.raises(SelfimpError, match=rf"{EVAL_RECORDS}: task 'selfimp_arith_pass1', doc '{req.doc['id']}'.*--regenerate-greedy"):
        TrainerGreedyLM(path, replayable_records(path), SETTING, "ckpt").generate_until([request(ROWS[1]), req])


def test_the_sweep_replays_only_comparable_runs_with_prompts(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    records_file(tmp_path / "old", ROWS, with_prompt=False)
    records_file(tmp_path / "new", ROWS)
    assert replayable_records(tmp_path / "old" / EVAL_RECORDS) is None
    assert set(replayable_records(tmp_path / "new" / EVAL_RECORDS)) == {r["id"] for r in ROWS}
    specs = [CheckpointSpec("M1", str(tmp_path / "old"), 1, "sft"), CheckpointSpec("M2", str(tmp_path / "new"), 2, "sft")]
    comparable = {"comparable": True, "differences": []}
    replay = greedy_replay(specs, SETTING, SweepSettings(), "arith", comparable)
    assert list(replay.records) == ["M2"] and replay.records["M2"][0] == tmp_path / "new" / EVAL_RECORDS
    assert replay.covers("M2", "selfimp_arith_pass1") and replay.covers("M2", "selfimp_arith_groups")
    assert not replay.covers("M2", "selfimp_arith_passn") and not replay.covers("M2", "selfimp_arith_ood_pass1")
    assert greedy_replay(specs, SETTING, SweepSettings(), "arith", {"comparable": False, "differences": ["dtype"]}) is None
    assert greedy_replay(specs, None, SweepSettings(), "arith", comparable) is None
    assert greedy_replay(specs, SETTING, SweepSettings(apply_chat_template=True), "arith", comparable) is None
