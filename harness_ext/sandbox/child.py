"""Sandbox bootstrap, run by harness_ext.sandbox.runner as `python -I -S -B child.py ARGS`.

Standard library only; nothing from the project is imported. The process running this file is
the trusted supervisor (pid 1 of a fresh pid namespace when the runner could create one). It
forks one child that sets the resource limits, drops to the sandbox uid, installs the guard and
runs the program. The supervisor keeps the status fd to itself: after the child exits it writes
`<exit code> <ready> <sentinel>` there and exits, which (in a pid namespace) kills everything
the program left behind. It also gives up on its own shortly after the runner's time limit,
so a run never outlives a runner that was killed.

With namespaces the supervisor also mounts a small private tmpfs over each world-writable
directory and /run (hiding its sockets), so nothing the program writes reaches the disk or
outlives the run, and a /proc that shows only the run's own processes.

The end-of-run sentinel is a nonce that the runner put in a pipe; the child reads it only after
the whole program ran without raising, so no early exit and no patched builtin can produce it.
"""
from __future__ import annotations

import ctypes
import os
import resource
import select
import sys
from _signal import SIGKILL  # not `signal`: its enum import costs ~5 ms per run

SETUP_FAILED = 125
# Replaced by private tmpfs mounts: the world-writable directories, and /run with its sockets.
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_NO_NEW_PRIVS = 38


def reliability_guard(block_network: bool) -> None:
    """Disable destructive functions, after OpenAI human-eval's `reliability_guard`.

    Defence in depth only: the real walls are the rlimits, the dropped uid and the namespaces.
    """
    import builtins

    os.environ["OMP_NUM_THREADS"] = "1"
    for name in (
        "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
        "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
        "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir",
        "execv", "execve", "execvp", "execvpe", "spawnv", "spawnve", "posix_spawn",
        "posix_spawnp", "setsid",
    ):
        if hasattr(os, name):
            setattr(os, name, None)
    builtins.help = None
    # subprocess and shutil are not imported (too slow at start-up): without _posixsubprocess
    # `import subprocess` fails, and shutil's deletions go through the os functions above.
    blocked = ["_posixsubprocess", "ipdb", "joblib", "resource", "psutil", "tkinter", "ctypes", "_ctypes"]
    if block_network:
        blocked += ["socket", "_socket", "ssl", "_ssl"]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]


def _set_limits(as_bytes: int, cpu_s: int, fsize_bytes: int, nproc: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_bytes, fsize_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _private_mounts(libc: ctypes.CDLL, tmp_bytes: int) -> None:
    """In our new mount namespace: a small tmpfs on each of PRIVATE_DIRS (the largest on /tmp,
    which holds the working dir) and a /proc that shows only our pid namespace."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mounts = [(b"proc", b"/proc", b"proc", b"")] + [
        (b"tmpfs", path.encode(), b"tmpfs",
         f"size={tmp_bytes if path == '/tmp' else tmp_bytes // 4},nr_inodes=4096,mode=1777".encode())
        for path in PRIVATE_DIRS if os.path.isdir(path)]
    for source, target, fstype, options in mounts:
        if libc.mount(source, target, fstype, flags, options or None):
            raise OSError(ctypes.get_errno(), f"cannot mount {fstype.decode()} on {target.decode()}")


def _tasks_of_uid(uid: int) -> int:
    """Threads currently owned by `uid` (RLIMIT_NPROC counts them all)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            if int(fields[b"Uid"].split()[0]) == uid:
                total += int(fields[b"Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return total


def _reach_stdlib_through(stdlib_fds: dict[str, int]) -> None:
    """Point sys.path and the packages already imported (encodings) at /proc/self/fd/N."""
    def moved(path: str) -> str:
        for directory, fd in stdlib_fds.items():
            if path == directory or path.startswith(directory + os.sep):
                return f"/proc/self/fd/{fd}" + path[len(directory):]
        return path

    sys.path[:] = [moved(p) for p in sys.path if p in stdlib_fds]
    sys.path_importer_cache.clear()
    for module in list(sys.modules.values()):
        if isinstance(getattr(module, "__path__", None), list):
            module.__path__[:] = [moved(p) for p in module.__path__]


def _child(cfg: dict, libc: ctypes.CDLL, source: bytes, stdlib_fds: dict[str, int],
           ready_w: int) -> None:
    """Set up the sandboxed process; on success run the program and never return."""
    write, read, exit_ = os.write, os.read, os._exit
    try:
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):  # exec of a setuid binary gains nothing
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _set_limits(cfg["as_bytes"], cfg["cpu_s"], cfg["fsize_bytes"], cfg["nproc"])
        os.chdir(cfg["workdir"])
        if cfg["uid"] >= 0:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
            # The interpreter's own directories may sit behind a mode-700 home (e.g. /root):
            # keep reaching the stdlib through the directory fds opened before dropping.
            _reach_stdlib_through(stdlib_fds)
        with open("program.py", "wb") as f:  # lets tracebacks show the failing lines
            f.write(source)
        reliability_guard(block_network=not cfg["namespaces"])
        sys.argv[:] = ["program.py"]
        main = type(sys)("__main__")
        main.__dict__["__builtins__"] = __builtins__
        sys.modules["__main__"] = main
    except BaseException as e:  # noqa: BLE001 - report any set-up failure, never run the program
        try:
            sys.stderr.write(f"sandbox: set-up failed: {e!r}\n")
            sys.stderr.flush()
        finally:
            exit_(SETUP_FAILED)
    nonce_fd = cfg["nonce_fd"]
    excepthook, stdout, stderr = sys.__excepthook__, sys.stdout, sys.stderr
    write(ready_w, b"R")
    code = 1
    try:
        exec(compile(source, "program.py", "exec"), main.__dict__)  # noqa: S102
        sentinel = read(nonce_fd, 64)
        write(ready_w, sentinel)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - the program's own failure
        try:
            excepthook(type(e), e, e.with_traceback(e.__traceback__.tb_next).__traceback__)
        except BaseException:  # noqa: BLE001
            pass
    for stream in (stdout, stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    exit_(code & 0xFF)


def main(argv: list[str]) -> None:
    keys = ("workdir", "source_fd", "nonce_fd", "status_fd", "uid", "gid", "as_bytes", "cpu_s",
            "fsize_bytes", "nproc", "namespaces", "deadline_s")
    cfg: dict = dict(zip(keys, argv))
    for key in keys[1:]:
        cfg[key] = float(cfg[key]) if key == "deadline_s" else int(cfg[key])
    with open(cfg["source_fd"], "rb") as f:  # a memfd; read before dropping privileges
        f.seek(0)
        source = f.read()
    if cfg["uid"] < 0:  # cannot drop privileges: leave room for the user's own processes
        cfg["nproc"] += _tasks_of_uid(os.getuid())  # (counted before /proc is replaced)
    libc = ctypes.CDLL(None, use_errno=True)
    if cfg["namespaces"]:  # all namespaces, the mount namespace included
        _private_mounts(libc, 4 * cfg["fsize_bytes"])
        os.mkdir(cfg["workdir"], 0o700)
        if cfg["uid"] >= 0:
            os.chown(cfg["workdir"], cfg["uid"], cfg["gid"])
    stdlib_fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in sys.path if os.path.isdir(p)}
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(cfg["status_fd"])
        os.close(ready_r)
        _child(cfg, libc, source, stdlib_fds, ready_w)
    os.close(ready_w)
    os.close(cfg["nonce_fd"])
    # The runner kills us at its time limit; should the runner itself die, do it ourselves.
    if not select.select([os.pidfd_open(pid)], [], [], cfg["deadline_s"])[0]:
        os.kill(pid, SIGKILL)  # not reaped yet: the pid is still our child's
        os._exit(1)  # no report; in a pid namespace everything else dies with us
    _, wait_status = os.waitpid(pid, 0)
    os.set_blocking(ready_r, False)
    try:
        marks = os.read(ready_r, 128)
    except BlockingIOError:
        marks = b""
    ready = marks[:1] == b"R"
    sentinel = marks[1:].decode("ascii", "replace")
    if len(sentinel) != 32 or sentinel.strip("0123456789abcdef"):
        sentinel = "-"  # whatever the program wrote into the pipe, it is not a nonce
    report = f"{os.waitstatus_to_exitcode(wait_status)} {int(ready)} {sentinel}\n"
    os.write(cfg["status_fd"], report.encode("ascii", "replace"))
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
