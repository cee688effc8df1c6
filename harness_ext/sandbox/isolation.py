"""What this host lets the sandbox do, per-run sandbox uids, and removing what a run left behind."""
from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import cgroup

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# unshare(2) flags: CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS; plus a user
# namespace (CLONE_NEWUSER) when not root, which is what lets an unprivileged user make the others.
NAMESPACES = 0x40000000 | 0x20000000 | 0x08000000 | 0x00020000
CLONE_NEWUSER = 0x10000000
# Per-run uids come from a range no distribution hands out, so a run's uid owns nothing but
# that run's processes and files; a random pick makes clashes between processes negligible.
UID_RANGE = (0x4000_0000, 0x7FFF_0000)
WORLD_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass(frozen=True)
class Host:
    interpreter: str  # the base interpreter, run with -I -S -B (no site-packages)
    unshare_flags: int  # the namespaces each run gets (unshare(2) flags); 0: none
    drop_privileges: bool  # running as root: each run gets its own unprivileged uid
    private_uids: bool  # uids come from UID_RANGE (else the shared `nobody`)
    seccomp: str = ""  # the file of libseccomp's Python bindings; "": no syscall filter
    memory_cgroup: str = ""  # parent of the servers' memory cgroups (root only); "": none


def host() -> Host:
    """What this host offers (the runner's self-check decides whether the namespaces work)."""
    if sys.platform != "linux" or not hasattr(os, "pidfd_open"):
        raise SelfimpError("harness_ext.sandbox needs Linux >= 5.3 (pidfd_open); this is "
                           f"{sys.platform}")
    interpreter = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if not os.access(interpreter, os.X_OK):
        raise SelfimpError(f"sandbox: interpreter {interpreter} is not executable")
    root = os.geteuid() == 0
    return Host(interpreter, NAMESPACES | (0 if root else CLONE_NEWUSER), root,
                root and _uid_range_mapped(), seccomp_bindings(),
                (root and cgroup.own_memory_cgroup()) or "")


def seccomp_bindings() -> str:
    """The file of libseccomp's Python bindings: Debian's `seccomp` (python3-seccomp) where this
    interpreter finds it, else `pyseccomp` (the same API over ctypes); "" if neither is here."""
    for name in ("seccomp", "pyseccomp"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            return spec.origin
    return ""


def _uid_range_mapped() -> bool:
    """True when both UID_RANGE ends are mapped in this user namespace (uid and gid)."""
    for path in ("/proc/self/uid_map", "/proc/self/gid_map"):
        try:
            with open(path) as f:
                extents = [tuple(map(int, line.split())) for line in f if line.strip()]
        except OSError:
            return False
        if not any(start <= UID_RANGE[0] and UID_RANGE[1] <= start + count
                   for start, _, count in extents):
            return False
    return True


class UidPool:
    """Hands out one unused sandbox uid per concurrent run of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def claim(self, h: Host) -> tuple[int, int]:
        """(uid, gid) for the next run; (-1, -1) when privileges cannot be dropped."""
        if not h.drop_privileges:
            return -1, -1
        if not h.private_uids:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid
        with self._lock:
            while True:
                uid = UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])
                if uid not in self._taken:
                    self._taken.add(uid)
                    return uid, uid

    def release(self, uid: int) -> None:
        with self._lock:
            self._taken.discard(uid)


def kill_uid(uid: int) -> None:
    """SIGKILL every live process whose real uid is `uid` (a private per-run uid) until none is left."""
    for _ in range(1000):
        found = False
        for name in os.listdir("/proc"):
            if not name.isdigit() or not _alive_with_uid(int(name), uid):
                continue
            try:
                fd = os.pidfd_open(int(name))
            except OSError:
                continue
            try:
                if _alive_with_uid(int(name), uid):  # the pidfd's process, not a reused pid
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    found = True
            except OSError:
                pass
            finally:
                os.close(fd)
        if not found:
            return
        time.sleep(0.002)


def _alive_with_uid(pid: int, uid: int) -> bool:
    status = _status(pid)
    return status.get("Uid", "").split()[:1] == [str(uid)] and \
        status.get("State", "Z")[:1] not in ("Z", "X")


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def remove_files_of(uid: int) -> None:
    """Remove what a private sandbox uid created at the top of the world-writable directories."""
    for parent in {*WORLD_WRITABLE_DIRS, tempfile.gettempdir()}:
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
