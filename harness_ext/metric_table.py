"""The metrics of every selfimp task in one table (as lighteval's `SampleLevelMetric`): each metric's
name, the per-doc function of `harness_ext.tasks` that writes it (`process_results`), its aggregation
(a function of `harness_ext.tasks`) and `higher_is_better`. The templates' `metric_list`s are generated
from it (`harness_ext.gen_task_yamls`), and the `process_*` functions write exactly these names."""
from __future__ import annotations

from dataclasses import dataclass

PASS_K = (1, 2, 4, 8, 16, 32, 64)  # the ks of pass@k in the passn and improve tasks
CLASSES = ("correct", "incorrect")  # diversity is measured within each class of samples


@dataclass(frozen=True)
class TaskMetric:
    name: str
    aggregation: str = "mean"
    higher_is_better: bool = True


@dataclass(frozen=True)
class MetricList:
    """A task template's per-doc function and the metrics it writes, in `metric_list` order."""

    process_results: str
    metrics: tuple[TaskMetric, ...]


PASS1 = MetricList("process_pass1", (TaskMetric("pass@1"),))
PASS1_HIDDEN = MetricList("process_pass1", (TaskMetric("pass@1"), TaskMetric("pass@1_hidden")))
PASSN = MetricList("process_passn", (*(TaskMetric(f"pass@{k}") for k in PASS_K), TaskMetric("avg@n")))
IMPROVE = MetricList("process_passn", (*PASSN.metrics, TaskMetric("improvement_set_size", "total")))


def diversity(equations: bool) -> MetricList:
    """avg@n; per class the problems used, Distinct-N and SBERT; Distinct Equations where the domain's
    solutions write equations."""
    per_class = tuple(m for cls in CLASSES for m in (TaskMetric(f"n_problems_{cls}", "total"),
                                                      TaskMetric(f"distinct_n_{cls}"),
                                                      TaskMetric(f"sbert_{cls}", "sbert_diversity")))
    extra = tuple(TaskMetric(f"distinct_equations_{cls}") for cls in CLASSES) if equations else ()
    return MetricList("process_diversity", (TaskMetric("avg@n"), *per_class, *extra))


def groups(dataset: str, levels: tuple[int, ...]) -> MetricList:
    """Greedy pass@1 overall and per declared level, and the group disparity of the first and last level."""
    return MetricList("process_groups", (TaskMetric("pass@1"), *(TaskMetric(f"level_{lv}") for lv in levels),
                                         TaskMetric("group_disparity", f"group_disparity_{dataset}", False)))
