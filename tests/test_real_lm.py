"""A real pretrained LM end to end: SmolLM2-135M-Instruct through the `smollm2` preset, one tiny
LoRA self-improvement round (HF sampler) and one lm-eval task on its checkpoint."""
from __future__ import annotations

from pathlib import Path

import lm_eval
import pytest
import torch
from safetensors.torch import load_file

from harness_ext import prompts
from harness_ext.data import load_rows
from harness_ext.io import read_json, read_jsonl
from harness_ext.lm_eval_compat import task_manager
from harness_ext.verify import get_verifier
from real_lm import require_smollm2, save_smollm2
from selfimp_train import trainers
from selfimp_train.cli import main
from selfimp_train.config import TrainConfig
from selfimp_train.methods import GOLD_SFT
from selfimp_train.task_loading import load_task
from selfimp_train.models import load_model, load_tokenizer
from selfimp_train.samplers import HFSampler

# A handful of arith questions; M1's learning rate is high enough that 16 gold examples teach
# the answer format, so round 2 has correct samples to train on.
TINY_ROUND = ["--task", "arith", "--model", "smollm2", "--lora", "--iters", "2", "--m1_max_examples", "16",
              "--m1_epochs", "1", "--m1_learning_rate", "2e-3", "--per_device_train_batch_size", "8",
              "--max_train_questions", "4", "--n_samples", "8", "--temperature", "0.3", "--max_new_tokens", "40",
              "--sft_learning_rate", "1e-3", "--sft_warmup_ratio", "0", "--eval_max_questions", "2",
              "--sample_batch_size", "4", "--eval_batch_size", "2", "--seed", "0"]


def merged_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "model.safetensors"))


def test_smollm2_lora_round_and_lm_eval_task(tmp_path):
    require_smollm2()
    run = tmp_path / "run"
    assert main([*TINY_ROUND, "--out", str(run)]) == 0
    m1, m2 = read_json(run / "manifest.json")["iterations"]
    assert (m1["update"], m2["update"]) == ("gold-sft", "sft") and m1["n_train_examples"] == 16
    # Round 2: 4 questions x 8 samples from M1, judged by the shared verifier; the correct ones train M2.
    records = read_jsonl(run / "samples_2.jsonl")
    train, verifier = {r["id"]: r for r in load_rows("arith", "train")}, get_verifier("arith")
    verdicts = verifier.judge([r["completion"] for r in records],
                              [verifier.reference(train[r["question_id"]]) for r in records])
    assert len(records) == 32 and [r["correct"] for r in records] == verdicts
    assert m2["n_train_examples"] == sum(verdicts) > 0 and m2["train_loss"] is not None
    assert (run / "iter_2" / "adapter" / "adapter_config.json").is_file()
    before, after = merged_weights(run / "iter_1"), merged_weights(run / "iter_2")
    assert set(before) == set(after) and any(not torch.equal(before[k], after[k]) for k in before)

    # One lm-eval task on M2 (lm-eval's own HF model class, the shipped YAML).
    out = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={run / 'iter_2'},dtype=float32", device="cpu",
        tasks=["selfimp_arith_pass1"], limit=3, batch_size=3, gen_kwargs="max_gen_toks=40", log_samples=True,
        task_manager=task_manager(include_defaults=False), bootstrap_iters=0)
    samples = out["samples"]["selfimp_arith_pass1"]
    test = load_rows("arith", "test")
    assert [s["arguments"][0][0] for s in samples] == [prompts.prompt("arith", d) for d in test[:3]]
    judged = [r for s in samples for r in s["filtered_resps"][0]]
    assert [r["correct"] for r in judged] == verifier.judge(
        [s["resps"][0][0] for s in samples], [verifier.reference(d) for d in test[:3]])
    assert out["results"]["selfimp_arith_pass1"]["pass@1,verify"] == pytest.approx(
        sum(r["correct"] for r in judged) / 3)


# ---------------------------------------------------------------- prompt identity on a real tokenizer
@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory) -> Path:
    return save_smollm2(tmp_path_factory.mktemp("smollm2"))


def trainer_prompt_ids(cfg: TrainConfig, data, doc: dict) -> tuple[list[int], list[int]]:
    """(prompt ids, completion ids) of `doc` in the dataset TRL's SFTTrainer trains on (M1's path)."""
    model, tokenizer = load_model(cfg.model)
    example = {"prompt": data.prompts[doc["id"]], "completion": prompts.gold_completion(cfg.task, doc)}
    args = GOLD_SFT.trl_config(cfg, data, seed=0, scratch=Path(cfg.out))
    row = trainers.sft_trainer(trainers.TrainJob(model, tokenizer, [example], args)).train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]  # labels: -100 on the prompt (completion-only loss)
    assert ids[: labels.count(-100)] == [i for i, lab in zip(ids, labels) if lab == -100]
    return ids[: labels.count(-100)], ids[labels.count(-100):]


def sampler_prompt_ids(checkpoint: Path, text: str, stop: list[str], monkeypatch) -> tuple[list[int], list[str]]:
    """The input ids and stop strings HFSampler (the loop's sampling and greedy eval) passes to `generate`."""
    sampler = HFSampler(checkpoint)
    seen = []
    generate = sampler.model.generate
    monkeypatch.setattr(sampler.model, "generate",
                        lambda **kw: seen.append((kw["input_ids"][0].tolist(), kw["stop_strings"])) or generate(**kw))
    sampler.generate([text], 1, 0.0, 1.0, 1, stop)
    return seen[0]


def lm_eval_prompt_ids(checkpoint: Path, chat: bool, monkeypatch) -> tuple[list[int], list[str]]:
    """The context ids and stop strings lm-eval's HFLM generates with for the first doc of selfimp_gsm8k_pass1."""
    from lm_eval.models.huggingface import HFLM

    seen = []
    generate = HFLM._model_generate
    monkeypatch.setattr(HFLM, "_model_generate",
                        lambda self, context, **kw: seen.append((context[0].tolist(), kw["stop"]))
                        or generate(self, context, **kw))
    lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={checkpoint},dtype=float32", device="cpu",
                            tasks=["selfimp_gsm8k_pass1"], limit=1, batch_size=1, gen_kwargs="max_gen_toks=1",
                            task_manager=task_manager(include_defaults=False), bootstrap_iters=0,
                            apply_chat_template=chat)
    return seen[0]


@pytest.mark.parametrize("chat", [False, True], ids=["plain", "chat_template"])
def test_trainer_sampler_and_lm_eval_feed_the_same_token_ids(smollm2_dir, chat, tmp_path, monkeypatch):
    cfg = TrainConfig(task="gsm8k", model=str(smollm2_dir), apply_chat_template=chat, out=str(tmp_path),
                      eval_max_questions=1)
    data = load_task(cfg)
    doc = data.test[0]
    tokenizer = load_tokenizer(cfg.model)
    trained, completion = trainer_prompt_ids(cfg, data, doc)
    from_lm_eval, lm_eval_stop = lm_eval_prompt_ids(smollm2_dir, chat, monkeypatch)
    sampled, sampler_stop = sampler_prompt_ids(smollm2_dir, data.prompts[doc["id"]], data.stop, monkeypatch)
    assert trained == sampled == from_lm_eval
    # Both cut at the same strings, and at EOS: without the blank-line stop under the chat template.
    assert data.stop == prompts.stop_sequences("gsm8k", chat) == (["Question:"] if chat else ["Question:", "\n\n"])
    assert sampler_stop == data.stop and lm_eval_stop == data.stop + [tokenizer.eos_token]
    text = tokenizer.decode(trained)
    plain = prompts.prompt("gsm8k", doc)
    if chat:
        assert text.startswith("<|im_start|>system\n") and f"<|im_start|>user\n{plain}<|im_end|>\n" in text
        assert text.endswith("<|im_start|>assistant\n")
    else:
        assert text == plain
    # The SFT target ends in EOS, where lm-eval's generation stops too.
    assert completion[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(completion[:-1]) == prompts.gold_completion("gsm8k", doc)
