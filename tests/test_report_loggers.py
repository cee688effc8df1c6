"""`selfimp-report --report_to`: the report's pass@1 per round and its verdicts reach TensorBoard."""
from __future__ import annotations

import pytest
from report_sim import Size, null_report

from harness_ext.errors import SelfimpError
from harness_ext.report import main, write_report
from harness_ext.report.analysis import Options


def test_report_to_tensorboard_writes_each_methods_pass1_per_round(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    null_report(tmp_path, 0, Size(problems=60, level_first=30, level_last=10))
    out = tmp_path / "logged"
    report = write_report([str(tmp_path / f"m{t}") for t in (1, 2, 3)], out, opts=Options(sbert=False),
                          train_task="arith", report_to=["tensorboard"])
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    t_of = {c["label"]: c["t"] for c in report["checkpoints"]}
    checked = 0
    for method, labels in report["series"].items():
        for ds, table in [("selfimp_arith", report["datasets"]["selfimp_arith"]["pass1"]),
                          ("selfimp_svamp", report["ood"]["selfimp_svamp"])]:
            kind = "pass1" if ds == "selfimp_arith" else "ood_pass1"
            logged = {e.step: e.value for e in events.Scalars(f"{kind}/{ds}/{method}")}
            assert logged == pytest.approx({t_of[lab]: table[lab]["value"] for lab in labels})
            checked += len(logged)
    assert checked >= 6
    assert "verdicts/text_summary" in events.Tags()["tensors"]


def test_report_to_refuses_an_unknown_logger(tmp_path, capsys):
    with pytest.raises(SelfimpError, match="unknown value 'mlflow'"):
        write_report([str(tmp_path)], tmp_path / "out", report_to=["mlflow"])
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--report_to", "mlflow"])
    assert exit_info.value.code == 2 and "--report_to" in capsys.readouterr().err
