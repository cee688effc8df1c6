"""The dataset registry: every other module asks here what a dataset is (`get(name)`), which
lm-eval tasks it has (`tasks_of`), and which dataset a doc or a task name belongs to.

The table itself is `entries.DATASETS`; the task YAMLs in lm_eval_tasks/ are generated from it
(`python -m harness_ext.gen_task_yamls`)."""
from __future__ import annotations

from harness_ext.errors import SelfimpError
from harness_ext.registry.entries import DATASETS
from harness_ext.registry.spec import DatasetSpec, PromptFormat, TaskDef, Variant
from harness_ext.registry.variants import GREEDY, GROUPS, PASS1, SAMPLING, VARIANTS

TASK_PREFIX = "selfimp_"
REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in DATASETS}


def names() -> tuple[str, ...]:
    """Every registered dataset, in table order."""
    return tuple(REGISTRY)


def training_tasks() -> tuple[str, ...]:
    """The datasets a model can be trained on: those with a `train` split."""
    return tuple(s.name for s in DATASETS if "train" in s.splits)


def get(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise SelfimpError(f"unknown dataset {name!r}; valid: {', '.join(REGISTRY)}")
    return REGISTRY[name]


# ---------------------------------------------------------------- docs
def family_of_doc(doc: dict) -> list[DatasetSpec]:
    """The datasets prompted like `doc` (by their format's `doc_key`; numeric rows carry none)."""
    fmt = next((s.prompt for s in DATASETS if s.prompt.doc_key and s.prompt.doc_key in doc), None)
    if fmt is None:
        fmt = next(s.prompt for s in DATASETS if s.prompt.doc_key is None)
    return [s for s in DATASETS if s.prompt is fmt]


def spec_of_doc(doc: dict) -> DatasetSpec:
    """A dataset whose prompt, target and domain are the doc's (the first of its family)."""
    return family_of_doc(doc)[0]


def levels_of_doc(doc: dict) -> tuple[int, ...]:
    """The declared levels of the datasets with levels that are prompted like `doc`."""
    declared = {s.levels for s in family_of_doc(doc) if s.levels}
    if len(declared) != 1:
        raise SelfimpError(f"no single set of declared levels for a doc with fields {sorted(doc)}: "
                           f"{sorted(declared) or 'none'}")
    return declared.pop()


# ---------------------------------------------------------------- lm-eval tasks
def task_name(dataset: str, suffix: str) -> str:
    return f"{TASK_PREFIX}{dataset}_{suffix}"


def _tags(spec: DatasetSpec, variant: Variant, split: str) -> tuple[str, ...]:
    tags = [f"{TASK_PREFIX}{spec.name}"]
    if variant is PASS1 and split == "test":
        tags += [f"{TASK_PREFIX}reversal"] if spec.reversal else []
        tags += [f"{TASK_PREFIX}ood_{s.name}" for s in DATASETS if spec.name in s.ood]
    return tuple(tags)


def tasks_of(name: str) -> list[TaskDef]:
    """Every lm-eval task of one dataset: the variants (groups only with levels), then one greedy
    task per extra evaluation split."""
    spec = get(name)
    variants = [v for v in VARIANTS if v is not GROUPS or spec.levels]
    out = [TaskDef(task_name(name, v.suffix), name, v, "test", _tags(spec, v, "test")) for v in variants]
    out += [TaskDef(task_name(name, f"{split}_{PASS1.suffix}"), name, PASS1, split, _tags(spec, PASS1, split))
            for split in spec.eval_splits]
    return out


def all_tasks() -> list[TaskDef]:
    return [t for name in REGISTRY for t in tasks_of(name)]


def greedy_task(name: str) -> str:
    """The greedy task that also gives levels where the dataset declares them."""
    return task_name(name, (GROUPS if get(name).levels else PASS1).suffix)


def default_eval_tasks(train_task: str, diversity: bool = True, pass1: bool = True) -> list[str]:
    """What a sweep evaluates for a model trained on `train_task`: pass@1, pass@k, diversity, its
    OOD datasets (their groups task where they have levels), its extra splits, its groups."""
    spec = get(train_task)
    out = [task_name(train_task, "pass1")] if pass1 else []
    out += [task_name(train_task, "passn")] + ([task_name(train_task, "diversity")] if diversity else [])
    out += [greedy_task(o) for o in spec.ood]
    out += [task_name(train_task, f"{split}_pass1") for split in spec.eval_splits]
    out += [task_name(train_task, GROUPS.suffix)] if spec.levels else []
    return out


def variant_of_task(task: str) -> Variant | None:
    """The variant a task name ends in (`selfimp_arith_ood_pass1` -> pass1), None for others."""
    return next((v for v in VARIANTS if task.endswith(f"_{v.suffix}")), None)


def dataset_key(task: str) -> str:
    """The name logs over the same problems share: selfimp_gsm8k_pass1 and _passn -> selfimp_gsm8k."""
    variant = variant_of_task(task)
    return task[: -len(variant.suffix) - 1] if variant else task


def task_role(task: str) -> str:
    """greedy | sampled | diversity | groups | improve (a task of no variant: greedy)."""
    variant = variant_of_task(task)
    return variant.role if variant else "greedy"


def builtin_verifier_name(task: str) -> str | None:
    """The dataset whose verifier rescores an lm-eval built-in task's log (gsm8k_cot -> gsm8k)."""
    return next((s.name for s in DATASETS for p in s.builtin_tasks if task.startswith(p)), None)


def builtin_prefixes() -> list[str]:
    return [p for s in DATASETS for p in s.builtin_tasks]


def has_equations(name: str) -> bool:
    """The dataset's domain writes `<<expr=value>>` equations (False for names not registered)."""
    return name in REGISTRY and REGISTRY[name].domain.equations


def declared_levels(name: str) -> tuple[int, ...]:
    """Declared levels, first to last; () for a dataset without levels or not registered."""
    return REGISTRY[name].levels if name in REGISTRY else ()


__all__ = ["DATASETS", "GREEDY", "REGISTRY", "SAMPLING", "TASK_PREFIX", "VARIANTS", "DatasetSpec",
           "PromptFormat", "TaskDef", "Variant", "all_tasks", "builtin_prefixes", "builtin_verifier_name",
           "dataset_key", "declared_levels", "default_eval_tasks", "family_of_doc", "get", "greedy_task",
           "has_equations", "levels_of_doc", "names", "spec_of_doc", "task_name", "task_role", "tasks_of",
           "training_tasks", "variant_of_task"]
