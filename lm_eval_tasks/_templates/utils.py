"""`!function utils.x` glue for the selfimp YAML tasks; the logic lives in harness_ext.tasks."""
from harness_ext.tasks import (  # noqa: F401
    VerifyFilter,
    doc_to_target,
    doc_to_text,
    group_disparity_arith,
    group_disparity_math,
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
