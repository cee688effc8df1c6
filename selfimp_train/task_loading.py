"""Loading a run's task: its rows, prompts, references and verifier (`TaskData`), and the run's one
greedy-evaluation setting, from the config."""
from __future__ import annotations

from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.eval_setting import EvalSetting, default_device
from harness_ext.prompts import chat_prompt, prompt
from harness_ext.verify import get_verifier
from selfimp_train.config import TrainConfig
from selfimp_train.models import base_tokenizer
from selfimp_train.task_data import TaskData


def evaluation_setting(cfg: TrainConfig) -> EvalSetting:
    """The run's one greedy-evaluation setting (manifest.json's `eval_setting`)."""
    return EvalSetting.for_task(cfg.task, backend=cfg.sampler, dtype=cfg.eval_dtype, device=default_device(),
                                batch_size=cfg.eval_batch_size, max_new_tokens=cfg.max_new_tokens,
                                max_questions=cfg.eval_max_questions, chat_template=cfg.apply_chat_template,
                                attn_implementation=cfg.attn_implementation)


def load_task(cfg: TrainConfig) -> TaskData:
    train = load_rows(cfg.task, "train", cfg.data_dir)
    test = load_rows(cfg.task, "test", cfg.data_dir)
    if cfg.eval_max_questions is not None:
        test = test[: cfg.eval_max_questions]
    if not train:
        raise SelfimpError(f"--task {cfg.task}: the training split is empty")
    verifier = get_verifier(cfg.task)
    rows = train + test
    setting = evaluation_setting(cfg)
    prompts = {r["id"]: prompt(cfg.task, r) for r in rows}
    if cfg.apply_chat_template:
        tokenizer = base_tokenizer(cfg)
        prompts = {qid: chat_prompt(tokenizer, text) for qid, text in prompts.items()}
    return TaskData(
        name=cfg.task,
        train=train,
        test=test,
        prompts=prompts,
        references={r["id"]: verifier.reference(r) for r in rows},
        verifier=verifier,
        stop=list(setting.stop),
        max_new_tokens=setting.max_new_tokens,
        eval=setting,
    )
