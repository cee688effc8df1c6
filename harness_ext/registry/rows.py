"""Row normalisers: one raw row (Hub or local JSONL) -> the normalised schema of docs/architecture.md."""
from __future__ import annotations

from typing import Any


def _number(x: Any) -> str:
    """43.0 -> '43', 2.5 -> '2.5'."""
    f = float(x)
    return str(int(f)) if f.is_integer() else repr(f)


def _level(raw: Any) -> int | None:
    """'Level 3' -> 3; MATH has a few 'Level ?' rows -> None."""
    tail = str(raw).rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else None


def gsm8k(r: dict, split: str, i: int) -> dict:
    return {"id": f"{split}-{i}", "question": r["question"], "answer": r["answer"]}


def math(r: dict, split: str, i: int) -> dict:
    uid = r.get("unique_id") or f"{split}/{r['_config']}/{r['_index']}"
    return {"id": uid, "problem": r["problem"], "solution": r["solution"],
            "level": _level(r["level"]), "type": r["type"]}


def csqa(r: dict, split: str, i: int) -> dict:
    q = r["question"]
    if isinstance(q, dict):  # original JSONL: question {stem, choices: [{label, text}]}
        stem, choices = q["stem"], q["choices"]
        choices = {"label": [c["label"] for c in choices], "text": [c["text"] for c in choices]}
    else:  # hub: question str, choices {label: [...], text: [...]}
        stem, choices = q, {"label": list(r["choices"]["label"]), "text": list(r["choices"]["text"])}
    return {"id": r["id"], "question": stem, "choices": choices, "answerKey": r["answerKey"]}


def mbpp(r: dict, split: str, i: int) -> dict:
    return {"id": str(r["task_id"]), "task_id": int(r["task_id"]), "prompt": r["prompt"],
            "code": r["code"], "test_list": list(r["test_list"]),
            "test_imports": list(r.get("test_imports") or [])}


def svamp(r: dict, split: str, i: int) -> dict:
    body, q = r["Body"].strip(), r["Question"].strip()
    sep = "" if body.endswith((".", "?", "!")) else "."
    return {"id": str(r["ID"]), "question": f"{body}{sep} {q}", "answer": f"#### {_number(r['Answer'])}"}


def mawps(r: dict, split: str, i: int) -> dict:
    if "input" in r:  # Qwen2.5-Math packaging (shared/data)
        return {"id": f"{split}-{r.get('idx', i)}", "question": r["input"],
                "answer": f"#### {_number(r['target'])}"}
    return {"id": str(r["id"]), "question": r["question"], "answer": f"#### {_number(r['result_float'])}"}
