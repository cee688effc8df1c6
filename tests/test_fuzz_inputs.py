"""Fuzzing the CLIs' inputs (hypothesis, derandomized): sample-log lines, manifest.json, sweep.json and YAML
configs. Every input either works or stops with one `error: ...` line and exit 2, writing nothing."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from cli_checks import tree_digest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lmeval_logs import our_log_lines, write_log

from harness_ext import report, sweep, sweep_settings
from harness_ext.run_format import is_dir_name
from selfimp_train import cli as train_cli
from selfimp_train.config import TrainConfig, field_hints
from selfimp_train.field_types import matches

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TASK = "selfimp_arith_pass1"
DOCS = [({"id": f"q{i}", "question": f"{i}+1?", "answer": f"#### {i + 1}"}, [("t", str(i + 1), i % 2 == 0)])
        for i in range(3)]
SCALARS = (st.none() | st.booleans() | st.integers(-3, 10**30) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["", "..", "../x", "M1", "a/b", ".tmp-1", "complete"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


class Reached(Exception):
    """The input passed every check and reached the (mocked) work."""


def outcome(capsys, main, argv: list[str]) -> str:
    """'ok' or 'reached' when `main` accepted the input, 'error' after one `error:` line and exit 2."""
    capsys.readouterr()
    try:
        main(argv)
    except Reached:
        result = "reached"
    except SystemExit as e:
        err = capsys.readouterr().err.strip().splitlines()
        assert e.code == 2 and len(err) == 1 and err[0].startswith("error: "), (e.code, err)
        result = "error"
    else:
        result = "ok"
    event(result)  # `pytest --hypothesis-show-statistics` shows how many inputs got how far
    return result


def mutate(draw, obj: dict, keys: list[str]) -> dict:
    """`obj` with some of `keys` dropped or replaced by arbitrary JSON."""
    obj = dict(obj)
    for key in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(JSON)
    return obj


def dump(draw, obj) -> bytes:
    """`obj` as JSON text, or (sometimes) raw bytes instead."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=60))
    return json.dumps(obj).encode()


# ------------------------------------------------------------------ sample-log lines -> selfimp-report


@st.composite
def log_lines(draw, raw: bool) -> bytes:
    """Lines of our task (per-sample records) or, `raw`, of a built-in task (generations only), mutated."""
    lines = []
    for line in our_log_lines(DOCS):
        record = mutate(draw, {"text": "t", "answer": "1", "correct": True}, ["text", "answer", "correct"])
        form = draw(st.sampled_from([dict, repr, json.dumps]))
        choices = [[["t"]], [[record]]] if raw else [[[form(record)]], [[record, "x"]], [form(record)]]
        line["filtered_resps"] = draw(st.sampled_from(choices))
        lines.append(dump(draw, mutate(draw, line, ["doc_id", "doc", "filtered_resps", "resps", "doc_hash"])))
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b"", b"\r\n"]))


@pytest.mark.parametrize("task", [TASK, "gsm8k"])  # gsm8k: a built-in task's log, rescored from its raw resps
@FUZZ
@given(data=st.data())
def test_report_on_fuzzed_sample_logs(capsys, task, data):
    content = data.draw(log_lines(raw=task != TASK))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = write_log(root / "a", task, [])
        path.write_bytes(content)
        write_log(root / "b", task, our_log_lines(DOCS))
        result = outcome(capsys, report.main, [str(root / "a"), str(root / "b"), "--out", str(root / "o"),
                                               "--no-sbert"])
        assert (root / "o").exists() == (result == "ok")


# ------------------------------------------------------------------ sweep.json -> selfimp-report


@st.composite
def sweep_json(draw) -> bytes:
    entries = [mutate(draw, {"label": label, "t": t, "method": "sft"}, ["label", "t", "method"])
               for label, t in (("M1", 1), ("M2", 2))]
    meta = {"train_task": "arith", "checkpoints": draw(st.sampled_from([entries, entries[:1], entries[::-1]]))}
    return dump(draw, mutate(draw, meta, ["train_task", "checkpoints"]))


@FUZZ
@given(content=sweep_json())
def test_report_on_fuzzed_sweep_json(capsys, content):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label in ("M1", "M2", "outside"):
            write_log(root / "sweep" / label / "d", TASK, our_log_lines(DOCS))
        (root / "sweep" / "sweep.json").write_bytes(content)
        result = outcome(capsys, report.main, [str(root / "sweep"), "--out", str(root / "o"), "--no-sbert"])
        assert (root / "o").exists() == (result == "ok")


# ------------------------------------------------------------------ manifest.json -> selfimp-eval sweep, --resume


ITERATION = {"t": 1, "method": "sft", "label": "M1", "checkpoint": "iter_1", "status": "complete"}
MANIFEST = {"format": 1, "task": "arith", "method": "sft", "config": {"model": None}, "samples": {},
            "iterations": [ITERATION]}


@st.composite
def manifest_json(draw, base: dict) -> bytes:
    iteration = mutate(draw, ITERATION, list(ITERATION))
    manifest = {**base, "iterations": draw(st.sampled_from([[iteration], [ITERATION, iteration], []]))}
    return dump(draw, mutate(draw, manifest, list(manifest)))


@FUZZ
@given(content=manifest_json(MANIFEST))
def test_sweep_on_fuzzed_manifests(capsys, content):
    def accept(out, source, train_task, specs, *args, **kwargs):
        assert all(is_dir_name(s.label) for s in specs) and isinstance(train_task, str)
        raise Reached

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        (run / "iter_1").mkdir(parents=True)
        (run / "manifest.json").write_bytes(content)
        before = tree_digest(run)
        with mock.patch.object(sweep, "sweep", accept), \
                mock.patch.object(sweep_settings, "default_device", lambda: "cpu"):
            assert outcome(capsys, sweep.main, [str(run)]) in ("error", "reached")
        assert tree_digest(run) == before


@pytest.fixture(scope="module")
def train_manifest(tmp_path_factory) -> dict:
    """The manifest.json a fresh embedded run starts with (its config is what --resume compares)."""
    from selfimp_train.config import parse_config
    from selfimp_train.task_loading import evaluation_setting
    from selfimp_train.manifest import open_manifest

    cfg = parse_config(["--out", str(tmp_path_factory.mktemp("fresh") / "r")])
    return open_manifest(cfg, evaluation_setting(cfg))


@FUZZ
@given(data=st.data())
def test_train_resume_on_fuzzed_manifests(capsys, train_manifest, data):
    content = data.draw(manifest_json({**train_manifest, "iterations": []}))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "r"
        run.mkdir()
        (run / "manifest.json").write_bytes(content)
        before = tree_digest(run)
        with mock.patch.object(train_cli, "run", side_effect=Reached):
            outcome(capsys, train_cli.main, ["--out", str(run), "--resume"])
        assert tree_digest(run) == before


# ------------------------------------------------------------------ YAML configs -> selfimp-train


FIELDS = sorted(field_hints())
YAML_VALUES = JSON | st.sampled_from([".nan", "-1", "0", "1e-3", "[1, 2]", "all-linear", "--iters", "sigmoid"])


@st.composite
def yaml_configs(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
    keys = draw(st.lists(st.sampled_from(FIELDS + ["temprature", "1"]), max_size=4, unique=True))
    return yaml.safe_dump({key: draw(YAML_VALUES) for key in keys}, allow_unicode=True).encode()


@FUZZ
@given(content=yaml_configs())
def test_train_on_fuzzed_yaml_configs(capsys, content):
    def accept(cfg: TrainConfig, *args, **kwargs):
        hints = field_hints()
        assert all(matches(getattr(cfg, name), hint) for name, hint in hints.items())
        raise Reached

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "c.yaml").write_bytes(content)
        with mock.patch.object(train_cli, "run", accept):
            outcome(capsys, train_cli.main, ["--config", str(root / "c.yaml"), "--out", str(root / "r")])
        assert not (root / "r").exists()
