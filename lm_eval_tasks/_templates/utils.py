"""`!function utils.x` glue for the selfimp YAML tasks; the logic lives in harness_ext.tasks."""
from harness_ext import tasks
from harness_ext.tasks import (  # noqa: F401
    SelfimpTask,
    VerifyFilter,
    doc_to_target,
    doc_to_text,
    load_docs,
    load_improvement_docs,
    mean,
    process_diversity,
    process_groups,
    process_pass1,
    process_passn,
    sbert_diversity,
    total,
)


def __getattr__(name: str):
    """`group_disparity_<dataset>` of every dataset with declared levels (harness_ext.tasks)."""
    return getattr(tasks, name)
