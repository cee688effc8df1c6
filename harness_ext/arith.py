"""Seeded multi-step arithmetic word problems in GSM8K format (the embedded CPU default task).

Each problem starts from a number and applies 1-4 add / subtract / double steps (5 sentence
templates per step kind); the gold solution writes one `<<expr=value>>` line per step, with
random operand order and a 30% chance of merging two steps into one line, then `#### value`.
Splits are disjoint: a question belongs to `test` or `train` by a hash of its text, and `ood`
has 5-6 steps and bigger numbers.
"""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

TOKEN_PATTERN = r"<<|>>|####| ?[A-Za-z]+|\d|\n|[^\sA-Za-z\d]| "
"""Pre-tokenizer regex of the word-level arith tokenizer: every arith text splits into pieces
that `arith_vocabulary()` lists."""

NAMES = [("Tom", "he"), ("Anna", "she"), ("Ben", "he"), ("Mia", "she"), ("Sam", "he"),
         ("Lily", "she"), ("Max", "he"), ("Zoe", "she"), ("Leo", "he"), ("Emma", "she")]
OBJECTS = ["apples", "books", "coins", "marbles", "pens", "cards", "stickers", "shells",
           "cookies", "stamps"]

STEP_TEMPLATES = {
    "add": ["{N} buys {k} more {o}.", "Then {p} finds {k} {o}.", "A friend gives {N} {k} {o}.",
            "{P} gets {k} more {o}.", "Later {N} wins {k} {o}."],
    "sub": ["{N} gives away {k} {o}.", "Then {p} loses {k} {o}.", "{P} sells {k} {o}.",
            "{N} uses {k} of the {o}.", "Later {p} gives {k} {o} to a friend."],
    "double": ["{N} doubles the {o}.", "Then the number of {o} doubles.",
               "{P} gets as many {o} again.", "Then {p} buys as many {o} as {p} has.",
               "{N} ends up with twice as many {o}."],
}
START_TEMPLATE = "{N} has {k} {o}."
QUESTION_TEMPLATE = "How many {o} does {N} have now?"
SOLUTION_TEMPLATES = ["{N} has {e} = <<{e}={v}>>{v} {o}.", "Now {p} has {e} = <<{e}={v}>>{v} {o}.",
                      "That makes {e} = <<{e}={v}>>{v} {o}."]


@dataclass(frozen=True)
class ArithConfig:
    """Ranges of one split: operands <= max_number, every intermediate value <= max_value."""

    n: int
    seed: int
    min_steps: int = 1
    max_steps: int = 4
    max_number: int = 20
    max_value: int = 50
    merge_prob: float = 0.3


SPLITS = {
    "train": ArithConfig(n=3000, seed=1),
    "test": ArithConfig(n=6000, seed=2),
    "ood": ArithConfig(n=300, seed=3, min_steps=5, max_steps=6, max_number=40, max_value=100),
}


def _is_test_question(question: str) -> bool:
    """One in ten questions (by text hash) is reserved for `test`; the rest may be in `train`."""
    return int(hashlib.sha256(question.encode()).hexdigest(), 16) % 10 == 0


def _choose_step(rng: random.Random, value: int, cfg: ArithConfig) -> tuple[str, int]:
    kinds = []
    if value < cfg.max_value:
        kinds.append("add")
    if value >= 2:
        kinds.append("sub")
    if 1 <= value and 2 * value <= cfg.max_value:
        kinds.append("double")
    kind = rng.choice(kinds)
    if kind == "add":
        return kind, rng.randint(1, min(cfg.max_number, cfg.max_value - value))
    if kind == "sub":
        return kind, rng.randint(1, min(cfg.max_number, value - 1))
    return kind, 2


def _extend(expr: str, compound: bool, kind: str, k: int, rng: random.Random) -> tuple[str, bool]:
    """Apply one step to an expression; `compound` says it is a sum/difference (needs parens)."""
    if kind == "add":
        return (f"{expr}+{k}" if rng.random() < 0.5 else f"{k}+{expr}"), True
    if kind == "sub":
        return f"{expr}-{k}", True
    inner = f"({expr})" if compound else expr
    return (f"{inner}*2" if rng.random() < 0.5 else f"2*{inner}"), False


def generate_problem(rng: random.Random, cfg: ArithConfig) -> dict:
    """One problem: `question`, `answer` (GSM8K format), `level` (number of steps)."""
    name, pron = rng.choice(NAMES)
    obj = rng.choice(OBJECTS)
    fill = {"N": name, "p": pron, "P": pron.capitalize(), "o": obj}
    n_steps = rng.randint(cfg.min_steps, cfg.max_steps)
    start = value = rng.randint(1, min(cfg.max_number, cfg.max_value))
    sentences = [START_TEMPLATE.format(k=start, **fill)]
    steps = []
    for _ in range(n_steps):
        kind, k = _choose_step(rng, value, cfg)
        sentences.append(rng.choice(STEP_TEMPLATES[kind]).format(k=k, **fill))
        steps.append((kind, k))
        value = value + k if kind == "add" else value - k if kind == "sub" else value * 2
    sentences.append(QUESTION_TEMPLATE.format(**fill))

    lines, current, i = [], str(start), 0
    while i < len(steps):
        take = 2 if i + 1 < len(steps) and rng.random() < cfg.merge_prob else 1
        expr, compound = current, False
        for kind, k in steps[i:i + take]:
            expr, compound = _extend(expr, compound, kind, k, rng)
        result = eval(expr)  # noqa: S307 - expressions built above from integers and + - * ( )
        lines.append(rng.choice(SOLUTION_TEMPLATES).format(e=expr, v=result, **fill))
        current, i = str(result), i + take
    assert int(current) == value
    return {"question": " ".join(sentences), "answer": "\n".join(lines) + f"\n#### {value}",
            "level": n_steps}


def generate(split: str, n: int | None = None, seed: int | None = None) -> list[dict]:
    """Deterministic rows of an arith split (`train`, `test`, `ood`) with unique questions."""
    cfg = SPLITS[split]
    n = cfg.n if n is None else n
    rng = random.Random(cfg.seed if seed is None else seed)
    rows: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 200 * max(n, 1):
            raise RuntimeError(f"arith {split}: could not find {n} distinct questions")
        row = generate_problem(rng, cfg)
        q = row["question"]
        if q in seen or (split != "ood" and _is_test_question(q) != (split == "test")):
            continue
        seen.add(q)
        rows.append({"id": f"arith-{split}-{len(rows)}", **row})
    return rows


def arith_vocabulary(*prompt_templates: str) -> list[str]:
    """Every piece TOKEN_PATTERN can cut from arith questions, solutions and `prompt_templates`
    (pass `harness_ext.prompts.NUMERIC_TEMPLATE`, the one the arith task is prompted with)."""
    texts = [START_TEMPLATE, QUESTION_TEMPLATE, *prompt_templates, *SOLUTION_TEMPLATES,
             *(t for ts in STEP_TEMPLATES.values() for t in ts),
             *(n for n, _ in NAMES), *(p for _, p in NAMES), *(p.capitalize() for _, p in NAMES),
             *OBJECTS]
    words = {w for t in texts for w in re.findall(r"[A-Za-z]+", t)}
    pieces = {p for w in words for p in (w, " " + w)}
    pieces |= set("0123456789") | set(".,?:=+-*()") | {"<<", ">>", "####", "\n", " "}
    return sorted(pieces)
