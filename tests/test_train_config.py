"""Config precedence (defaults < embedded preset < YAML < flags) and validation."""
from __future__ import annotations

import pytest

from harness_ext.errors import SelfimpError
from selfimp_train.config import EMBEDDED_PRESET, TrainConfig, parse_config, preset_file, read_config_file


def test_embedded_preset_only_for_arith_without_model():
    embedded = parse_config([])
    assert embedded.embedded and embedded.n_samples == EMBEDDED_PRESET["n_samples"] == 8
    paper = parse_config(["--task", "gsm8k"])
    assert not paper.embedded
    assert (paper.n_samples, paper.temperature, paper.top_p, paper.max_pairs_per_question) == (50, 0.75, 0.95, 5)
    assert parse_config(["--model", "some/dir"]).n_samples == 50


def test_yaml_overrides_preset_and_flags_override_yaml(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("n_samples: 3\nm1_learning_rate: 3e-3\nlora: true\ndpo_loss_type: [sigmoid, sft]\n"
                        "dpo_loss_weights: [1.0, 0.5]\nmax_train_questions: null\n")
    cfg = parse_config(["--config", str(cfg_file), "--n-samples", "5"])
    assert cfg.n_samples == 5  # flag (dash spelling) beats YAML
    assert cfg.m1_learning_rate == pytest.approx(3e-3)  # YAML "3e-3" typed as float
    assert cfg.lora is True
    assert cfg.dpo_loss_type == ["sigmoid", "sft"] and cfg.dpo_loss_weights == [1.0, 0.5]  # RPO
    assert cfg.max_train_questions is None  # YAML null beats the preset's 400
    assert cfg.m1_epochs == EMBEDDED_PRESET["m1_epochs"]  # preset beats the dataclass default


@pytest.mark.parametrize("yaml_text, needle", [
    ("n_sample: 3\n", "unknown config field(s) n_sample"),
    ("- a\n- b\n", "expected a mapping"),
    ("n_samples: [\n", "not valid YAML"),
])
def test_bad_yaml(tmp_path, yaml_text, needle):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(yaml_text)
    with pytest.raises(SelfimpError, match="bad.yaml") as err:
        parse_config(["--config", str(cfg_file)])
    assert needle in str(err.value)


@pytest.mark.parametrize("field, value, needle", [
    ("task", "gsm9k", "--task: unknown value 'gsm9k'"),
    ("method", "ppo", "--method: unknown value"),
    ("n_samples", 0, "--n_samples: must be a positive integer"),
    ("top_p", 1.5, "--top_p"),
    ("dpo_loss_weights", [1.0, 2.0], "--dpo_loss_weights"),
    ("vllm_kwargs", "{not json", "--vllm_kwargs: not valid JSON"),
    ("grpo_num_generations", 1, "--grpo_num_generations: GRPO needs >= 2"),
    ("grpo_max_questions", 0, "--grpo_max_questions: must be a positive integer"),
    ("attn_implementation", "flash", "--attn_implementation: unknown value 'flash' (choose from eager, "),
])
def test_validation_names_the_field(field, value, needle):
    with pytest.raises(SelfimpError) as err:
        TrainConfig(**{field: value})
    assert needle in str(err.value)


def test_grpo_batch_must_hold_whole_groups():
    """Only a run that trains GRPO rounds needs the batch to be a multiple of G (TRL's GRPOConfig requires it)."""
    with pytest.raises(SelfimpError, match=r"\(12\) must be a multiple of --grpo_num_generations \(8\)"):
        TrainConfig(method="grpo", per_device_train_batch_size=12)
    with pytest.raises(SelfimpError, match="must be a multiple"):
        TrainConfig(method="all", per_device_train_batch_size=4, gradient_accumulation_steps=3)
    TrainConfig(method="sft", per_device_train_batch_size=12)  # no GRPO round: any batch
    TrainConfig(method="grpo", per_device_train_batch_size=4, gradient_accumulation_steps=2)  # 8 = one group


def test_every_method_flag_comes_from_the_registry():
    """A method's settings dataclass is part of the parser and of TrainConfig by its registry entry alone:
    each of its fields is a --flag that sets the config, and each registered name is a --method."""
    import dataclasses

    from selfimp_train.config import make_parser
    from selfimp_train.methods import METHODS as REGISTRY

    flags = make_parser().format_help()
    for method, entry in REGISTRY.items():
        if entry.update is None:
            assert parse_config(["--method", method]).method == method
            continue
        for field in dataclasses.fields(entry.update.settings):
            assert f"--{field.name} " in flags, (method, field.name)
    cfg = parse_config(["--method", "grpo", "--grpo_beta", "0", "--grpo_num_generations", "4"])
    assert (cfg.method, cfg.grpo_beta, cfg.grpo_num_generations) == ("grpo", 0.0, 4)
    assert parse_config(["--method", "all"]).method == "all"
    with pytest.raises(SelfimpError, match="--method: unknown value 'ppo'"):
        parse_config(["--method", "ppo"])


def test_abbreviated_flags_are_rejected():
    with pytest.raises(SystemExit):
        parse_config(["--iter", "3"])


def test_shipped_accelerate_configs_load():
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    examples = Path(__file__).resolve().parents[1] / "examples" / "accelerate"
    ddp = load_config_from_file(str(examples / "multi_gpu.yaml"))
    assert ddp.distributed_type == DistributedType.MULTI_GPU and ddp.mixed_precision == "bf16"
    zero3 = load_config_from_file(str(examples / "deepspeed_zero3.yaml"))
    assert zero3.distributed_type == DistributedType.DEEPSPEED
    assert zero3.deepspeed_config["zero_stage"] == 3 and zero3.deepspeed_config["zero3_save_16bit_model"] is True


def test_yaml_values_take_the_types_the_flags_give(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("m1_epochs: 20\ndpo_loss_type: [sigmoid, sft]\ndpo_loss_weights: [1, 0.5]\n"
                        "lora_target_modules: q_proj\ndpo_beta: 1e-1\n")
    from_yaml = parse_config(["--config", str(cfg_file)])
    from_flags = parse_config(["--m1_epochs", "20", "--dpo_loss_type", "sigmoid", "sft", "--dpo_loss_weights", "1",
                               "0.5", "--lora_target_modules", "q_proj", "--dpo_beta", "1e-1"])
    assert {**from_yaml.to_dict(), "config": None} == from_flags.to_dict()
    assert isinstance(from_yaml.m1_epochs, float) and from_yaml.dpo_loss_weights == [1.0, 0.5]
    assert from_yaml.lora_target_modules == ["q_proj"] and from_yaml.dpo_beta == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["embedded", "smollm2"])
def test_shipped_presets_are_valid_configs(name):
    values = read_config_file(preset_file(name))  # known fields of the right types
    assert values and TrainConfig(**values).to_dict().items() >= values.items()


def test_config_may_name_a_shipped_preset():
    cfg = parse_config(["--config", "smollm2", "--iters", "2"])
    assert (cfg.model, cfg.lora, cfg.iters, cfg.task) == ("smollm2", True, 2, "arith")
    assert not cfg.embedded and cfg.n_samples == 50  # a real model: paper defaults, not the embedded preset
