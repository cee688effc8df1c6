"""One loader per dataset, returning rows in the normalised schema of docs/architecture.md.

Rows come from the Hugging Face Hub by default, or from a local directory in the layout of
`shared/data` (`<dir>/<dataset>/<split>.jsonl`) when `data_dir` or $SELFIMP_DATA_DIR is set.
`arith` is always generated (harness_ext.arith). Parsed rows are cached per process.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from harness_ext import arith
from harness_ext.errors import SelfimpError
from harness_ext.io import read_jsonl

DATA_DIR_ENV = "SELFIMP_DATA_DIR"

SPLITS: dict[str, tuple[str, ...]] = {
    "gsm8k": ("train", "test"),
    "math": ("train", "test"),
    "csqa": ("train", "validation", "test"),
    "mbpp": ("train", "validation", "test", "prompt"),
    "svamp": ("test",),
    "mawps": ("test",),
    "arith": ("train", "test", "ood"),
}
DOMAINS = {"gsm8k": "numeric", "svamp": "numeric", "mawps": "numeric", "arith": "numeric",
           "math": "math", "csqa": "csqa", "mbpp": "code"}

HUB_IDS = {
    "gsm8k": ("openai/gsm8k", "main"),
    "math": ("EleutherAI/hendrycks_math", None),
    "csqa": ("tau/commonsense_qa", None),
    "mbpp": ("google-research-datasets/mbpp", "sanitized"),
    "svamp": ("ChilleD/SVAMP", None),
    "mawps": ("MU-NLPC/Calc-mawps", None),
}
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")


def domain_of(name: str) -> str:
    """The verifier domain of a dataset: numeric, math, csqa or code."""
    if name not in DOMAINS:
        raise SelfimpError(f"unknown dataset {name!r}; valid: {', '.join(DOMAINS)}")
    return DOMAINS[name]


def _number(x: Any) -> str:
    """43.0 -> '43', 2.5 -> '2.5'."""
    f = float(x)
    return str(int(f)) if f.is_integer() else repr(f)


def _level(raw: Any) -> int | None:
    """'Level 3' -> 3; MATH has a few 'Level ?' rows -> None."""
    tail = str(raw).rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _gsm8k(r: dict, split: str, i: int) -> dict:
    return {"id": f"{split}-{i}", "question": r["question"], "answer": r["answer"]}


def _math(r: dict, split: str, i: int) -> dict:
    uid = r.get("unique_id") or f"{split}/{r['_subject']}/{r['_index']}"
    return {"id": uid, "problem": r["problem"], "solution": r["solution"],
            "level": _level(r["level"]), "type": r["type"]}


def _csqa(r: dict, split: str, i: int) -> dict:
    q = r["question"]
    if isinstance(q, dict):  # original JSONL: question {stem, choices: [{label, text}]}
        stem, choices = q["stem"], q["choices"]
        choices = {"label": [c["label"] for c in choices], "text": [c["text"] for c in choices]}
    else:  # hub: question str, choices {label: [...], text: [...]}
        stem, choices = q, {"label": list(r["choices"]["label"]), "text": list(r["choices"]["text"])}
    return {"id": r["id"], "question": stem, "choices": choices, "answerKey": r["answerKey"]}


def _mbpp(r: dict, split: str, i: int) -> dict:
    return {"id": str(r["task_id"]), "task_id": int(r["task_id"]), "prompt": r["prompt"],
            "code": r["code"], "test_list": list(r["test_list"]),
            "test_imports": list(r.get("test_imports") or [])}


def _svamp(r: dict, split: str, i: int) -> dict:
    body, q = r["Body"].strip(), r["Question"].strip()
    sep = "" if body.endswith((".", "?", "!")) else "."
    return {"id": str(r["ID"]), "question": f"{body}{sep} {q}", "answer": f"#### {_number(r['Answer'])}"}


def _mawps(r: dict, split: str, i: int) -> dict:
    if "input" in r:  # Qwen2.5-Math packaging (shared/data)
        return {"id": f"{split}-{r.get('idx', i)}", "question": r["input"],
                "answer": f"#### {_number(r['target'])}"}
    return {"id": str(r["id"]), "question": r["question"], "answer": f"#### {_number(r['result_float'])}"}


NORMALISERS: dict[str, Callable[[dict, str, int], dict]] = {
    "gsm8k": _gsm8k, "math": _math, "csqa": _csqa, "mbpp": _mbpp, "svamp": _svamp, "mawps": _mawps}


def _normalise(name: str, split: str, raw: Iterable[dict], source: str) -> list[dict]:
    rows = []
    for i, r in enumerate(raw):
        try:
            rows.append(NORMALISERS[name](r, split, i))
        except (KeyError, TypeError, ValueError) as e:
            raise SelfimpError(f"{source}: row {i + 1}: missing or bad field {e}") from None
    return rows


def _local_split(name: str, split: str) -> str:
    return "validation" if (name, split) == ("csqa", "test") else split


def _load_local(name: str, split: str, data_dir: Path, from_env: bool) -> list[dict]:
    path = data_dir / name / f"{_local_split(name, split)}.jsonl"
    if not path.is_file():
        how = f"${DATA_DIR_ENV}={data_dir}" if from_env else f"data_dir={data_dir}"
        raise SelfimpError(f"{path}: file not found (from {how}; expected the layout "
                           f"<dir>/{name}/{_local_split(name, split)}.jsonl)")
    return _normalise(name, split, read_jsonl(path), str(path))


def _load_hub(name: str, split: str) -> list[dict]:
    import datasets

    hub_id, config = HUB_IDS[name]
    hub_split = _local_split(name, split)
    try:
        if name == "math":
            raw = []
            for subject in MATH_SUBJECTS:
                part = datasets.load_dataset(hub_id, subject, split=hub_split)
                raw += [{**r, "_subject": subject, "_index": i} for i, r in enumerate(part)]
        else:
            raw = list(datasets.load_dataset(hub_id, config, split=hub_split))
    except Exception as e:  # offline, missing, renamed: all mean the same to the user
        raise SelfimpError(f"could not load {hub_id} ({split}) from the Hugging Face Hub: "
                           f"{type(e).__name__}: {e}. Set ${DATA_DIR_ENV} to a local copy "
                           f"(layout of shared/data)") from None
    return _normalise(name, split, raw, f"{hub_id}:{hub_split}")


def _check(name: str, split: str) -> None:
    if name not in SPLITS:
        raise SelfimpError(f"unknown dataset {name!r}; valid: {', '.join(SPLITS)}")
    if split not in SPLITS[name]:
        raise SelfimpError(f"unknown split {split!r} of {name}; valid: {', '.join(SPLITS[name])}")


@lru_cache(maxsize=None)
def _cached_rows(name: str, split: str, data_dir: str | None, from_env: bool) -> tuple[dict, ...]:
    if name == "arith":
        return tuple(arith.generate(split))
    if data_dir is not None:
        return tuple(_load_local(name, split, Path(data_dir), from_env))
    return tuple(_load_hub(name, split))


def load_rows(name: str, split: str, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """Normalised rows of one dataset split (each with a stable string `id`)."""
    _check(name, split)
    env = os.environ.get(DATA_DIR_ENV) or None
    chosen = data_dir if data_dir is not None else env
    resolved = str(Path(chosen).expanduser().resolve()) if chosen is not None else None
    rows = _cached_rows(name, split, resolved, data_dir is None and env is not None)
    return [dict(r) for r in rows]


def load_hf_dataset(name: str, split: str, data_dir: str | os.PathLike | None = None):
    """`load_rows` as a `datasets.Dataset` (for lm-eval's `custom_dataset`)."""
    import datasets

    return datasets.Dataset.from_list(load_rows(name, split, data_dir))
