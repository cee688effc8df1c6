"""The plumbing of an iteration's stages, kept out of the algorithm: a checkpoint directory that
appears only when complete, and wall times per stage."""
from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from harness_ext.distributed import process_state


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """A fresh `<final>.tmp` for the block to fill (made by the main process, seen by every process);
    when the block ends without an error, the main process renames it to `final` (replacing any
    earlier one). A crash leaves only the `.tmp`, which the next attempt starts over."""
    tmp = final.with_name(final.name + ".tmp")
    main_process = process_state().is_main_process
    if main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    process_state().wait_for_everyone()
    yield tmp
    if main_process:
        shutil.rmtree(final, ignore_errors=True)  # only a complete rename creates it: nothing to keep here
        tmp.rename(final)
    process_state().wait_for_everyone()


@contextlib.contextmanager
def timed(times: dict[str, float], stage: str, minus: float = 0.0) -> Iterator[None]:
    """`times[stage]`: the block's wall time in seconds (rounded to 0.01), less `minus`."""
    start = time.perf_counter()
    yield
    times[stage] = round(time.perf_counter() - start - minus, 2)
