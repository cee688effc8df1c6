"""A sweep dir of hand-built sample logs whose report numbers are known by construction (four
checkpoints of the arith task; greedy, sampled, diversity, OOD and groups logs), a built-in gsm8k log,
and that sweep with real GSM8K solutions as its diversity samples."""
from __future__ import annotations

import json

from lmeval_logs import log_line, our_log_lines, write_log

BLOCKS = 4  # the 10-doc pattern below, 4 times: 40 test problems
SOLVED = {  # greedy pass@1 pattern per 10 docs
    "M1": {0, 1, 2, 3},
    "sft_2": {0, 1, 2, 4, 5},
    "sft_3": {0, 1, 2, 3, 4, 5, 6},
    "dpo_2": {0, 1, 2, 3},
}
M1_CORRECT_OF_4 = [4, 3, 2, 2, 1, 2, 0, 0, 0, 1]  # M1's correct samples out of n = 4 per doc
CHECKPOINTS = [("M1", 1, "sft"), ("sft_2", 2, "sft"), ("sft_3", 3, "sft"), ("dpo_2", 2, "dpo")]
VARIED = (["<<1+2=3>> so 3 #### 3", "<<2+1=3>> then three #### 3"], ["<<1+1=2>> #### 2", "<<5-1=4>> gives #### 4"])
SAME = (["<<1+2=3>> so 3 #### 3"] * 2, ["<<1+1=2>> #### 2"] * 2)
# difficulty groups: 10 docs per level 1..4; solved count per level
GROUP_SOLVED = {"M1": [10, 6, 4, 1], "sft_2": [10, 6, 4, 1], "sft_3": [10, 7, 5, 8], "dpo_2": [10, 6, 4, 1]}


def doc(i: int, **extra) -> dict:
    return {"id": f"q{i}", "question": f"problem {i}", "answer": "#### 3", **extra}


def greedy_lines(solved: set[int]):
    return our_log_lines([(doc(i), [("t", "3" if i % 10 in solved else "2", i % 10 in solved)])
                          for i in range(10 * BLOCKS)])


def build_sweep(root):
    sweep = root / "sweep"
    for label, t, method in CHECKPOINTS:
        out = sweep / label / "model"
        write_log(out, "selfimp_arith_pass1", greedy_lines(SOLVED[label]))
        texts = SAME if label == "sft_3" else VARIED
        write_log(out, "selfimp_arith_diversity", our_log_lines(
            [(doc(i), [(x, "3", True) for x in texts[0]] + [(x, "2", False) for x in texts[1]])
             for i in range(10 * BLOCKS)], as_json=True))
        write_log(out, "selfimp_svamp_pass1", our_log_lines(
            [(doc(100 + i), [("t", None, i < 5)]) for i in range(10)]))
        groups = []
        for level, n_solved in enumerate(GROUP_SOLVED[label], 1):
            groups += [(doc(1000 + 10 * level + j, level=level), [("t", None, j < n_solved)]) for j in range(10)]
        write_log(out, "selfimp_arith_groups", our_log_lines(groups))
    write_log(sweep / "M1" / "model", "selfimp_arith_passn", our_log_lines(
        [(doc(i), [("s", "3", k < M1_CORRECT_OF_4[i % 10]) for k in range(4)]) for i in range(10 * BLOCKS)]))
    (sweep / "sweep.json").write_text(json.dumps({
        "source": "runs/x", "train_task": "arith", "tasks": [], "n": 4,
        "checkpoints": [{"label": lab, "path": f"runs/x/{lab}", "t": t, "method": m} for lab, t, m in CHECKPOINTS],
    }))
    return sweep


def builtin_gsm8k_lines(samples_per_doc: dict[str, list[str]]) -> list[dict]:
    """A built-in `gsm8k` log run with repeats: raw generations only, one line per doc and filter."""
    lines = []
    for i, (answer, texts) in enumerate(samples_per_doc.items()):
        d = {"question": f"What is {answer}?", "answer": f"It is {answer}.\n#### {answer}"}
        for filt in ("strict-match", "flexible-extract"):
            lines.append(log_line(i, d, texts, [texts[0].split()[-1]] * len(texts), target=d["answer"], filt=filt))
    return lines


def gsm8k_sweep(root, pool: list[str]):
    """test_report's sweep with each checkpoint's diversity samples drawn from real GSM8K solutions:
    50 texts (10 problems x 5) per checkpoint, each overlapping the next checkpoint's by half."""
    sweep = build_sweep(root)
    for k, (label, _, _) in enumerate(CHECKPOINTS):
        mine = pool[25 * k: 25 * k + 50]
        write_log(sweep / label / "model", "selfimp_arith_diversity", our_log_lines(
            [(doc(i), [(x, "3", True) for x in mine[5 * i:5 * i + 3]]
              + [(x, "2", False) for x in mine[5 * i + 3:5 * i + 5]]) for i in range(10)], as_json=True))
    return sweep
