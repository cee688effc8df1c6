"""A time limit for pure-Python work that works in any thread (math-verify's SIGALRM does not)."""
from __future__ import annotations

import ctypes
import threading


class DeadlineExceeded(BaseException):
    """Raised inside the limited block; a BaseException so library `except Exception` cannot swallow it."""


class deadline:
    """`with deadline(s): ...` raises DeadlineExceeded in the calling thread once `s` seconds pass.

    A timer thread injects the exception with PyThreadState_SetAsyncExc; it lands at the next
    bytecode boundary (like a signal handler would). A pending, undelivered injection is cleared
    on exit, so nothing fires after the block.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._done = False
        self._fired = False

    def __enter__(self) -> "deadline":
        self._thread_id = threading.get_ident()
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                _set_async_exc(self._thread_id, DeadlineExceeded)
                self._fired = True

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()
            if self._fired:
                _set_async_exc(self._thread_id, None)


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )
