"""TRL updates on a tiny model: DPO with the plain sigmoid loss and the RPO mix (sigmoid + SFT),
saved as loadable checkpoints."""
from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from selfimp_train.config import parse_config
from selfimp_train.tiny_model import build_tiny_llama, build_tokenizer
from selfimp_train.methods import UPDATES
from selfimp_train.trainers import TrainJob, dpo_trainer, train_and_save

PAIRS = [{"prompt": f"Question: Tom has {k} apples. How many apples does Tom have now?\nAnswer:",
          "chosen": f" Tom has {k} apples.\n#### {k}", "rejected": f" Tom has {k + 1} apples.\n#### {k + 1}"}
         for k in range(1, 9)]


@pytest.mark.parametrize("loss", [["--dpo_loss_type", "sigmoid"],
                                  ["--dpo_loss_type", "sigmoid", "sft", "--dpo_loss_weights", "1.0", "0.5"]])
def test_dpo_update_trains_and_saves(tmp_path, loss):
    cfg = parse_config(["--per_device_train_batch_size", "4", "--dpo_learning_rate", "1e-3",
                        "--dpo_warmup_ratio", "0", *loss])
    tokenizer = build_tokenizer()
    policy = build_tiny_llama(tokenizer, seed=0)
    policy.save_pretrained(tmp_path / "parent")  # M_{t-1}: the reference the DPO factory loads
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    args = UPDATES["dpo"].trl_config(cfg, None, seed=0, scratch=tmp_path / "scratch")
    trainer = dpo_trainer(TrainJob(policy, tokenizer, PAIRS, args, parent=tmp_path / "parent"))
    result = train_and_save(trainer, tmp_path / "out", lora=False)
    assert result.steps == 2 and result.train_loss is not None
    if loss[-1] == "sigmoid":
        assert 0.5 < result.train_loss < 1.0  # DPO starts at log 2 (policy = reference)
    else:
        assert result.train_loss > 1.5  # plus half the NLL of the chosen answers
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    assert any(not torch.equal(before[k], saved[k]) for k in before)
    reference = trainer.ref_model.state_dict()
    assert all(torch.equal(before[k], reference[k]) for k in before), "the reference stays frozen"


def test_lora_config_comes_from_trl_model_config():
    from selfimp_train.trainers import peft_config

    assert peft_config(parse_config([])) is None
    lora = peft_config(parse_config(["--lora", "--lora_r", "4"]))
    assert (lora.r, lora.lora_alpha, lora.task_type, lora.target_modules) == (4, 32, "CAUSAL_LM", "all-linear")
    # One named module stays a module name (TRL's ModelConfig would make it a full-name regex).
    assert peft_config(parse_config(["--lora", "--lora_target_modules", "q_proj"])).target_modules == {"q_proj"}


def test_report_to_tensorboard_writes_each_rounds_loss_under_the_run_dir(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from harness_ext.run_format import tensorboard_dir
    from selfimp_train.cli import main

    out = tmp_path / "run"
    assert main(["--method", "grpo", "--iters", "2", "--m1_max_examples", "32", "--m1_epochs", "1",
                 "--logging_steps", "1", "--per_device_train_batch_size", "8", "--grpo_max_questions", "4",
                 "--grpo_num_generations", "4", "--max_new_tokens", "8", "--eval_max_questions", "2",
                 "--report_to", "tensorboard", "--out", str(out)]) == 0
    for label in ("M1", "M2"):
        events = EventAccumulator(str(out / tensorboard_dir(label)))
        events.Reload()
        losses = [e.value for e in events.Scalars("train/loss")]
        assert losses and all(math.isfinite(v) for v in losses), label
    assert not (out / "tensorboard" / "M3").exists()


def test_report_to_takes_transformers_integration_names(monkeypatch):
    import transformers.integrations

    from harness_ext.errors import SelfimpError

    assert parse_config([]).report_to == ["none"]
    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations",
                        lambda: ["tensorboard", "wandb", "trackio"])
    assert parse_config(["--report_to", "wandb", "trackio"]).report_to == ["wandb", "trackio"]
    with pytest.raises(SelfimpError, match="--report_to: unknown value 'tensorbored'"):
        parse_config(["--report_to", "tensorbored"])
    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", lambda: [])
    with pytest.raises(SelfimpError, match=r"--report_to: wandb not installed \(pip install wandb\)"):
        parse_config(["--report_to", "wandb"])
