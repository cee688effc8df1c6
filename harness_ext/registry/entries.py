"""THE dataset table: one `DatasetSpec` per dataset (numeric ones first: error messages list them
in this order). Adding a dataset = adding one entry here (plus a normaliser in `rows.py` for a
new raw schema; a format in `formats.py` and a verifier in `harness_ext.verify` for a new domain),
then `python -m harness_ext.gen_task_yamls` (docs/add-a-dataset.md)."""
from __future__ import annotations

import harness_ext.registry.formats as formats
import harness_ext.registry.rows as rows
from harness_ext import arith
from harness_ext.registry.spec import DatasetSpec

MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")

DATASETS = (
    DatasetSpec("gsm8k", ("train", "test"), formats.NUMERIC, 512, rows.gsm8k,
                hub_id="openai/gsm8k", hub_configs=("main",), reversal=True,
                ood=("math", "svamp", "mawps"), builtin_tasks=("gsm8k",)),
    DatasetSpec("arith", tuple(arith.SPLITS), formats.NUMERIC, 128, generate=arith.generate,
                levels=(1, 2, 3, 4), eval_splits=("ood",), split_max_gen_toks={"ood": 192}),
    DatasetSpec("svamp", ("test",), formats.NUMERIC, 512, rows.svamp, hub_id="ChilleD/SVAMP"),
    DatasetSpec("mawps", ("test",), formats.NUMERIC, 512, rows.mawps, hub_id="MU-NLPC/Calc-mawps"),
    DatasetSpec("math", ("train", "test"), formats.MATH, 1024, rows.math,
                hub_id="EleutherAI/hendrycks_math", hub_configs=MATH_SUBJECTS, levels=(1, 2, 3, 4, 5),
                reversal=True, builtin_tasks=("minerva_math", "hendrycks_math", "leaderboard_math")),
    DatasetSpec("csqa", ("train", "validation", "test"), formats.CSQA, 64, rows.csqa,
                hub_id="tau/commonsense_qa", split_files={"test": "validation"}, reversal=True),
    DatasetSpec("mbpp", ("train", "validation", "test", "prompt"), formats.CODE, 512, rows.mbpp,
                hub_id="google-research-datasets/mbpp", hub_configs=("sanitized",), reversal=True,
                builtin_tasks=("mbpp",)),
    DatasetSpec("math_algebra", ("train", "test"), formats.MATH, 1024, rows.math,
                hub_id="EleutherAI/hendrycks_math", hub_configs=("algebra",), local_dir="math",
                keep=lambda row: row["type"] == "Algebra", levels=(1, 2, 3, 4, 5)),
)
