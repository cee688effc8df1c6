"""Real lm-eval 0.4.13 runs of built-in tasks on local data, as a user without the Hub makes them:
the installed task YAML with its dataset pointed at a JSONL copy of ../shared/data (converted to the
Hub schema where the task expects it), written by lm-eval's own EvaluationTracker."""
from __future__ import annotations

import json
from pathlib import Path

import lm_eval.tasks
from lm_eval.tasks._yaml_loader import load_yaml

TASKS_DIR = Path(lm_eval.tasks.__file__).parent
LETTERS = "ABCDE"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def csqa_hub_rows(data_dir: Path, split: str, n: int) -> list[dict]:
    """../shared/data/csqa rows (question.stem, question.choices) in tau/commonsense_qa's schema."""
    rows = []
    with open(data_dir / "csqa" / f"{split}.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            q = r["question"]
            rows.append({"id": r["id"], "question": q["stem"], "question_concept": q.get("question_concept", ""),
                         "choices": {"label": [c["label"] for c in q["choices"]], "text": [c["text"] for c in q["choices"]]},
                         "answerKey": r["answerKey"]})
            if len(rows) == n:
                break
    return rows


def commonsense_qa_config(data_dir: Path, tmp: Path, n: int) -> dict:
    """The built-in `commonsense_qa` task over the first n local validation questions (and train for few-shot)."""
    files = {s: str(write_jsonl(tmp / f"csqa_{s}.jsonl", csqa_hub_rows(data_dir, s, n if s == "validation" else 20)))
             for s in ("train", "validation")}
    cfg = load_yaml(TASKS_DIR / "commonsense_qa" / "default.yaml")
    cfg.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": files})
    return cfg


def math_hard_config(data_dir: Path, tmp: Path, subject: str = "Algebra", name: str = "algebra") -> dict:
    """The built-in `leaderboard_math_<name>_hard` task over the local MATH test rows of one subject
    (its process_docs keeps Level 5, as on the Hub's MATH-lighteval)."""
    rows = [json.loads(line) for line in open(data_dir / "math" / "test.jsonl", encoding="utf-8")]
    path = write_jsonl(tmp / f"math_{name}.jsonl", [r for r in rows if r["type"] == subject])
    cfg = load_yaml(TASKS_DIR / "leaderboard" / "math" / f"math_{name}.yaml")
    cfg.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": {"train": str(path), "test": str(path)}})
    return cfg


def run_lm_eval(model: Path, tasks: list, out: Path, limit: int, **kw) -> Path:
    """simple_evaluate + EvaluationTracker, as `lm_eval --log_samples --output_path out` does."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    tracker = EvaluationTracker(output_path=str(out))
    results = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32", tasks=tasks, limit=limit,
                              log_samples=True, evaluation_tracker=tracker, device="cpu", batch_size=8,
                              bootstrap_iters=0, task_manager=TaskManager(include_defaults=False), **kw)
    samples = results.pop("samples")  # what lm_eval's CLI does before saving
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return out
