"""Stop-sequence truncation on a real LM: how often does a stop string cut a completion before
its final answer?

For each task, greedy completions of the first `--prompts` test questions are generated with no
stop string (EOS or the task's max_gen_toks ends them), then cut as training and evaluation cut
them (`harness_ext.prompts.stop_sequences`). For every stop string s of the task:
  fired      share of completions that s cuts (it is the earliest stop in the text),
  answer_lost share whose extracted answer (the task's verifier) changes when s is dropped from
             the stop list, i.e. s cut the text before the answer the model went on to write,
  pass@1     with the task's stops, and with s dropped.
With `--chat` the same plain-prompt stops are measured: the chat defaults
(`stop_sequences(task, chat_template=True)`) are them without the blank-line stop, so "pass@1 without
'\\n\\n'" is pass@1 with the chat defaults and `fired['Question:']` what those defaults cut.
The model is SmolLM2-135M-Instruct (`--model smollm2`, the default) or a local checkpoint.

    python benchmarks/bench_stop_truncation.py --prompts 20 --max-tokens 256
    python benchmarks/bench_stop_truncation.py --prompts 20 --chat   # prompts as the chat user turn
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Report, parse_bench_args, rows  # noqa: E402

TASKS = ("gsm8k", "math", "csqa", "mbpp", "arith")


def checkpoint(model: str, directory: Path) -> Path:
    """A local HF folder of `model` (the smollm2 preset is saved to `directory` first)."""
    if model != "smollm2":
        return Path(model)
    from selfimp_train.models import load_model

    lm, tokenizer = load_model(model)
    lm.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def stop_effects(task: str, texts: list[str], refs: list) -> dict[str, float]:
    """fired / answer_lost / pass@1 per stop string of `task` (see the module docstring)."""
    from harness_ext.prompts import stop_sequences
    from harness_ext.verify import get_verifier
    from selfimp_train.samplers import cut_at_stop

    verifier, stops = get_verifier(task), stop_sequences(task)
    cut = [cut_at_stop(t, stops) for t in texts]
    answers = [verifier.extract(c, r) for c, r in zip(cut, refs)]
    out = {"pass@1": sum(verifier.judge(cut, refs)) / len(texts)}
    for s in stops:
        rest = [x for x in stops if x != s]
        without = [cut_at_stop(t, rest) for t in texts]
        out[f"fired[{s!r}]"] = sum(c != w for c, w in zip(cut, without)) / len(texts)
        out[f"answer_lost[{s!r}]"] = sum(
            a != verifier.extract(w, r) for a, w, r in zip(answers, without, refs)) / len(texts)
        out[f"pass@1 without {s!r}"] = sum(verifier.judge(without, refs)) / len(texts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="smollm2 (preset) or a local checkpoint dir")
    parser.add_argument("--prompts", type=int, default=20, help="test questions per task")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--chat", action="store_true", help="prompts as the user turn of the chat template")
    parser.add_argument("--batch", type=int, default=20, help="prompts per generate call")
    parser.add_argument("--max-tokens", type=int, help="cap on the task's max_gen_toks (CPU time)")
    args = parse_bench_args(parser, quick={"prompts": 2, "tasks": ["arith"]})
    os.environ.setdefault("HF_ALLOW_CODE_EVAL", "1")
    from harness_ext.prompts import chat_prompt, max_gen_toks, prompt
    from harness_ext.verify import get_verifier
    from selfimp_train.samplers import HFSampler

    report = Report(f"stop truncation, {args.model}, {args.prompts} greedy prompts per task, chat={args.chat}")
    with tempfile.TemporaryDirectory() as tmp:
        sampler = HFSampler(checkpoint(args.model, Path(tmp)), batch_size=args.batch)
        for task in args.tasks:
            docs = rows(task, "test")[: args.prompts]
            texts = [prompt(task, d) for d in docs]
            if args.chat:
                texts = [chat_prompt(sampler.tokenizer, t) for t in texts]
            start = time.perf_counter()
            completions = [c[0] for c in sampler.generate(texts, 1, 0.0, 1.0, min(max_gen_toks(task), args.max_tokens or 10**9), stop=[])]
            report.add(f"{task} generation", time.perf_counter() - start, "s")
            refs = [get_verifier(task).reference(d) for d in docs]
            for name, value in stop_effects(task, completions, refs).items():
                report.add(f"{task} {name}", value)
        sampler.close()
    report.finish(args.json)


if __name__ == "__main__":
    main()
