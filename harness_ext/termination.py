"""Ending in-process vLLM work cleanly, for the sweep and the trainer's sampler alike.

- `shutdown_vllm_engines()`: after an in-process lm-eval run, stop vLLM's engine process, which
  otherwise keeps the interpreter waiting at exit.
- `termination_as_exit()`: while lm-eval (or the trainer's sampler) runs, SIGTERM / SIGHUP raise
  SystemExit, so the `finally` blocks that stop vLLM's engine processes run instead of leaving
  them behind.
"""
from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
from types import FrameType
from typing import Iterator


def shutdown_vllm_engines() -> None:
    """Shut down every vLLM engine still alive in this process (no-op without vllm). An `LLM`
    interrupted in its constructor has no engine yet (vLLM's client stops what it started)."""
    if "vllm" not in sys.modules:
        return
    gc.collect()  # an unreachable LLM runs its own finalizer here
    from vllm import LLM

    for obj in gc.get_objects():
        if isinstance(obj, LLM) and hasattr(obj, "llm_engine"):
            obj.llm_engine.engine_core.shutdown()


TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def termination_as_exit() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise `SystemExit(128 + signum)` (143, 129) in the main thread
    instead of killing the interpreter, so `finally` blocks run (vLLM's engine processes are shut
    down). Only signals whose action is the default are taken (one ignored under `nohup` stays
    ignored); a second signal during the clean-up gets the default action again; the handlers are
    restored on the way out. Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [s for s in TERMINATION_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]

    def restore() -> None:
        for s in taken:
            signal.signal(s, signal.SIG_DFL)

    def exit_(signum: int, frame: FrameType | None) -> None:
        restore()
        raise SystemExit(128 + signum)

    for s in taken:
        signal.signal(s, exit_)
    try:
        yield
    finally:
        restore()
