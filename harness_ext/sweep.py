"""`selfimp-eval sweep`: evaluate every checkpoint of a training run (or a given list) with the same
lm-eval settings, one `simple_evaluate` per checkpoint, writing lm-eval's own output files.

    selfimp-eval sweep runs/<name> [--tasks ...] [--n 64] [--limit N] [--sampled-limit N] [--out DIR]
    selfimp-eval sweep --checkpoints m1_dir m2_dir --labels M1 M2 --train-task gsm8k --out DIR

Layout: `<out>/sweep.json` and `<out>/<label>/<date>/{results_<date>.json, samples_<task>_<date>.jsonl}`.
Each checkpoint's new results are written under a hidden `<label>/.tmp-*` dir and renamed into place
in one step, so a killed sweep leaves nothing half-done that counts; re-running it evaluates only the
checkpoint x task pairs that have no results yet.

A run's greedy test tasks (pass1, groups) in the run's own evaluation setting are scored from the
completions the trainer already made (harness_ext.replay: same prompts, checked one by one), so each
checkpoint is generated greedily once; `--regenerate-greedy` has lm-eval's model make them anew.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from harness_ext import registry
from harness_ext.distributed import process_state
from harness_ext.errors import SelfimpError, cli_errors
from harness_ext.io import check_output_dir, read_json
from harness_ext.replay import GreedyReplay, greedy_replay
from harness_ext.run_format import (
    DEFAULT_SWEEP_SUBDIR,
    RESULTS_PREFIX,
    TMP_PREFIX,
    RunManifest,
    lm_eval_samples_file,
    results_file,
    sweep_meta,
    write_sweep,
)
from harness_ext.sweep_checkpoints import CheckpointSpec, explicit_checkpoints, is_hub_id, run_checkpoints
from harness_ext.sweep_settings import SweepSettings, check_settings, default_tasks, sweep_settings, trainer_comparison


def model_args_for(spec: CheckpointSpec, settings: SweepSettings) -> str:
    """`pretrained=<dir>` (or `pretrained=<base>,peft=<dir>` for a LoRA adapter), dtype, then the user's."""
    path = Path(spec.path)
    args = f"pretrained={spec.path}"
    if path.is_dir() and not (path / "config.json").is_file():
        adapter = next((p for p in (path, path / "adapter") if (p / "adapter_config.json").is_file()), None)
        if adapter is None:
            raise SelfimpError(f"{path}: neither an HF checkpoint (config.json) nor a PEFT adapter")
        base = read_json(adapter / "adapter_config.json").get("base_model_name_or_path")
        args = f"pretrained={base},peft={adapter}"
    if settings.dtype:
        args += f",dtype={settings.dtype}"
    if settings.attn_implementation:
        args += f",attn_implementation={settings.attn_implementation}"
    return args + (f",{settings.model_args}" if settings.model_args else "")


def completed_tasks(label_dir: Path) -> set[str]:
    """Tasks with a results file and a samples file in a finished (non-hidden) output dir."""
    done: set[str] = set()
    if not label_dir.is_dir():
        return done
    for results in label_dir.rglob(results_file("*")):
        if any(part.startswith(".") for part in results.relative_to(label_dir).parts):
            continue
        date = results.stem.removeprefix(RESULTS_PREFIX)
        try:
            tasks = read_json(results).get("results", {})
        except (SelfimpError, AttributeError):
            continue  # not a results file of lm-eval: its tasks count as not done
        if isinstance(tasks, dict):
            done |= {t for t in tasks if (results.parent / lm_eval_samples_file(t, date)).is_file()}
    return done


def evaluate_checkpoint(spec: CheckpointSpec, tasks: list[str], settings: SweepSettings, task_manager,
                        out: Path, lm=None) -> Path | None:
    """One simple_evaluate over `tasks`; lm-eval's files land in <out>/<label>/<date>/ by one rename.
    `lm`: an lm-eval model object to use instead of loading `settings.model` (the trainer's completions).
    Under `accelerate launch` every process evaluates its share of the docs; the main one writes
    (and returns the directory; the others return None). SIGTERM / SIGHUP exit after the vLLM
    engine is shut down."""
    from lm_eval.loggers import EvaluationTracker

    from harness_ext.termination import shutdown_vllm_engines, termination_as_exit

    tmp = out / spec.label / f"{TMP_PREFIX}{time.time_ns()}"
    is_main = process_state().is_main_process
    with termination_as_exit():
        try:
            if not is_main:
                _simple_evaluate(spec, tasks, settings, task_manager, tracker=None, lm=lm)
                return None
            tmp.mkdir(parents=True)
            tracker = EvaluationTracker(output_path=str(tmp / "lm_eval"))
            return _save_into(spec, _simple_evaluate(spec, tasks, settings, task_manager, tracker, lm), tracker, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutdown_vllm_engines()  # --model vllm: one engine at a time, not one per checkpoint


def _simple_evaluate(spec: CheckpointSpec, tasks: list[str], settings: SweepSettings, task_manager,
                     tracker, lm=None) -> dict | None:
    """lm-eval's results with their samples (None on a process other than the main one)."""
    from lm_eval import simple_evaluate

    return simple_evaluate(
        model=lm or settings.model, model_args=None if lm else model_args_for(spec, settings), tasks=tasks,
        task_manager=task_manager, limit=settings.limit, batch_size=settings.batch_size, device=settings.device,
        log_samples=True, evaluation_tracker=tracker, random_seed=settings.seed, numpy_random_seed=settings.seed,
        torch_random_seed=settings.seed, bootstrap_iters=settings.bootstrap_iters, gen_kwargs=settings.gen_kwargs,
        apply_chat_template=settings.apply_chat_template,
    )


def _save_into(spec: CheckpointSpec, results: dict | None, tracker, tmp: Path) -> Path:
    """Let `tracker` write `results` under `tmp`, gather them in tmp/<date>/, rename that next to `tmp`."""
    if results is None:
        raise SelfimpError(f"lm-eval returned no results for {spec.label}")
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    files = [f for f in (tmp / "lm_eval").rglob("*") if f.is_file()]
    date = tracker.date_id
    if not any(f.name == results_file(date) for f in files):
        raise SelfimpError(f"lm-eval did not write its results for {spec.label} into {tmp}")
    final = tmp / date
    final.mkdir()
    for f in files:
        f.replace(final / f.name)
    shutil.rmtree(tmp / "lm_eval")
    target = tmp.parent / date
    final.rename(target)
    return target


def draws_samples(task: str, task_manager) -> bool:
    """Does the lm-eval task draw several samples per problem (repeats > 1 or do_sample)? From the
    task index's resolved config, so a sweep's --n override counts."""
    config = getattr(task_manager.task_index.get(task), "cfg", None) or {}
    return int(config.get("repeats") or 1) > 1 or bool((config.get("generation_kwargs") or {}).get("do_sample"))


def tasks_by_limit(tasks: list[str], settings: SweepSettings, task_manager) -> dict[int | None, list[str]]:
    """One lm-eval call per problem limit: sampled tasks take `sampled_limit` where it is set (never more
    than `limit`)."""
    sampled_limit = min(x for x in (settings.sampled_limit, settings.limit) if x is not None) \
        if settings.sampled_limit is not None else settings.limit
    groups: dict[int | None, list[str]] = {}
    for task in tasks:
        groups.setdefault(sampled_limit if draws_samples(task, task_manager) else settings.limit, []).append(task)
    return groups


def clean_stale(out: Path, labels: list[str]) -> None:
    """Remove temporary dirs a killed sweep left behind (never counted as results)."""
    for label in labels:
        for tmp in (out / label).glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(tmp, ignore_errors=True)


def sweep(out: Path, source: str, train_task: str, specs: list[CheckpointSpec], tasks: list[str],
          settings: SweepSettings, log=print, comparison: dict | None = None,
          replay: GreedyReplay | None = None) -> dict:
    """Evaluate what is missing; returns {label: [tasks evaluated now]}. Under `accelerate launch`
    the processes split each evaluation's docs and the main process alone writes. `comparison`:
    see `trainer_comparison` (None: checkpoints without a training run); `replay`: the trainer's greedy
    completions to score instead of generating those tasks' completions again."""
    from tqdm import tqdm

    from harness_ext.lm_eval_compat import install_data_parallel, merged_include_dir, task_manager, tasks_dir

    state = process_state()
    install_data_parallel()
    if not state.is_main_process:
        log = _quiet

    meta = sweep_meta(source, train_task, [asdict(s) for s in specs], tasks, settings.n,
                      json.loads(json.dumps(asdict(settings))), comparison)
    check_settings(out, meta)
    for spec in specs:
        if not Path(spec.path).exists() and not is_hub_id(spec.path):
            raise SelfimpError(f"checkpoint {spec.label}: {spec.path} does not exist")
    with tempfile.TemporaryDirectory(prefix="selfimp_sweep_tasks_") as tmp:
        include = merged_include_dir([tasks_dir()], settings.n, into=tmp) if settings.n is not None else None
        tm = task_manager(include, include_defaults=False)  # indexing lm-eval's ~15k built-in tasks takes 6 s
        if any(t not in tm.all_tasks for t in tasks):
            tm = task_manager(include)
        unknown = [t for t in tasks if t not in tm.all_tasks]
        if unknown:
            raise SelfimpError(f"--tasks: unknown task(s) {', '.join(unknown)} (see `selfimp-eval ls tasks`)")
        if state.is_main_process:
            write_sweep(out, meta)
            clean_stale(out, [s.label for s in specs])
        done_now: dict[str, list[str]] = {}
        for spec in tqdm(specs, desc="sweep checkpoints", unit="ckpt", disable=not state.is_main_process):
            state.wait_for_everyone()  # every process sees the same finished results
            missing = [t for t in tasks if t not in completed_tasks(out / spec.label)]
            if not missing:
                log(f"{spec.label}: all {len(tasks)} tasks already evaluated, skipped")
                continue
            log(f"{spec.label}: evaluating {', '.join(missing)}")
            for limit, group in tasks_by_limit(missing, settings, tm).items():
                replayed = [t for t in group if replay and replay.covers(spec.label, t)]
                if replayed:
                    lm = replay.model(spec)
                    log(f"{spec.label}: {', '.join(replayed)} from the trainer's greedy completions ({lm.path})")
                    evaluate_checkpoint(spec, replayed, replace(settings, limit=limit), tm, out, lm=lm)
                generated = [t for t in group if t not in replayed]
                if generated:
                    evaluate_checkpoint(spec, generated, replace(settings, limit=limit), tm, out)
            done_now[spec.label] = missing
        state.wait_for_everyone()
    return done_now


def _quiet(*_: object) -> None:
    """The log of a process other than the main one."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfimp-eval sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", help="training run dir (runs/<name>, with manifest.json)")
    p.add_argument("--checkpoints", nargs="+", help="checkpoint dirs or HF ids instead of a run (first = M1)")
    p.add_argument("--labels", nargs="+", help="one label per --checkpoints entry")
    p.add_argument("--train-task", choices=registry.names(), metavar="DATASET",
                   help=f"training task of --checkpoints: one of {', '.join(registry.names())}")
    p.add_argument("--tasks", nargs="+", help="lm-eval tasks (default: the training task's pass1/passn/diversity, OOD, groups)")
    p.add_argument("--model", choices=("hf", "vllm"), help="lm-eval model backend (default: the run's, else hf)")
    p.add_argument("--model-args", default="", help="extra lm-eval model args, e.g. gpu_memory_utilization=0.8")
    p.add_argument("--dtype", help="model dtype for every checkpoint (default: the run's eval dtype, else float32)")
    p.add_argument("--n", type=int, help="samples per problem of the sampling tasks (default: theirs, 64 / 50)")
    p.add_argument("--limit", type=int, help="evaluate the first N problems of each task (default: the run's)")
    p.add_argument("--sampled-limit", type=int, help="the first N problems of the tasks that draw several samples "
                                                       "per problem (default: --limit; embedded arith: 300)")
    p.add_argument("--batch-size", default=None, help="lm-eval batch size (default: the run's eval batch, else auto)")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core; 1 on a machine whose cores are busy "
                   "with other jobs: spinning OpenMP threads there made HF generate many times slower)")
    p.add_argument("--gen-kwargs", help="lm-eval generation overrides for every task, e.g. max_gen_toks=256")
    p.add_argument("--attn-implementation", help="transformers attention of the hf model, e.g. eager or sdpa "
                                                 "(default: the run's --attn_implementation, else transformers')")
    p.add_argument("--apply-chat-template", action=argparse.BooleanOptionalAction, default=None,
                   help="prompts in the model's chat template, as lm-eval's --apply_chat_template "
                        "(default: as the run was trained and evaluated, else off)")
    p.add_argument("--regenerate-greedy", action="store_true",
                   help="generate the greedy test completions with lm-eval's model even where the run's trainer "
                        "made them in this sweep's setting (default: score the trainer's, harness_ext.replay)")
    p.add_argument("--out", help="sweep dir (default: <run>/sweep)")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.run) == bool(args.checkpoints):
        raise SelfimpError("give either a training run dir or --checkpoints, not both or neither")
    if args.run:
        run_dir = Path(args.run)
        if not run_dir.is_dir():
            raise SelfimpError(f"{run_dir}: no such run directory")
        run = RunManifest.read(run_dir)
        train_task, specs, embedded = run.task, run_checkpoints(run), run.embedded
        out = Path(args.out) if args.out else run_dir / DEFAULT_SWEEP_SUBDIR
        source, recorded = str(run_dir), run.eval_setting
    else:
        if not args.train_task or not args.out:
            raise SelfimpError("--checkpoints needs --train-task and --out")
        train_task, specs, embedded, out = args.train_task, explicit_checkpoints(args.checkpoints, args.labels), False, Path(args.out)
        source, recorded = "checkpoints", None
    check_output_dir(out)
    if args.n is not None and args.n < 1:
        raise SelfimpError(f"--n must be >= 1 (got {args.n})")
    for flag, value in (("--limit", args.limit), ("--sampled-limit", args.sampled_limit)):
        if value is not None and value < 1:
            raise SelfimpError(f"{flag} must be >= 1 (got {value})")
    settings = sweep_settings(args, recorded, train_task, embedded)
    comparison = trainer_comparison(recorded, settings, train_task) if args.run else None
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tasks = args.tasks or default_tasks(train_task, embedded)
    replay = None if args.regenerate_greedy else greedy_replay(specs, recorded, settings, train_task, comparison)
    sweep(out, source, train_task, specs, tasks, settings, comparison=comparison, replay=replay)
    if process_state().is_main_process:
        if comparison and not comparison["comparable"]:
            print("note: this sweep's greedy numbers are not comparable with the trainer's: "
                  + "; ".join(comparison["differences"]))
        print(f"sweep written to {out} ({len(specs)} checkpoints x {len(tasks)} tasks); next: selfimp-report {out}")
    return 0
