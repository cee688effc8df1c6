"""harness_ext.run_format: the one owner of the run-dir and sweep-dir file names, versions, readers
and writers."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness_ext import run_format as rf
from harness_ext.errors import SelfimpError


def test_no_other_module_spells_the_file_names():
    """Every module takes the run-dir and sweep-dir file names from run_format: no string constant
    (docstrings aside) elsewhere in harness_ext or selfimp_train is one of them."""
    names = {rf.MANIFEST, rf.EVAL_RECORDS, rf.ITERATION_RECORD, rf.M1_TEST_SAMPLES, rf.SUMMARY, rf.SWEEP_FILE}
    root = Path(rf.__file__).parents[1]
    found = []
    for path in [*root.glob("harness_ext/**/*.py"), *root.glob("selfimp_train/**/*.py")]:
        if path.name == "run_format.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(root)}:{n.lineno} {n.value!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and n.value in names and id(n) not in docstrings]
    assert not found
    assert (rf.checkpoint_dir(3, "dpo/"), rf.samples_file(3, "dpo/")) == ("dpo/iter_3", "dpo/samples_3.jsonl")


def test_manifest_round_trip_and_round_samples(tmp_path):
    (tmp_path / "samples_2.jsonl").write_text(json.dumps({"question_id": "q", "correct": True}) + "\n")
    manifest = {"format": rf.MANIFEST_FORMAT, "task": "arith", "iterations": [{"t": 2, "samples": "samples_2.jsonl"}]}
    rf.write_manifest(tmp_path, manifest)
    assert rf.is_run_dir(tmp_path) and rf.read_manifest(tmp_path) == manifest
    run = rf.RunManifest.read(tmp_path)
    assert run.round_samples(2) == [{"question_id": "q", "correct": True}]
    assert run.round_samples(3) is None and rf.read_m1_probe(tmp_path) is None
    assert (run.iterations, run.eval_setting, run.embedded) == ((), None, True)  # t=2 is not complete
    (tmp_path / rf.MANIFEST).write_text("[1, 2]")
    with pytest.raises(SelfimpError, match="manifest.json: not a selfimp-train manifest"):
        rf.read_manifest(tmp_path)


def test_sweep_meta_round_trip_and_bad_fields(tmp_path):
    meta = rf.sweep_meta("runs/x", "arith", [{"label": "M1", "path": "p", "t": 1, "method": "sft"}],
                         ["selfimp_arith_pass1"], 8, {"model": "hf"}, None)
    rf.write_sweep(tmp_path, meta)
    assert rf.is_sweep_dir(tmp_path) and rf.read_sweep(tmp_path) == meta and meta["format"] == rf.SWEEP_FORMAT
    assert rf.read_sweep_settings(tmp_path) == {"model": "hf"} and rf.read_sweep_settings(tmp_path / "none") is None
    for bad, message in (({**meta, "checkpoints": [{"label": ".x", "t": 1}]}, "label '.x' is not a directory name"),
                         ({**meta, "checkpoints": [{"label": "M1"}]}, r"checkpoints\[0\] needs a str 'label' and an int 't'"),
                         ({**meta, "trainer_comparison": 3}, "'trainer_comparison' must be an object or null")):
        (tmp_path / rf.SWEEP_FILE).write_text(json.dumps(bad))
        with pytest.raises(SelfimpError, match=message):
            rf.read_sweep(tmp_path)
    (tmp_path / rf.SWEEP_FILE).write_text("{}")
    with pytest.raises(SelfimpError, match="no 'settings' object"):
        rf.read_sweep_settings(tmp_path)
    assert (rf.results_file("D"), rf.lm_eval_samples_file("t", "D")) == ("results_D.json", "samples_t_D.jsonl")
