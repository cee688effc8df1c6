"""Output of `lm_eval --tasks leaderboard --log_samples` for a scripted model, written by lm-eval
0.4.13's own EvaluationTracker: each sample dict is built field for field as lm-eval/evaluator.py
builds it (arguments, resps, filtered_resps, filter, metrics, the three hashes, the per-doc scores
the task's process_results returns), the results dict as evaluator_utils' _to_eval_results does
(results, groups, group_subtasks, configs, versions, n-shot, higher_is_better, n-samples), and the
group structure and task configs are read from the installed leaderboard YAMLs."""
from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Callable

import lm_eval.tasks
import numpy as np
from lm_eval.loggers import EvaluationTracker
from lm_eval.tasks._yaml_loader import load_yaml
from lm_eval.utils import handle_non_serializable, hash_string

LEADERBOARD = Path(lm_eval.tasks.__file__).parent / "leaderboard"
N_DOCS = 5


def leaderboard_yamls() -> tuple[dict[str, list[str]], dict[str, dict]]:
    """(group -> members, task -> merged config) of the installed `leaderboard` group."""
    groups, tasks = {}, {}
    for path in sorted(LEADERBOARD.rglob("*.yaml")):
        cfg = load_yaml(path, resolve_func=False)
        if isinstance(cfg.get("group"), str) and isinstance(cfg.get("task"), list):
            groups[cfg["group"]] = [t if isinstance(t, str) else t["task"] for t in cfg["task"]]
        elif isinstance(cfg.get("task"), str):
            tasks[cfg["task"]] = cfg
    run: dict[str, list[str]] = {}

    def walk(name: str) -> None:
        if name in groups:
            run[name] = groups[name]
            for child in groups[name]:
                walk(child)

    walk("leaderboard")
    return run, tasks


def kind(task: str) -> str:
    if task == "leaderboard_ifeval":
        return "ifeval"
    if task.startswith("leaderboard_math"):
        return "math"
    return "mc"


def mc_doc(task: str, cfg: dict, i: int) -> tuple[dict, list[str], object, str]:
    """(doc, choices, target as doc_to_target returns it, context) in each task family's schema."""
    if task.startswith("leaderboard_bbh"):
        choices = list(cfg["doc_to_choice"])
        doc = {"input": f"{task} question {i}", "target": choices[i % len(choices)]}
        return doc, choices, doc["target"], f"Q: {doc['input']}\nA:"
    if task.startswith("leaderboard_gpqa"):
        doc = {"Question": f"gpqa q{i}", "choice1": "w", "choice2": "x", "choice3": "y", "choice4": "z",
               "answer": f"({'ABCD'[i % 4]})"}
        return doc, ["(A)", "(B)", "(C)", "(D)"], doc["answer"], f"What is the correct answer to this question:{doc['Question']}"
    if task == "leaderboard_mmlu_pro":
        options = [f"option {k}" for k in range(10)]
        doc = {"question_id": i, "question": f"mmlu q{i}", "options": options, "answer": "ABCDEFGHIJ"[i % 10],
               "answer_index": i % 10, "cot_content": "", "category": ["law", "math"][i % 2], "src": "ori_mmlu"}
        return doc, list(string.ascii_uppercase[:10]), doc["answer"], f"{doc['question']}\nAnswer:"
    choices = ["Alice", "Bob the builder", "Carol"]
    doc = {"narrative": f"story {i}", "question": "Who?", "choices": str(choices), "answer_index": i % 3,
           "answer_choice": choices[i % 3]}
    return doc, choices, doc["answer_choice"], f"{doc['narrative']}\n\nWho?\nAnswer:"


def mc_sample(task: str, cfg: dict, i: int, solved: bool) -> dict:
    """A multiple_choice line: one loglikelihood request per choice; acc / acc_norm as lm-eval's
    process_results computes them (argmax of lls, and of lls per character of the choice)."""
    doc, choices, target, ctx = mc_doc(task, cfg, i)
    gold = choices.index(target) if isinstance(target, str) else target
    x = [0.2 if k == gold else 0.6 + 0.1 * k for k in range(len(choices))] if solved else \
        [0.9 if k == gold else (0.3 if k == (gold + 1) % len(choices) else 1.2) for k in range(len(choices))]
    lls = [-xk * len(c) for xk, c in zip(x, choices)]
    scores = {"acc": 1.0 if int(np.argmax(lls)) == gold else 0.0,
              "acc_norm": 1.0 if int(np.argmax(np.array(lls) / np.array([float(len(c)) for c in choices]))) == gold else 0.0}
    metrics = {m["metric"]: scores[m["metric"]] for m in cfg["metric_list"]}
    args = [(ctx, f" {c}") for c in choices]
    return sample(i, doc, target, args, [[(ll, False)] for ll in lls], [(ll, False) for ll in lls], metrics)


def math_sample(task: str, i: int, solved: bool) -> dict:
    doc = {"problem": f"What is {i} + {i}?", "solution": f"$\\boxed{{{2 * i}}}$", "answer": str(2 * i)}
    answer = 2 * i if solved else 2 * i + 1
    text = f" {i} + {i} = {answer}.\nFinal Answer: The final answer is ${answer}$. I hope it is correct."
    gen = {"until": ["Problem:"], "do_sample": False, "temperature": 0.0, "max_gen_toks": 1024}
    metrics = {"exact_match": int(solved), "exact_match_original": int(solved)}
    return sample(i, doc, doc["answer"], [(f"Problem:\n{doc['problem']}\n\nSolution:", gen)], [[text]], [text], metrics)


def ifeval_sample(i: int, solved: bool) -> dict:
    doc = {"key": 1000 + i, "prompt": f"Write {i} words in lowercase.", "instruction_id_list": ["change_case:english_lowercase"],
           "kwargs": [{}]}
    text = "all lowercase words" if solved else "Not Lowercase"
    gen = {"until": [], "do_sample": False, "temperature": 0.0, "max_gen_toks": 1280}
    metrics = {"prompt_level_strict_acc": solved, "inst_level_strict_acc": [solved],
               "prompt_level_loose_acc": solved, "inst_level_loose_acc": [solved]}
    return sample(i, doc, 0, [(doc["prompt"], gen)], [[text]], [text], metrics)


def sample(doc_id: int, doc: dict, target, arguments: list[tuple], resps: list, filtered: list, metrics: dict) -> dict:
    """evaluator.py's `example` dict for one doc and the filter "none" (before the tracker sanitises it)."""
    example = {
        "doc_id": doc_id, "doc": doc, "target": target, "arguments": arguments, "resps": resps,
        "filtered_resps": filtered, "filter": "none", "metrics": list(metrics.keys()),
        "doc_hash": hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False)),
        "prompt_hash": hash_string(arguments[0][0]), "target_hash": hash_string(str(target)),
    }
    example.update(metrics)
    return example


def write_leaderboard_run(out: Path, solved: Callable[[str, int], bool], model_name: str) -> Path:
    """Every leaderboard task with N_DOCS docs; `solved(task, i)` scripts the model's verdicts."""
    groups, configs = leaderboard_yamls()
    leaves = [t for members in groups.values() for t in members if t not in groups]
    samples = {}
    for task in leaves:
        k = kind(task)
        make = {"mc": lambda i: mc_sample(task, configs[task], i, solved(task, i)),
                "math": lambda i: math_sample(task, i, solved(task, i)),
                "ifeval": lambda i: ifeval_sample(i, solved(task, i))}[k]
        samples[task] = [make(i) for i in range(N_DOCS)]
    results = {
        "results": {t: {"alias": t} for t in [*groups, *leaves]},
        "groups": {g: {"alias": g} for g in groups},
        "group_subtasks": groups,
        "configs": {t: {**configs[t], "target_delimiter": " ", "fewshot_delimiter": "\n\n"} for t in sorted(leaves)},
        "versions": {t: (configs[t].get("metadata") or {}).get("version") for t in sorted(leaves)},
        "n-shot": {t: configs[t].get("num_fewshot", 0) for t in sorted(leaves)},
        "higher_is_better": {t: {m["metric"]: True for m in configs[t]["metric_list"]} for t in sorted(leaves)},
        "n-samples": {t: {"original": N_DOCS, "effective": N_DOCS} for t in leaves},
        "config": {"model": "hf", "model_args": f"pretrained={model_name}"},
    }
    tracker = EvaluationTracker(output_path=str(out))
    tracker.general_config_tracker.model_name_sanitized = model_name
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return out
