"""`selfimp-report`: progress-or-regress report from lm-eval sample logs only (no model needed).

    selfimp-report runs/<name>                       # a training run (reads runs/<name>/sweep)
    selfimp-report <sweep dir>                        # what `selfimp-eval sweep` wrote
    selfimp-report M1_dir M2_dir ... [--out report/]  # one lm-eval output dir per checkpoint, M1 first
    selfimp-report --compare base_dir tuned_dir       # reversal check of any two lm-eval runs (any task, any group)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness_ext.errors import SelfimpError, cli_errors
from harness_ext.io import atomic_write_json, atomic_write_text, check_output_dir
from harness_ext.metrics import SBERT_DTYPES, native_bf16_dtype
from harness_ext.report.analysis import Options, analyze, json_ready
from harness_ext.report.embedding_cache import default_cache_dir, encode_counts
from harness_ext.report.inputs import Checkpoint, load_inputs, load_log_dirs
from harness_ext.report.loggers import REPORT_TO, check_report_to, log_report
from harness_ext.report.markdown import render
from harness_ext.report.mechanisms_render import mechanism_lines, mechanism_plots
from harness_ext.report.plots import write_plots
from harness_ext.report.sbert_backends import BACKENDS, check_backend
from harness_ext.report.task_metrics import parse_overrides
from harness_ext.report.verdicts import MIN_CHANGE
from harness_ext.run_format import TRAINER_GREEDY_MODEL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfimp-report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="sweep dir, run dir, or one lm-eval output dir per checkpoint (M1 first)")
    p.add_argument("--compare", nargs=2, metavar=("BASE", "TUNED"), help="compare two lm-eval output dirs")
    p.add_argument("--out", default="report", help="output dir (default: ./report)")
    p.add_argument("--train-task", help="training task of plain log dirs (gsm8k, math, ...): the others are OOD")
    p.add_argument("--no-sbert", action="store_true", help="skip Sentence-BERT diversity (the slow part)")
    p.add_argument("--sbert-dtype", choices=("auto", *SBERT_DTYPES), default="float32",
                   help="Sentence-BERT dtype (default float32, as the lm-eval tasks; bfloat16: 1.5-2.4x faster on a "
                        "GPU or a CPU with AVX512-BF16 / AMX, scores within ~0.007; auto: bfloat16 where the "
                        "device has it natively, else float32)")
    p.add_argument("--sbert-backend", choices=BACKENDS, default="torch",
                   help="what runs the Sentence-BERT model (default torch, sentence-transformers' own; openvino: the "
                        "same model converted by OpenVINO, CPU only, needs `pip install 'selfimp[openvino]'`; "
                        "same tokenizer, pooling and normalisation; on 2 CPU cores 2x torch's speed in float32 with "
                        "the same numbers, 3.5x with --sbert-dtype bfloat16 within 0.001)")
    p.add_argument("--embedding-cache", metavar="DIR|off", default=None,
                   help="where Sentence-BERT embeddings are kept between reports (default: $SELFIMP_EMBEDDING_CACHE, "
                        "else the user cache dir, ~/.cache/selfimp/embeddings on Linux; off: encode in memory only)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap and permutation seed (default 0)")
    p.add_argument("--min-change", type=float, default=MIN_CHANGE, metavar="D",
                   help=f"smallest change of accuracy (or of GD) that matters (default {MIN_CHANGE}): a change "
                        "not found is 'no significant change' only when the interval lies within ±D, else "
                        "'inconclusive'")
    p.add_argument("--common-problems", action="store_true",
                   help="compare checkpoints whose logs of a task hold different problems on the problems all "
                        "of them hold, stating how many were left out of which (default: refuse)")
    p.add_argument("--metric", action="append", metavar="TASK=METRIC[,FILTER][>=T]",
                   help="per-doc score that decides 'solved' for TASK (a glob; repeatable), instead of the task's "
                        "declared primary metric or selfimp's verifier; a non-binary score needs >=T")
    p.add_argument("--report_to", nargs="+", default=["none"], choices=REPORT_TO, metavar="LOGGER",
                   help="also send each method's pass@1 per round and the verdicts to these loggers, as TRL's "
                        f"--report_to does for training curves ({', '.join(REPORT_TO)}; default none; "
                        "tensorboard: event files under OUT/tensorboard)")
    return p


def greedy_from_trainer(checkpoints: list[Checkpoint]) -> dict[str, list[str]]:
    """Per checkpoint, the tasks whose logs lm-eval scored from the trainer's greedy completions."""
    out = {ck.label: sorted(t for t, model in ck.results.models.items() if model == TRAINER_GREEDY_MODEL)
           for ck in checkpoints}
    return {label: tasks for label, tasks in out.items() if tasks}


def write_report(inputs: list[str] | None, out: str | Path, compare: list[str] | None = None,
                 opts: Options = Options(), train_task: str | None = None, metrics: list[str] | None = None,
                 report_to: list[str] = ("none",)) -> dict:
    """Analyse the logs and write report.json, report.md and the plots into `out` (and send the numbers
    to the loggers of `report_to`); returns report.json's data."""
    if compare and inputs:
        raise SelfimpError("give either input dirs or --compare BASE TUNED, not both")
    check_output_dir(out)
    check_report_to(list(report_to))
    overrides = parse_overrides(metrics)
    if compare:
        inp = load_log_dirs([Path(p) for p in compare], method="tuned", overrides=overrides)
    else:
        inp = load_inputs(list(inputs or []), overrides)
    inp.train_task = train_task or inp.train_task
    report = json_ready(analyze(inp, opts))
    report["trainer_comparison"] = inp.trainer_comparison
    report["greedy_from_trainer"] = greedy_from_trainer(inp.checkpoints)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SelfimpError(f"--out: {out}: cannot be created ({e.strerror})") from None
    plots = write_plots(report, out) + mechanism_plots(report, out)
    report["plots"] = plots
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", render(report, plots) + "\n".join(mechanism_lines(report, plots)))
    log_report(report, list(report_to), out)
    return report


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.inputs and not args.compare:
        raise SelfimpError("no input: give a sweep dir, a run dir, sample-log dirs or --compare BASE TUNED")
    dtype = native_bf16_dtype() if args.sbert_dtype == "auto" else args.sbert_dtype
    if not 0 < args.min_change < 1:
        raise SelfimpError(f"--min-change {args.min_change}: must lie between 0 and 1 (a change in accuracy)")
    if not args.no_sbert:
        check_backend(args.sbert_backend)
    cache = None if args.no_sbert or args.embedding_cache == "off" else args.embedding_cache or default_cache_dir()
    if cache:
        check_output_dir(cache, "--embedding-cache")
    opts = Options(sbert=not args.no_sbert, sbert_dtype=dtype, sbert_backend=args.sbert_backend, seed=args.seed,
                   min_change=args.min_change, common_problems=args.common_problems, embedding_cache=cache)
    write_report(args.inputs, args.out, args.compare, opts, train_task=args.train_task, metrics=args.metric,
                 report_to=args.report_to)
    print(f"wrote {Path(args.out) / 'report.md'} and report.json")
    if cache and (counts := encode_counts(cache, args.sbert_backend, dtype)):
        rejected = f" ({counts.rejected} corrupt or foreign cache files replaced)" if counts.rejected else ""
        print(f"Sentence-BERT: {counts.encoded} texts encoded, {counts.from_cache} read from the cache in "
              f"{cache}{rejected}")
    return 0
