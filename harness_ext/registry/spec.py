"""The records of the dataset registry: a prompt format, a dataset spec, an lm-eval task variant."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

Normaliser = Callable[[dict, str, int], dict]  # (raw row, split, index) -> normalised row


@dataclass(frozen=True)
class Domain:
    """A kind of problem: what an answer is, which verifier of `harness_ext.verify` judges it (by `name`),
    whether solutions write `<<expr=value>>` equations (Distinct Equations is then one of its diversity
    metrics) and whether judging runs model-written code (the sandbox; lm-eval's `unsafe_code`)."""

    name: str  # numeric | math | csqa | code: the key of harness_ext.verify.VERIFIERS
    answer: str
    equations: bool = False
    unsafe_code: bool = False
    hidden_tests: bool = False  # judged on tests the program never saw too (pass@1_hidden; docs/safety.md)


@dataclass(frozen=True)
class PromptFormat:
    """One zero-shot prompt family, shared by training and evaluation.

    The prompt is `template.format(**fields(doc))`, the SFT target `gold(doc)`. `doc_key` is a field
    that only rows of this format carry (the lm-eval glue sees only the doc); None: the fallback.
    Each format poses the problems of one `domain`.
    """

    domain: Domain
    template: str
    fields: Callable[[dict], dict]
    gold: Callable[[dict], str]
    stop: tuple[str, ...]
    doc_key: str | None = None

    def prompt(self, doc: dict) -> str:
        return self.template.format(**self.fields(doc))


@dataclass(frozen=True)
class DatasetSpec:
    """Everything selfimp knows about one dataset (cf. lighteval's `LightevalTaskConfig`).

    Rows come from `generate(split)` (synthetic), or from `<SELFIMP_DATA_DIR>/<local_dir>/<file>.jsonl`,
    or from the Hub (`hub_id`, each of `hub_configs`), through `normalise`.
    """

    name: str
    splits: tuple[str, ...]
    prompt: PromptFormat  # its format, and through it its domain
    max_gen_toks: int  # of the test split and every split without its own entry in `split_max_gen_toks`
    normalise: Normaliser | None = None
    hub_id: str | None = None
    hub_configs: tuple[str | None, ...] = (None,)  # Hub rows carry their `_config` and `_index`
    local_dir: str | None = None  # default: `name`
    split_files: Mapping[str, str] = field(default_factory=dict)  # split -> file / Hub split when they differ
    keep: Callable[[dict], bool] | None = None  # raw-row filter: a subset of a larger dataset
    generate: Callable[[str], list[dict]] | None = None  # synthetic rows of a split, never downloaded
    levels: tuple[int, ...] = ()  # declared difficulty levels, first to last (row field `level`)
    ood: tuple[str, ...] = ()  # OOD datasets evaluated for a model trained on this one
    eval_splits: tuple[str, ...] = ()  # extra splits with a greedy task `selfimp_<name>_<split>_pass1`
    reversal: bool = False  # one of the paper's four datasets (tag `selfimp_reversal`)
    builtin_tasks: tuple[str, ...] = ()  # name prefixes of lm-eval built-in tasks we rescore
    split_max_gen_toks: Mapping[str, int] = field(default_factory=dict)  # split -> a longer limit

    @property
    def domain(self) -> Domain:
        return self.prompt.domain

    def gen_toks(self, split: str = "test") -> int:
        """Generation length limit in tokens for problems of `split`."""
        return self.split_max_gen_toks.get(split, self.max_gen_toks)

    def file_split(self, split: str) -> str:
        return self.split_files.get(split, split)


@dataclass(frozen=True)
class Variant:
    """One kind of lm-eval task every dataset gets: `selfimp_<dataset>_<suffix>`."""

    suffix: str
    role: str  # how a report reads its log: greedy | sampled | diversity | groups | improve
    template: str  # lm_eval_tasks/_templates/<template>, `{name}` filled for per-dataset ones
    sampled: bool
    what: str  # the comment line of the task YAML


@dataclass(frozen=True)
class TaskDef:
    """One lm-eval task of one dataset."""

    name: str
    dataset: str
    variant: Variant
    split: str = "test"
    tags: tuple[str, ...] = ()
