"""`selfimp-eval`: lm-eval with the selfimp tasks on its include path.

    selfimp-eval tasks-dir                      print the directory for `lm_eval --include_path`
    selfimp-eval ls tasks                       any lm_eval command (run / ls / validate / legacy flat
    selfimp-eval run --model hf ... [--n N]     args); --n N sets n (repeats) of every sampling task
    selfimp-eval sweep ...                      evaluate every checkpoint of a training run
"""
from __future__ import annotations

import sys
import tempfile
from typing import Sequence

from harness_ext.errors import SelfimpError, cli_errors
from harness_ext.lm_eval_compat import install_data_parallel, install_vllm_cpu_shim, merged_include_dir, tasks_dir
from harness_ext.termination import shutdown_vllm_engines, termination_as_exit


def _pop_option(argv: list[str], name: str) -> tuple[str | None, list[str]]:
    """Remove `name VALUE` / `name=VALUE` from argv; the value (or None) and the rest."""
    rest, value, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == name:
            if i + 1 >= len(argv):
                raise SelfimpError(f"{name} needs a value")
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def _parse_n(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise SelfimpError(f"--n must be a positive integer (got {value!r})")
    return int(value)


def run_lm_eval(argv: Sequence[str]) -> None:
    """Run lm-eval's own CLI in this process with `argv`; SIGTERM / SIGHUP exit with 128 + signum
    after the vLLM engines are shut down."""
    from lm_eval.__main__ import cli_evaluate

    install_vllm_cpu_shim()
    install_data_parallel()
    saved = sys.argv
    sys.argv = ["lm-eval", *argv]
    with termination_as_exit():
        try:
            cli_evaluate()
        finally:
            sys.argv = saved
            shutdown_vllm_engines()


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["tasks-dir"]:
        print(tasks_dir())
        return 0
    if argv[:1] == ["sweep"]:
        from harness_ext.sweep import main as sweep_main

        return sweep_main(argv[1:]) or 0
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        run_lm_eval(["--help"])
        return 0
    n_value, argv = _pop_option(argv, "--n")
    include, argv = _pop_option(argv, "--include_path")
    n = _parse_n(n_value)
    with tempfile.TemporaryDirectory(prefix="selfimp_tasks_") as tmp:
        if n is None and include is None:
            path = tasks_dir()
        else:
            path = merged_include_dir([tasks_dir(), *([include] if include else [])], n, into=tmp)
        run_lm_eval([*argv, "--include_path", str(path)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
