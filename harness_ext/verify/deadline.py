"""A time limit for pure-Python work that works in any thread (math-verify's SIGALRM does not)."""
from __future__ import annotations

import ctypes
import threading
from typing import Callable, TypeVar

T = TypeVar("T")
# After the limit, the exception is injected again this often until the call gives up: an
# injection that lands where Python ignores exceptions (a gc callback, a __del__) is not lost.
REINJECT_S = 0.05


class DeadlineExceeded(BaseException):
    """Injected into the limited call; a BaseException so library `except Exception` cannot swallow it."""


def call_with_deadline(seconds: float, fn: Callable[..., T], *args) -> tuple[bool, T | None]:
    """(True, fn(*args)) if it returns within `seconds`, else (False, None).

    A watcher thread injects DeadlineExceeded into the calling thread with
    PyThreadState_SetAsyncExc; it lands at the next bytecode boundary, like a signal handler's
    exception. Once this function returns no injection is pending and none will come.
    """
    watch = _Watch(threading.get_ident())
    result: tuple[bool, T | None] = (False, None)
    try:  # everything after the watcher starts runs inside a handler for the injection
        watch.start(seconds)
        result = (True, fn(*args))
    except DeadlineExceeded:
        pass
    while True:  # the injection may land inside stop() itself; stop() is idempotent
        try:
            watch.stop()
            return result
        except DeadlineExceeded:
            pass


class _Watch:
    def __init__(self, thread_id: int):
        self._thread_id = thread_id
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._done = False
        self._injected = False

    def start(self, seconds: float) -> None:
        threading.Thread(target=self._run, args=(seconds,), daemon=True).start()

    def _run(self, seconds: float) -> None:
        if self._stopped.wait(seconds):
            return
        while True:
            with self._lock:
                if self._done:
                    return
                _set_async_exc(self._thread_id, DeadlineExceeded)
                self._injected = True
            if self._stopped.wait(REINJECT_S):
                return

    def stop(self) -> None:
        with self._lock:
            self._done = True
            if self._injected:
                _set_async_exc(self._thread_id, None)  # clear one not yet delivered
        self._stopped.set()


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )
