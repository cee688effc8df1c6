"""Why a reversal happens, per round from a training run's own files (docs/mechanisms.md): tail
narrowing (per difficulty level: the share of training questions with a correct sample, and the
level's share of the round's training data), exploration (pass@k on the training questions, the
diversity of the correct candidates), exploitation (DPO / GRPO: questions or groups with no learning
signal), and the paired test of the hardest level's coverage from the first sampled round to the last.
`mechanisms` joins them with the per-checkpoint calibration (`calibration`) for the report."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats

from harness_ext import metrics
from harness_ext.data import load_rows
from harness_ext.errors import SelfimpError
from harness_ext.improve import compare_solved
from harness_ext.io import read_jsonl_numbered
from harness_ext.prompts import gold_completion
from harness_ext.report.calibration import HIGH_CONFIDENCE, N_BINS, calibration_table, ece_verdict
from harness_ext.report.diversity import summary
from harness_ext.report.inputs import Checkpoint
from harness_ext.report.stats import clopper_pearson, mcnemar_exact_p, paired_diff_agresti_min
from harness_ext.report.verdicts import INCONCLUSIVE, Verdict
from harness_ext.run_format import MANIFEST, read_manifest
from selfimp_train.pairs import dpo_pairs, group_by_question, sft_examples

DECLARED = "declared level"
LENGTH_PROXY = "gold-solution length tercile (words; 1 = shortest, 3 = longest)"
WIDER, NARROWER = "hardest level covered more", "tail narrowing (hardest level covered less)"
TRAINING_UNITS = {"sft": "SFT examples", "dpo": "DPO pairs", "grpo": "GRPO groups with mixed rewards"}
CONFIDENCE = "share of the n samples giving the majority answer; correct = the majority answer is correct"


@dataclass(frozen=True)
class Round:
    """One round's judged candidates: samples of the parent (offline updates) or the rollouts an
    online update drew while training (GRPO)."""

    label: str  # the model the round trained
    t: int
    method: str
    update: str
    source: str  # file name in the run dir
    drawn_by: str  # the parent (samples) or the model in training (rollouts)
    by_question: dict[str, list[dict]]


def question_levels(task: str, rows: list[dict]) -> tuple[dict[str, int], str]:
    """Each training question's difficulty level: the dataset's own (arith steps, MATH levels) or,
    without one, the tercile of its gold solution's length in words (ties share the mean rank)."""
    if rows and all(isinstance(r.get("level"), int) for r in rows):
        return {str(r["id"]): r["level"] for r in rows}, DECLARED
    lengths = [len(gold_completion(task, r).split()) for r in rows]
    if len(set(lengths)) < 2:
        return {}, "none: no declared level, and every gold solution has the same length"
    ranks = scipy_stats.rankdata(lengths)
    terciles = np.ceil(3 * ranks / max(len(rows), 1)).astype(int)
    return {str(r["id"]): int(t) for r, t in zip(rows, terciles)}, LENGTH_PROXY


def run_rounds(run_dir: Path, manifest: dict) -> list[Round]:
    """Every complete round t >= 2 with candidates, in the manifest's order (a file shared by several
    methods' rounds, `samples_2.jsonl` under --method all, is read once)."""
    out, read = [], {}
    for it in manifest.get("iterations") or []:
        source = it.get("samples") or it.get("rollouts")
        if it.get("status") != "complete" or not source:
            continue
        path = run_dir / source
        if not path.is_file():
            raise SelfimpError(f"{run_dir / MANIFEST}: iteration {it['label']} lists {source}, which is missing")
        if source not in read:
            read[source] = group_by_question(candidates(path))
        drawn_by = it["parent"] if it.get("samples") else f"{it['label']} while training"
        if read[source]:
            out.append(Round(it["label"], it["t"], it["method"], it["update"], source, drawn_by, read[source]))
    return out


CANDIDATE_FIELDS = {"question_id": (str, int), "completion": (str,), "correct": (bool,)}


def candidates(path: Path) -> list[dict]:
    """A round's judged candidates, each checked for the fields the measures read."""
    rows = read_jsonl_numbered(path)
    for lineno, r in rows:
        for key, kinds in CANDIDATE_FIELDS.items():
            if not isinstance(r.get(key), kinds):
                raise SelfimpError(f"{path}:{lineno}: field {key!r} must be a "
                                   f"{' or '.join(k.__name__ for k in kinds)}, got {r.get(key)!r}")
    return [{**r, "question_id": str(r["question_id"])} for _, r in rows]


def training_units(rnd: Round, max_pairs: int) -> Counter:
    """Per question, what the round trained on: SFT examples and DPO pairs as the trainer builds them
    (`selfimp_train.pairs`), GRPO groups (one prompt's G completions of one step) with mixed rewards."""
    records = [r for recs in rnd.by_question.values() for r in recs]
    ids = {q: q for q in rnd.by_question}  # the question id stands in for the prompt
    if rnd.update == "sft":
        return Counter(e["prompt"] for e in sft_examples(records, ids))
    if rnd.update == "dpo":
        return Counter(e["prompt"] for e in dpo_pairs(records, ids, max_pairs, seed=0))
    return Counter(q for q, _ in mixed_groups(rnd))


def signal_groups(rnd: Round) -> dict[tuple[str, object], list[bool]]:
    """The sets of candidates an update compares: per question (DPO), per question and step (GRPO)."""
    groups: dict[tuple[str, object], list[bool]] = {}
    for q, recs in rnd.by_question.items():
        for r in recs:
            groups.setdefault((q, r.get("step") if rnd.update == "grpo" else None), []).append(bool(r["correct"]))
    return groups


def mixed_groups(rnd: Round) -> list[tuple[str, object]]:
    return [key for key, c in signal_groups(rnd).items() if any(c) and not all(c)]


def covered(recs: list[dict]) -> bool:
    return any(r["correct"] for r in recs)


def questions_by_level(by_question: dict[str, list[dict]], levels: dict[str, int]) -> dict[int, list[str]]:
    """The questions of each level, in level order (questions without a level are left out)."""
    out: dict[int, list[str]] = {}
    for q in by_question:
        if q in levels:
            out.setdefault(levels[q], []).append(q)
    return dict(sorted(out.items()))


def level_coverage(by_question: dict[str, list[dict]], levels: dict[str, int]) -> dict[int, dict]:
    """Per level: questions, how many have >= 1 correct candidate, that share (Clopper-Pearson CI)."""
    out = {}
    for level, qs in questions_by_level(by_question, levels).items():
        k = sum(covered(by_question[q]) for q in qs)
        lo, hi = clopper_pearson(k, len(qs))
        out[level] = {"n_questions": len(qs), "covered": k, "coverage": {"value": k / len(qs), "ci": [lo, hi]}}
    return out


def level_table(rnd: Round, levels: dict[str, int], units: Counter) -> dict[int, dict]:
    """`level_coverage`, and each level's share of the round's training units."""
    total = sum(units.values())
    out = level_coverage(rnd.by_question, levels)
    for level, qs in questions_by_level(rnd.by_question, levels).items():
        mine = sum(units[q] for q in qs)
        out[level].update(train_units=mine, train_share=mine / total if total else None)
    return out


def exploration(rnd: Round, seed: int) -> dict:
    """Mean unbiased pass@k over the round's questions for k = 1..n (n: the fewest candidates a question
    has) and Distinct-N of each question's correct candidates (questions with >= 2; counts not matched)."""
    counts = [(len(recs), sum(r["correct"] for r in recs)) for recs in rnd.by_question.values()]
    n = min(c for c, _ in counts)
    pass_at_k = {k: float(np.mean([metrics.pass_at_k(m, c, k) for m, c in counts])) for k in range(1, n + 1)}
    texts = [[r["completion"] for r in recs if r["correct"]] for recs in rnd.by_question.values()]
    diversity = [metrics.problem_diversity("distinct_n", g) for g in texts if len(g) >= metrics.MIN_TEXTS]
    return {"n_questions": len(counts), "n": n, "pass_at_k": pass_at_k,
            "correct_distinct_n": summary(diversity, seed)}


def exploitation(rnd: Round) -> dict | None:
    """DPO / GRPO: the share of candidate sets all correct or all wrong (no pair, zero advantage)."""
    if rnd.update not in ("dpo", "grpo"):
        return None
    sets = list(signal_groups(rnd).values())
    right, wrong = sum(all(c) for c in sets), sum(not any(c) for c in sets)
    lo, hi = clopper_pearson(right + wrong, len(sets))
    return {"unit": "questions" if rnd.update == "dpo" else "(question, step) groups", "n": len(sets),
            "all_correct": right, "all_wrong": wrong,
            "no_signal": {"value": (right + wrong) / len(sets), "ci": [lo, hi]}}


def coverage_verdict(task: str, method: str, first: Round, last: Round, hardest: list[str]) -> Verdict:
    """Hardest level's coverage, last round − first round, on the questions both rounds drew, each with
    the same number of candidates (the first min(n_first, n_last)): exact McNemar, Agresti-Min interval."""
    common = [q for q in hardest if q in first.by_question and q in last.by_question]
    m = {q: min(len(first.by_question[q]), len(last.by_question[q])) for q in common}
    before = {q: covered(first.by_question[q][:m[q]]) for q in common}
    after = {q: covered(last.by_question[q][:m[q]]) for q in common}
    fields = dict(axis="tail narrowing", dataset=task, method=method, compare=f"round {last.t} vs round {first.t}",
                  measure=f"hardest level's share of training questions with >= 1 correct candidate (after − before), "
                          f"{len(common)} questions", test="exact McNemar (paired over questions)",
                  ci_method="Agresti-Min (paired Wald, +0.5 per cell)", words=(WIDER, NARROWER), null_word=INCONCLUSIVE)
    if not common:
        return Verdict(value=math.nan, ci=(math.nan, math.nan), p=None, direction=0.0,
                       reason="the two rounds drew no hardest-level question in common", **fields)
    tr = compare_solved(before, after).transitions()
    table = (tr["both"], tr["newly_forgotten"], tr["newly_solved"], tr["neither"])
    est = paired_diff_agresti_min(*table)
    detail = (f"{tr['newly_solved']} newly covered vs {tr['newly_forgotten']} lost; "
              f"{min(m.values())}-{max(m.values())} candidates per question ({first.source} → {last.source})")
    return Verdict(value=est.value, ci=(est.lo, est.hi), p=float(mcnemar_exact_p(tr["newly_solved"], tr["newly_forgotten"])),
                   direction=float(np.sign(est.value)), detail=detail, before=sum(before.values()) / len(common),
                   after=sum(after.values()) / len(common),
                   interval=lambda level: paired_diff_agresti_min(*table, level=level).ci, **fields)


def run_mechanisms(run_dir: Path, seed: int = 0) -> tuple[dict, list[Verdict]]:
    """Per method: each round's level table, exploration and exploitation; the hardest-level verdicts."""
    manifest = read_manifest(run_dir)
    config = manifest.get("config") or {}
    task = manifest.get("task")
    rounds = run_rounds(run_dir, manifest)
    if not rounds:
        return {"task": task, "note": "no complete round with candidates yet"}, []
    try:
        levels, kind = question_levels(task, load_rows(task, "train", config.get("data_dir")))
    except SelfimpError as err:  # the report still has every other number of the rounds
        levels, kind = {}, f"unavailable: the training rows could not be loaded ({err})"
    used = [levels[q] for rnd in rounds for q in rnd.by_question if q in levels]
    hardest = max(used) if used else None
    max_pairs = config.get("max_pairs_per_question")
    if any(r.update == "dpo" for r in rounds) and not isinstance(max_pairs, int):
        raise SelfimpError(f"{run_dir / MANIFEST}: config.max_pairs_per_question must be an int for DPO rounds")
    out: dict = {"task": task, "levels": kind, "hardest": hardest, "methods": {}}
    verdicts = []
    for method in dict.fromkeys(r.method for r in rounds):
        mine = sorted((r for r in rounds if r.method == method), key=lambda r: r.t)
        out["methods"][method] = [
            {"label": r.label, "t": r.t, "update": r.update, "source": r.source, "drawn_by": r.drawn_by,
             "training_unit": TRAINING_UNITS.get(r.update),
             "levels": level_table(r, levels, training_units(r, max_pairs)), "exploration": exploration(r, seed),
             "exploitation": exploitation(r)} for r in mine]
        if len(mine) >= 2 and hardest is not None:
            ids = [q for q, lv in levels.items() if lv == hardest]
            verdicts.append(coverage_verdict(task, method, mine[0], mine[-1], ids))
    return out, verdicts


def calibration_section(ds: str, m1: Checkpoint, series: dict, per_ck: dict, seed: int) -> tuple[dict, list[Verdict]]:
    """Per checkpoint with a sampled log of `ds`: its calibration; per method: ECE M1 → last round."""
    def sampled(ck: Checkpoint):
        entry = per_ck[ck.label].get(ds)
        return entry.sampled if entry is not None else None

    cks = {ck.label: ck for cks in series.values() for ck in cks}
    table = {label: calibration_table(log) for label, ck in cks.items() if (log := sampled(ck)) is not None}
    verdicts = []
    for method, chain in series.items():
        last = chain[-1]
        if last is not m1 and sampled(m1) is not None and sampled(last) is not None:
            verdicts.append(ece_verdict(ds, method, f"{last.label} vs {m1.label}", sampled(m1), sampled(last), seed))
    return {"confidence": CONFIDENCE, "ece_bins": N_BINS, "high_confidence": HIGH_CONFIDENCE,
            "checkpoints": table}, verdicts


def mechanisms(run_dir: Path | None, m1: Checkpoint, series: dict, per_ck: dict, primaries: list[str],
               seed: int = 0) -> tuple[dict, list[Verdict]]:
    """report.json's `mechanisms` (training-run rounds, per-checkpoint calibration) and its verdicts."""
    out: dict = {"rounds": None, "calibration": {}}
    verdicts: list[Verdict] = []
    if run_dir is not None:
        out["rounds"], verdicts = run_mechanisms(run_dir, seed)
    for ds in primaries:
        out["calibration"][ds], found = calibration_section(ds, m1, series, per_ck, seed)
        verdicts += found
    return out, verdicts
