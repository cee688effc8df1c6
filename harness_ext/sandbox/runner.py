"""Run untrusted Python programs in isolated, resource-limited subprocesses (see docs/safety.md)."""
from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import cgroup, isolation

OPT_IN_VAR = "HF_ALLOW_CODE_EVAL"
SERVER = Path(__file__).with_name("server.py")
NAMESPACE_WORKDIR = "/tmp/sandbox"  # inside the run's own tmpfs
_UIDS = isolation.UidPool()  # the private uids of the runs in flight
SELF_CHECK = "import math, collections\nassert math.isqrt(16) == 4\n"
# The server enforces the time limit itself; past it by this much, the runner kills the server.
BACKSTOP_S = 10.0
# What the trusted side reads of a run's reported values (a hostile program writes what it
# likes there): bytes per run (a longer report is cut), bytes per value, literal nodes per value
# and per run (commas, colons and brackets counted before parsing), and the size of an int (a hex
# literal is not held to Python's 4300-digit limit on decimal ones). Over a bound: Refused.
MAX_VALUES_BYTES = 128 << 10
MAX_VALUE_BYTES = 16 << 10
MAX_VALUE_NODES = 2048
MAX_RUN_NODES = 8192
MAX_INT_BITS = 14_300  # about 4300 decimal digits
_NODES = (b",", b":", b"[", b"(", b"{")


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = 10.0  # wall time; the CPU-time limit is derived from it
    memory_mb: int = 1024  # address space
    file_size_mb: int = 16  # any file the program writes, its stdout and stderr included
    max_processes: int = 16  # processes and threads of the sandbox uid
    max_output_bytes: int = 64_000  # stdout/stderr kept; the rest is dropped

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kinds = (int, float) if f.name == "timeout_s" else (int,)
            if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0 \
                    or not math.isfinite(value):
                kind = "number" if f.name == "timeout_s" else "integer"
                raise SelfimpError(f"SandboxLimits.{f.name}: must be a positive {kind}, got {value!r}")


@dataclass
class RunResult:
    passed: bool  # True only if the whole program ran to its end (sentinel reached) and exited 0
    status: str  # "passed" | "failed" | "timeout" | "killed" | "error"
    returncode: int | None  # the program's exit code, -signal if a signal ended it
    stdout: str
    stderr: str
    duration_s: float
    # One per requested expression the program got to (see run_program): its value, rebuilt
    # here from builtin types only, or a Refused.
    values: list = field(default_factory=list)


@dataclass(frozen=True)
class Refused:
    """A reported value that is not a builtin value (or not readable): equal to nothing."""

    reason: str


def decode_values(report: bytes) -> list:
    """The values a run reported, one line each (`harness_ext.sandbox.server.encode_value`),
    parsed as literals only (`ast.literal_eval`), within the bounds above: only builtin
    values or refusals come back, whatever the program wrote, at a bounded cost."""
    values: list = []
    nodes = 0
    for line in report.split(b"\n")[:-1]:  # a last piece without "\n" was cut short
        if line.startswith(b"!") or not line:
            values.append(Refused(line[1:201].decode("utf-8", "replace") or "empty"))
            continue
        size = sum(map(line.count, _NODES)) + 1 if len(line) <= MAX_VALUE_BYTES else MAX_RUN_NODES + 1
        nodes += size
        if size > MAX_VALUE_NODES or nodes > MAX_RUN_NODES:
            values.append(Refused("too large"))
            continue
        values.append(_literal(line))
    return values


def _literal(line: bytes) -> object:
    try:
        tree = ast.parse(line.decode("utf-8", "surrogatepass"), mode="eval")
        if any(isinstance(n, ast.Constant) and type(n.value) is int and n.value.bit_length() > MAX_INT_BITS
               for n in ast.walk(tree)):
            return Refused("too large")
        return ast.literal_eval(tree)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
        return Refused(f"unreadable: {type(e).__name__}")


def require_code_eval_opt_in() -> None:
    """Refuse to run model-written code unless the user opted in (lm-eval's convention)."""
    if os.environ.get(OPT_IN_VAR) != "1":
        raise SelfimpError(
            f"running model-written code is not allowed: set the environment variable "
            f"{OPT_IN_VAR}=1 to allow it (e.g. `export {OPT_IN_VAR}=1`); it then runs in "
            "harness_ext.sandbox, which limits but is not a virtual machine (docs/safety.md)")


def run_program(source: str, limits: SandboxLimits | None = None,
                values: Sequence[str] = ()) -> RunResult:
    """Run one Python program in the sandbox; `passed` only if it ran to its end and exited 0.

    `values`: expressions evaluated, in order, in the program's namespace after it ran; their
    values come back in `RunResult.values` (builtin types only) for the caller to judge."""
    require_code_eval_opt_in()
    if not isinstance(source, str):
        raise SelfimpError(f"run_program: source must be a str, got {type(source).__name__}")
    _check_expressions("run_program: values", values)
    return _run(source, limits or SandboxLimits(), _host(), tuple(values))


def run_many(sources: list[str], limits: SandboxLimits | None = None,
             workers: int | None = None,
             values: Sequence[Sequence[str]] | None = None) -> list[RunResult]:
    """Run programs in parallel (`workers` at once, default os.cpu_count()); results in order.
    `values[i]`: the expressions whose values program i reports (see run_program)."""
    require_code_eval_opt_in()
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SelfimpError(f"run_many: workers must be a positive int, got {workers!r}")
    bad = next((i for i, s in enumerate(sources) if not isinstance(s, str)), None)
    if bad is not None:
        raise SelfimpError(f"run_many: sources[{bad}] must be a str, "
                           f"got {type(sources[bad]).__name__}")
    values = [()] * len(sources) if values is None else values
    if len(values) != len(sources):
        raise SelfimpError(f"run_many: {len(values)} lists of values for {len(sources)} sources")
    for i, exprs in enumerate(values):
        _check_expressions(f"run_many: values[{i}]", exprs)
    h, limits = _host(), limits or SandboxLimits()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda s, v: _run(s, limits, h, tuple(v)), sources, values))


def _check_expressions(what: str, exprs: Sequence[str]) -> None:
    if isinstance(exprs, str) or not all(isinstance(e, str) and e and "\0" not in e for e in exprs):
        raise SelfimpError(f"{what}: must be a list of non-empty expressions (str, no NUL)")


@functools.cache
def _host() -> isolation.Host:
    """The host's isolation, checked once per process by running a trivial program; if the
    namespaces fail here, fall back (with a warning) to running without them."""
    detected = isolation.host()
    candidates = [detected, replace(detected, unshare_flags=0)] if detected.unshare_flags else [detected]
    failures = []
    log = logging.getLogger(__name__)
    if not detected.seccomp:
        log.warning("sandbox: no libseccomp Python bindings (pyseccomp): programs run without "
                    "the syscall filter (docs/safety.md)")
    if detected.drop_privileges and not detected.memory_cgroup:
        log.warning("sandbox: no writable memory cgroup: memory is limited per process, not per "
                    "run (docs/safety.md)")
    for h in candidates:
        result = _run(SELF_CHECK, SandboxLimits(), h)
        if result.passed:
            if h is not detected:
                log.warning(
                    "sandbox: namespaces unavailable (%s); running without network, pid and "
                    "mount isolation (docs/safety.md)", failures[0])
            return h
        failures.append(f"{result.status}: {result.stderr.strip()[-500:]}")
        _SERVERS.close(h)  # the idle server set up for the failed candidate
    raise SelfimpError(f"sandbox self-check failed ({'; '.join(failures)})")


def _run(source: str, limits: SandboxLimits, h: isolation.Host, exprs: tuple[str, ...] = ()) -> RunResult:
    uid, gid = _UIDS.claim(h)
    # With namespaces the supervisor makes the working dir in its private tmpfs; otherwise it
    # is a fresh directory here, removed afterwards with whatever the uid left in /tmp & co.
    workdir = NAMESPACE_WORKDIR if h.unshare_flags else tempfile.mkdtemp(prefix="selfimp-sandbox-")
    try:
        if uid >= 0 and not h.unshare_flags:
            os.chown(workdir, uid, gid)
        code, path = source.encode("utf-8", "surrogatepass"), workdir.encode("utf-8", "surrogateescape")
        asked = b"\0".join(e.encode("utf-8", "surrogatepass") for e in exprs)
        fields = [len(path), len(code), len(asked), uid, gid, limits.memory_mb << 20,
                  math.ceil(limits.timeout_s) + 1, limits.file_size_mb << 20,  # CPU: a backstop
                  limits.max_processes, math.ceil(limits.timeout_s * 1000), h.unshare_flags,
                  limits.max_output_bytes, MAX_VALUES_BYTES]
        request = " ".join(map(str, fields)).encode("ascii") + b"\n" + path + code + asked
        start = time.monotonic()
        try:
            with _SERVERS.lease(h) as server:
                answer = server.ask(request, limits.timeout_s + BACKSTOP_S)
        except OSError as e:  # e.g. out of processes or file descriptors: this run only
            return RunResult(False, "error", None, "", f"sandbox: cannot run the program: {e}", 0.0)
        duration = time.monotonic() - start
        if uid >= 0 and h.private_uids and not h.unshare_flags:
            isolation.kill_uid(uid)  # a setsid()-ed leftover outside any pid namespace
    finally:
        if not h.unshare_flags:
            if uid >= 0 and h.private_uids:
                isolation.remove_files_of(uid)
            shutil.rmtree(workdir, ignore_errors=True)
        _UIDS.release(uid)
    if answer is None:  # the server hung past the backstop and was killed with the run
        return RunResult(False, "timeout", None, "", "", duration)
    return _result(answer, duration)


@dataclass(frozen=True)
class _Answer:
    leader_rc: int  # the leader's exit code
    report: tuple[int, int, int, int] | None  # the supervisor's (rc, ready, passed, timed out)
    stdout: str
    stderr: str
    values: bytes  # the program's reported values, one line each


class _Server:
    """One fork server process (server.py); it serves one run at a time."""

    def __init__(self, h: isolation.Host) -> None:
        self.errors = os.memfd_create("sandbox-server-stderr")
        env = {"PATH": isolation.SYSTEM_PATH, "HOME": "/", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        self.cgroup = cgroup.create(h.memory_cgroup) if h.memory_cgroup else ""
        try:
            self.proc = subprocess.Popen(
                [h.interpreter, "-I", "-S", "-B", str(SERVER), h.seccomp, self.cgroup],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, cwd="/", env=env,
                start_new_session=True)
        except BaseException:
            os.close(self.errors)
            if self.cgroup:
                cgroup.remove(self.cgroup)
            raise
        self.buffer = b""

    def ask(self, request: bytes, backstop_s: float) -> _Answer | None:
        """Send one request; its answer, or None if none came within `backstop_s` (the server is
        then killed, and with it the run). A server that died raises OSError."""
        self._write(request)
        deadline = time.monotonic() + backstop_s
        if not self._read_until(lambda: self.buffer.count(b"\n") >= 2, deadline):
            return None
        status, sizes, rest = self.buffer.split(b"\n", 2)
        n_out, n_err, n_values = map(int, sizes.split())
        total = n_out + n_err + n_values
        self.buffer = rest
        if not self._read_until(lambda: len(self.buffer) >= total, deadline):
            return None
        answer, self.buffer = self.buffer[:total], self.buffer[total:]
        leader_rc, *report = status.decode("ascii").split()
        return _Answer(int(leader_rc), None if report == ["-"] else tuple(map(int, report)),
                       answer[:n_out].decode("utf-8", "replace"),
                       answer[n_out:n_out + n_err].decode("utf-8", "replace"), answer[n_out + n_err:])

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.proc.stdin.fileno(), view):]
        except BrokenPipeError:
            raise OSError(f"sandbox server exited: {self._last_words()}") from None

    def _read_until(self, done: Callable[[], bool], deadline: float) -> bool:
        fd = self.proc.stdout.fileno()
        while not done():
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                self.close()
                return False
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise OSError(f"sandbox server exited: {self._last_words()}")
            self.buffer += chunk
        return True

    def _last_words(self) -> str:
        """The last line the server wrote to its stderr, once it is gone (killed if need be)."""
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        text = os.pread(self.errors, 4096, 0).decode("utf-8", "replace").strip()
        self.close()
        return text.splitlines()[-1] if text else f"exit code {self.proc.returncode}"

    def close(self) -> None:
        """Kill the server; its run in flight dies with it (PR_SET_PDEATHSIG)."""
        if not self.proc.stdin.closed:
            self.proc.kill()
            self.proc.wait()
            self.forget()
            if self.cgroup:
                cgroup.remove(self.cgroup)

    def forget(self) -> None:
        """Close our ends of its pipes (in a forked copy of this process: only the copies)."""
        self.proc.stdin.close()
        self.proc.stdout.close()
        os.close(self.errors)


class _ServerPool:
    """Idle fork servers per host set-up, kept for the life of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[isolation.Host, list[_Server]] = {}
        os.register_at_fork(after_in_child=self._forget_all)

    @contextlib.contextmanager
    def lease(self, h: isolation.Host) -> Iterator[_Server]:
        with self._lock:
            idle = self._idle.setdefault(h, [])
            server = idle.pop() if idle else None
        server = server or _Server(h)
        try:
            yield server
        except BaseException:
            server.close()
            raise
        if not server.proc.stdin.closed:
            with self._lock:  # (a close() meanwhile may have emptied the pool)
                self._idle.setdefault(h, []).append(server)

    def close(self, h: isolation.Host | None = None) -> None:
        """Kill the idle servers (of host set-up `h` only, if given)."""
        with self._lock:
            hosts = list(self._idle) if h is None else [h]
            servers = [s for key in hosts for s in self._idle.pop(key, [])]
        for server in servers:
            server.close()

    def _forget_all(self) -> None:
        """In a forked copy of this process: the servers are the parent's, leave them alone."""
        self._lock = threading.Lock()
        for server in (s for idle in self._idle.values() for s in idle):
            server.forget()
        self._idle = {}


_SERVERS = _ServerPool()
atexit.register(_SERVERS.close)


def _result(answer: _Answer, duration: float) -> RunResult:
    stdout, stderr = answer.stdout, answer.stderr
    if answer.report is None:  # the run never got as far as the program: a broken set-up
        return RunResult(False, "error", answer.leader_rc, stdout, stderr, duration)
    rc, ready, passed, timed_out = answer.report
    if timed_out:
        return RunResult(False, "timeout", None, stdout, stderr, duration)
    if passed:
        status = "passed"
    elif not ready:
        status = "error"  # the sandbox could not set the program up
    elif rc == -signal.SIGXCPU:  # the CPU-time limit
        status = "timeout"
    elif rc < 0:
        status = "killed"
    else:
        status = "failed"
    return RunResult(bool(passed), status, rc, stdout, stderr, duration, decode_values(answer.values))
