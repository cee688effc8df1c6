"""`selfimp-train`: run or resume the self-improvement loop and print its summary.

With no arguments it runs the embedded default (tiny Llama on the bundled arith task, CPU,
a few minutes); see `selfimp-train --help` for every field of the config.
"""
from __future__ import annotations

import os
import sys

from harness_ext.distributed import process_state
from harness_ext.errors import cli_errors
from selfimp_train.config import parse_config
from selfimp_train.loop import run
from selfimp_train.manifest import check_run_dir
from selfimp_train.summary import print_summary, summarize
from selfimp_train.task_loading import evaluation_setting


@cli_errors
def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(sys.argv[1:] if argv is None else argv)
    state = process_state()
    if state.is_main_process:
        check_run_dir(cfg, evaluation_setting(cfg))  # a bad --out or --resume stops here, before any model is loaded
    if cfg.embedded:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"selfimp-train: {cfg.task} / {cfg.method}, {cfg.iters} iterations -> {cfg.run_dir}"
          + (" (embedded CPU preset)" if cfg.embedded else ""), flush=True)
    manifest = run(cfg)
    if state.is_main_process:
        print_summary(summarize(cfg, manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
