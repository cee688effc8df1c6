"""The accelerate configs shipped in examples/accelerate/: accelerate parses them as `accelerate
launch --config_file` does, and the DeepSpeed ZeRO-3 one becomes a valid DeepSpeed config for the
TRL trainers' arguments (a dry construction: no GPU, no process group, no model)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DeepSpeedPlugin, DistributedType

from selfimp_train.config import TrainConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "accelerate"


def test_shipped_configs_parse_as_accelerate_launch_reads_them():
    zero3 = load_config_from_file(str(EXAMPLES / "deepspeed_zero3.yaml"))  # unknown keys would raise
    assert zero3.distributed_type == DistributedType.DEEPSPEED and zero3.mixed_precision == "bf16"
    assert zero3.deepspeed_config["zero_stage"] == 3 and zero3.deepspeed_config["zero3_save_16bit_model"] is True
    multi = load_config_from_file(str(EXAMPLES / "multi_gpu.yaml"))
    assert multi.distributed_type == DistributedType.MULTI_GPU and multi.num_processes == 8
    scale = (EXAMPLES.parents[1] / "docs" / "scale.md").read_text()
    assert "examples/accelerate/deepspeed_zero3.yaml" in scale and "examples/accelerate/multi_gpu.yaml" in scale


def test_the_scale_docs_name_the_tests_that_exercise_the_scale_out_commands():
    repo = EXAMPLES.parents[1]
    tested = (repo / "docs" / "scale.md").read_text().split("## What is tested where")[1].split("\n## ")[0]
    named = set(re.findall(r"`(tests/test_\w+\.py)`", tested))
    assert {"tests/test_scale_out_train.py", "tests/test_scale_out_eval.py", "tests/test_accelerate_configs.py"} <= named
    assert all((repo / path).is_file() for path in named)
    assert "accelerate launch --multi_gpu --num_processes 2" in tested  # what tests/scale_out.py launches


def test_zero3_config_is_a_valid_deepspeed_config_for_the_trainers():
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (it is in the test extra)")
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    fields = load_config_from_file(str(EXAMPLES / "deepspeed_zero3.yaml")).deepspeed_config
    plugin = DeepSpeedPlugin(**{k: v for k, v in fields.items() if k != "deepspeed_multinode_launcher"})
    cfg = TrainConfig()
    args = TrainingArguments(output_dir="unused", use_cpu=True, report_to="none", max_grad_norm=cfg.max_grad_norm,
                             per_device_train_batch_size=cfg.per_device_train_batch_size,
                             gradient_accumulation_steps=cfg.gradient_accumulation_steps)
    hf = HfTrainerDeepSpeedConfig(plugin.deepspeed_config)
    hf.trainer_config_process(args)  # fills the "auto" values as the Trainer does
    ds = DeepSpeedConfig(hf.config)
    assert ds.zero_optimization_stage == 3 and ds.zero_config.gather_16bit_weights_on_model_save
    assert ds.train_micro_batch_size_per_gpu == cfg.per_device_train_batch_size
    assert ds.train_batch_size == cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps  # 1 process
    assert ds.gradient_clipping == cfg.max_grad_norm
