"""Test hook: `SELFIMP_TEST_KILL_AT=<stage>` makes the process SIGKILL itself at that stage
(sampling | training | saving), optionally only in round `SELFIMP_TEST_KILL_ITER=<t>`.
Used by the crash-safety tests; a no-op otherwise."""
from __future__ import annotations

import os
import signal

_current_iteration: int | None = None


def set_iteration(t: int) -> None:
    global _current_iteration
    _current_iteration = t


def crash_point(stage: str) -> None:
    if os.environ.get("SELFIMP_TEST_KILL_AT") != stage:
        return
    wanted = os.environ.get("SELFIMP_TEST_KILL_ITER")
    if wanted is not None and str(_current_iteration) != wanted:
        return
    os.kill(os.getpid(), signal.SIGKILL)
