"""The settings of one sweep: the sweep's flags, the run's recorded evaluation setting and the
(embedded) defaults resolved into `SweepSettings`, compared with the trainer's setting, and checked
against those of an existing sweep dir."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from harness_ext import arith, registry
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting, default_device
from harness_ext.prompts import max_gen_toks
from harness_ext.run_format import SWEEP_FILE, read_sweep_settings

# Embedded CPU default (task arith, tiny model): greedy tasks on the whole test split (6000 problems), as the
# trainer evaluates (its recorded eval_setting; these limit / batch_size only serve runs that record none), so
# that IS(t) holds ~420 problems and the accuracy and beyond-M1 verdicts decide by design (docs/verdicts.md,
# power); the sampled task (8 samples per problem) on the first 300, enough for pass@k and the matched-count
# diversity test.
EMBEDDED = {"limit": arith.SPLITS["test"].n, "sampled_limit": 300, "n": 8, "batch_size": 256}


@dataclass
class SweepSettings:
    """What must be identical for every checkpoint of one sweep directory."""

    model: str = "hf"
    model_args: str = ""
    dtype: str = "float32"
    n: int | None = None
    limit: int | None = None
    sampled_limit: int | None = None  # problems of the tasks that draw several samples per problem (None: limit)
    batch_size: str = "auto"
    device: str | None = None
    seed: int = 0
    bootstrap_iters: int = 100000  # lm-eval's stderr bootstrap (its CLI default)
    gen_kwargs: str | None = None  # lm-eval --gen_kwargs, e.g. max_gen_toks=256
    apply_chat_template: bool = False  # lm-eval --apply_chat_template (the trainer's --apply_chat_template)
    attn_implementation: str | None = None  # hf model arg (the trainer's --attn_implementation)


def default_tasks(train_task: str, embedded: bool = False) -> list[str]:
    """pass@1, pass@k and diversity of the training task, plus OOD and difficulty groups where defined.

    Embedded: no separate diversity task (with one n for both it would repeat the passn sampling;
    selfimp-report takes diversity from the passn samples) and no pass1 task (the arith groups task is
    the same greedy evaluation with levels, and the report reads pass@1 from it)."""
    return registry.default_eval_tasks(train_task, diversity=not embedded, pass1=not embedded)


def trainer_comparison(recorded: EvalSetting | None, settings: SweepSettings, train_task: str) -> dict:
    """sweep.json's `trainer_comparison`: do this sweep's greedy tasks use the run's evaluation setting,
    so that its per-doc verdicts (pass@1, IS(t)) are the trainer's? `differences` says where not."""
    if recorded is None:
        return {"comparable": None, "differences": ["the run's manifest.json records no eval_setting"]}
    from lm_eval.utils import simple_parse_args_string

    gen = simple_parse_args_string(settings.gen_kwargs or "")
    used = EvalSetting.for_task(
        train_task, backend=settings.model, dtype=settings.dtype, device=(settings.device or "").split(":")[0],
        batch_size=int(settings.batch_size) if settings.batch_size.isdigit() else settings.batch_size,
        max_new_tokens=gen.pop("max_gen_toks", None), max_questions=settings.limit,
        chat_template=settings.apply_chat_template, attn_implementation=settings.attn_implementation)
    differences = recorded.differences(used) + [f"gen_kwargs: {k}={v!r} (sweep only)" for k, v in gen.items()]
    return {"comparable": not differences, "differences": differences}


def sweep_settings(args: argparse.Namespace, recorded: EvalSetting | None, train_task: str,
                   embedded: bool) -> SweepSettings:
    """Explicit flags win; then the run's recorded evaluation setting; then the (embedded) defaults."""
    values = {"model": "hf", "dtype": "float32", "batch_size": "auto", "limit": None, "sampled_limit": None,
              "gen_kwargs": None,
              **(EMBEDDED if embedded else {})}
    if recorded is not None:
        longer = recorded.max_new_tokens != max_gen_toks(train_task)
        values.update(model=recorded.backend, dtype=recorded.dtype, batch_size=recorded.batch_size,
                      limit=recorded.max_questions or None,  # 0: the trainer evaluated nothing
                      gen_kwargs=f"max_gen_toks={recorded.max_new_tokens}" if longer else None,
                      apply_chat_template=recorded.chat_template, attn_implementation=recorded.attn_implementation)
    given = {"model": args.model, "dtype": args.dtype, "batch_size": args.batch_size, "limit": args.limit,
             "sampled_limit": args.sampled_limit, "gen_kwargs": args.gen_kwargs, "n": args.n,
             "apply_chat_template": args.apply_chat_template, "attn_implementation": args.attn_implementation}
    values.update({k: v for k, v in given.items() if v is not None})
    return SweepSettings(model=values["model"], model_args=args.model_args, dtype=values["dtype"], n=values.get("n"),
                         limit=values["limit"], sampled_limit=values["sampled_limit"],
                         batch_size=str(values["batch_size"]),
                         device=args.device or default_device(), seed=args.seed, gen_kwargs=values["gen_kwargs"],
                         apply_chat_template=bool(values.get("apply_chat_template")),
                         attn_implementation=values.get("attn_implementation") if values["model"] == "hf" else None)


def check_settings(out: Path, meta: dict) -> None:
    """A sweep dir holds results of one set of settings: refuse to mix in others (a setting an older
    sweep.json lacks counts as None, its value then)."""
    old = read_sweep_settings(out)
    diff = {} if old is None else {k: (old.get(k), v) for k, v in meta["settings"].items() if old.get(k) != v}
    if diff:
        raise SelfimpError(f"{out / SWEEP_FILE}: this sweep was made with other settings {diff} (old, new); "
                           "use another --out")
