"""harness_ext.run_format: the one owner of the run-dir and sweep-dir file names, versions, readers
and writers."""
from __future__ import annotations

import json

import pytest

from harness_ext import run_format as rf
from harness_ext.errors import SelfimpError


def test_trainer_modules_use_the_same_names():
    from selfimp_train import loop, manifest, summary

    assert (manifest.MANIFEST, manifest.FORMAT) == (rf.MANIFEST, rf.MANIFEST_FORMAT)
    assert (loop.EVAL_RECORDS, loop.ITERATION_RECORD) == (rf.EVAL_RECORDS, rf.ITERATION_RECORD)
    assert (summary.M1_TEST_SAMPLES, summary.SUMMARY) == (rf.M1_TEST_SAMPLES, rf.SUMMARY)
    assert (rf.checkpoint_dir(3, "dpo/"), rf.samples_file(3, "dpo/")) == ("dpo/iter_3", "dpo/samples_3.jsonl")


def test_manifest_round_trip_and_round_samples(tmp_path):
    (tmp_path / "samples_2.jsonl").write_text(json.dumps({"question_id": "q", "correct": True}) + "\n")
    manifest = {"format": rf.MANIFEST_FORMAT, "iterations": [{"t": 2, "samples": "samples_2.jsonl"}]}
    rf.write_manifest(tmp_path, manifest)
    assert rf.is_run_dir(tmp_path) and rf.read_manifest(tmp_path) == manifest
    assert rf.round_samples(tmp_path, 2) == [{"question_id": "q", "correct": True}]
    assert rf.round_samples(tmp_path, 3) is None and rf.read_m1_probe(tmp_path) is None
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
