"""Run untrusted Python programs in isolated, resource-limited subprocesses (see docs/safety.md)."""
from __future__ import annotations

import functools
import hmac
import logging
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import isolation

OPT_IN_VAR = "HF_ALLOW_CODE_EVAL"
CHILD = Path(__file__).with_name("child.py")
NAMESPACE_WORKDIR = "/tmp/sandbox"  # inside the run's own tmpfs
_UIDS = isolation.UidPool()  # the private uids of the runs in flight
SELF_CHECK = "import math, collections\nassert math.isqrt(16) == 4\n"
REAP_GRACE_S = 5.0  # how long a killed namespace may take to disappear
SELF_DESTRUCT_AFTER_S = 2.0  # past the time limit, a run whose runner died kills itself


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


def require_code_eval_opt_in() -> None:
    """Refuse to run model-written code unless the user opted in (lm-eval's convention)."""
    if os.environ.get(OPT_IN_VAR) != "1":
        raise SelfimpError(
            f"running model-written code is not allowed: set the environment variable "
            f"{OPT_IN_VAR}=1 to allow it (e.g. `export {OPT_IN_VAR}=1`); it then runs in "
            "harness_ext.sandbox, which limits but is not a virtual machine (docs/safety.md)")


def run_program(source: str, limits: SandboxLimits | None = None) -> RunResult:
    """Run one Python program in the sandbox; `passed` only if it ran to its end and exited 0."""
    require_code_eval_opt_in()
    if not isinstance(source, str):
        raise SelfimpError(f"run_program: source must be a str, got {type(source).__name__}")
    return _run(source, limits or SandboxLimits(), _host())


def run_many(sources: list[str], limits: SandboxLimits | None = None,
             workers: int | None = None) -> list[RunResult]:
    """Run programs in parallel (`workers` at once, default os.cpu_count()); results in order."""
    require_code_eval_opt_in()
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SelfimpError(f"run_many: workers must be a positive int, got {workers!r}")
    bad = next((i for i, s in enumerate(sources) if not isinstance(s, str)), None)
    if bad is not None:
        raise SelfimpError(f"run_many: sources[{bad}] must be a str, "
                           f"got {type(sources[bad]).__name__}")
    h, limits = _host(), limits or SandboxLimits()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda s: _run(s, limits, h), sources))


@functools.cache
def _host() -> isolation.Host:
    """The host's isolation, checked once per process by running a trivial program; if the
    namespaces fail here, fall back (with a warning) to running without them."""
    detected = isolation.host()
    candidates = [detected, replace(detected, unshare=())] if detected.unshare else [detected]
    failures = []
    for h in candidates:
        result = _run(SELF_CHECK, SandboxLimits(), h)
        if result.passed:
            if h is not detected:
                logging.getLogger(__name__).warning(
                    "sandbox: namespaces unavailable (%s); running without network, pid and "
                    "mount isolation (docs/safety.md)", failures[0])
            return h
        failures.append(f"{result.status}: {result.stderr.strip()[-500:]}")
    raise SelfimpError(f"sandbox self-check failed ({'; '.join(failures)})")


def _run(source: str, limits: SandboxLimits, h: isolation.Host) -> RunResult:
    uid, gid = _UIDS.claim(h)
    # With namespaces the supervisor makes the working dir in its private tmpfs; otherwise it
    # is a fresh directory here, removed afterwards with whatever the uid left in /tmp & co.
    workdir = NAMESPACE_WORKDIR if h.unshare else tempfile.mkdtemp(prefix="selfimp-sandbox-")
    fds: list[int] = []
    try:
        if uid >= 0 and not h.unshare:
            os.chown(workdir, uid, gid)
        source_fd, out_fd, err_fd = (os.memfd_create(f"sandbox-{name}")
                                     for name in ("source", "stdout", "stderr"))
        fds += [source_fd, out_fd, err_fd]
        os.write(source_fd, source.encode("utf-8", "surrogatepass"))
        nonce = secrets.token_hex(16)
        nonce_r, nonce_w = os.pipe()
        status_r, status_w = os.pipe()
        fds += [nonce_r, nonce_w, status_r, status_w]
        os.write(nonce_w, nonce.encode("ascii"))
        os.close(nonce_w)
        fds.remove(nonce_w)
        args = [workdir, source_fd, nonce_r, status_w, uid, gid, limits.memory_mb << 20,
                math.ceil(limits.timeout_s) + 1, limits.file_size_mb << 20,  # CPU: a backstop
                limits.max_processes, int(bool(h.unshare)), limits.timeout_s + SELF_DESTRUCT_AFTER_S]
        env = {"PATH": isolation.SYSTEM_PATH, "HOME": workdir, "TMPDIR": workdir,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [*h.unshare, h.interpreter, "-I", "-S", "-B", str(CHILD), *map(str, args)],
                stdin=subprocess.DEVNULL, stdout=out_fd, stderr=err_fd, cwd="/", env=env,
                pass_fds=(source_fd, nonce_r, status_w), start_new_session=True)
        except OSError as e:  # e.g. out of processes or file descriptors: this run only
            return RunResult(False, "error", None, "", f"sandbox: cannot start: {e}", 0.0)
        for fd in (source_fd, nonce_r, status_w):
            os.close(fd)
            fds.remove(fd)
        timed_out = _wait_then_kill(proc, limits.timeout_s)
        duration = time.monotonic() - start
        if uid >= 0 and h.private_uids and not h.unshare:
            isolation.kill_uid(uid)  # a setsid()-ed leftover outside any pid namespace
        report = _read_report(status_r)
        stdout = os.pread(out_fd, limits.max_output_bytes, 0).decode("utf-8", "replace")
        stderr = os.pread(err_fd, limits.max_output_bytes, 0).decode("utf-8", "replace")
    finally:
        for fd in fds:
            os.close(fd)
        if not h.unshare:
            if uid >= 0 and h.private_uids:
                isolation.remove_files_of(uid)
            shutil.rmtree(workdir, ignore_errors=True)
        _UIDS.release(uid)
    return _result(report, nonce, timed_out, proc.returncode, stdout, stderr, duration)


def _wait_then_kill(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait up to `timeout_s`, then kill whatever is left (also when interrupted). True: timed out."""
    leader = os.pidfd_open(proc.pid)
    inits: list[int] = []
    timed_out = True
    try:
        timed_out = not select.select([leader], [], [], timeout_s)[0]
    finally:
        if timed_out:
            inits = isolation.namespace_inits(proc.pid)
            for fd in inits:  # killing the pid namespace's init kills all its processes
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:  # the leader is not reaped yet, so its process group id cannot have been reused
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        for fd in inits:  # the init has exited only once every process of its namespace has
            select.select([fd], [], [], REAP_GRACE_S)
        for fd in (leader, *inits):
            os.close(fd)
    return timed_out


def _read_report(status_r: int) -> tuple[int, bool, str] | None:
    """The supervisor's `<exit code> <ready> <sentinel>` line, or None if it never wrote one."""
    os.set_blocking(status_r, False)
    try:
        parts = os.read(status_r, 256).decode("ascii", "replace").split()
    except BlockingIOError:
        return None
    if len(parts) != 3:
        return None
    try:
        return int(parts[0]), parts[1] == "1", parts[2]
    except ValueError:
        return None


def _result(report: tuple[int, bool, str] | None, nonce: str, timed_out: bool,
            leader_rc: int | None, stdout: str, stderr: str, duration: float) -> RunResult:
    if report is None:  # the supervisor never reported: killed at the time limit, or broken
        status = "timeout" if timed_out else "error"
        rc = None if timed_out else leader_rc
        return RunResult(False, status, rc, stdout, stderr, duration)
    rc, ready, sentinel = report
    passed = ready and rc == 0 and hmac.compare_digest(sentinel, nonce)
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
    return RunResult(passed, status, rc, stdout, stderr, duration)
