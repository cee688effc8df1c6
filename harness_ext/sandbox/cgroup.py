"""Memory cgroups for the sandbox: one per fork server, so that each run (the server serves one
at a time) has one memory budget for all its processes and the shared memory they make (memfd,
tmpfs, /dev/shm pages are charged to the cgroup of whoever touches them). Needs root and a
writable memory controller (cgroup v1, or v2 with memory delegable to our cgroup's children)."""
from __future__ import annotations

import itertools
import os
import time

_SERIAL = itertools.count()


def own_memory_cgroup() -> str | None:
    """The directory of this process's memory cgroup, if the host mounts one we can write."""
    try:
        with open("/proc/self/cgroup") as f:
            memberships = [line.rstrip("\n").split(":", 2) for line in f]
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    for fields in mounts:
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[-1].split(",")
        v1 = fstype == "cgroup" and "memory" in options
        if not (v1 or fstype == "cgroup2"):
            continue
        path = next((p for _, controllers, p in memberships
                     if ("memory" in controllers.split(",") if v1 else controllers == "")), None)
        root, mount_point = fields[3], fields[4]
        if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        directory = os.path.join(mount_point, path[len(root.rstrip("/")):].lstrip("/"))
        if v1 or _delegates_memory(directory):
            return directory if os.access(directory, os.W_OK) else None
    return None


def _delegates_memory(directory: str) -> bool:
    """cgroup v2: whether children of `directory` get the memory controller (enabling it if not)."""
    control = os.path.join(directory, "cgroup.subtree_control")
    try:
        with open(control) as f:
            if "memory" in f.read().split():
                return True
        with open(control, "w") as f:  # refused while `directory` itself holds processes
            f.write("+memory")
        return True
    except OSError:
        return False


PREFIX = "selfimp-sandbox-"


def create(parent: str) -> str:
    """A new, empty child cgroup of `parent` for one fork server (the first one also removes
    what runners that were killed left there)."""
    serial = next(_SERIAL)
    if serial == 0:
        _remove_stale(parent)
    path = os.path.join(parent, f"{PREFIX}{os.getpid()}-{serial}")
    os.mkdir(path)
    return path


def _remove_stale(parent: str) -> None:
    """rmdir the empty server cgroups of runners that are gone (a live pid's are left alone)."""
    for name in os.listdir(parent):
        pid = name[len(PREFIX):].split("-")[0]
        if not (name.startswith(PREFIX) and pid.isdigit()) or os.path.exists(f"/proc/{pid}"):
            continue
        try:
            os.rmdir(os.path.join(parent, name))
        except OSError:  # not empty (yet): left for a later sweep
            continue


def remove(path: str) -> None:
    """Remove a server's cgroup once its processes are gone (the kernel needs a moment)."""
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
