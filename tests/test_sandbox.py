"""harness_ext.sandbox: real MBPP programs pass, and hostile programs neither pass nor do harm.

Hostile programs go around the in-process guard on purpose (the `posix` module, re-importing
blocked modules) so that the OS walls themselves are tested: uid, rlimits, namespaces, tmpfs,
the minimal root, the syscall filter, the memory cgroup; and verdicts judged outside the program
fail the forgeries that pass when the asserts run inside it.
"""
from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import RunResult, SandboxLimits, run_many, run_program
from harness_ext.sandbox import isolation, runner
from harness_ext.sandbox.server import encode_value
from harness_ext.verify import get_verifier

SHORT = SandboxLimits(timeout_s=2.0, memory_mb=256, max_output_bytes=4096)
# Slack on wall-time checks: the limits under test are seconds, the programs would run for minutes;
# the slack absorbs only a loaded machine (CI on 2 busy cores), so it can be generous.
SLACK_S = 10.0
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the walls under test (per-run uid, NPROC, namespaces) need root; "
    "without root the sandbox is weaker, see docs/safety.md")


def namespaces_work() -> bool:
    try:
        return bool(runner._host().unshare_flags)
    except SelfimpError:  # not Linux, or no working sandbox: every test here will say so
        return False


needs_namespaces = pytest.mark.skipif(
    not namespaces_work(), reason="`unshare` cannot create namespaces on this host")
# Printed first by every hostile program, so the test can look for its leftovers.
WHOAMI = "import posix, sys\nprint('UID', posix.getuid(), flush=True)\n"


def mbpp_rows(split: str) -> list[dict]:
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    path = Path(os.environ.get("SELFIMP_DATA_DIR", default)) / "mbpp" / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mbpp_program(row: dict, tests: list[str] | None = None) -> str:
    return "\n".join([*row["test_imports"], row["code"], *(tests or row["test_list"])]) + "\n"


def processes_of(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = f.read()
        except (OSError, NotADirectoryError):
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if int(fields["Uid"].split()[0]) == uid and fields["State"][0] not in "ZX":  # not dead
            found.append(int(name))
    return found


def children(pid: int | str) -> set[int]:
    """Children of every thread of `pid`; a thread or process that ends while we read is skipped."""
    kids: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:  # the process is gone
        return kids
    for tid in tids:
        try:
            kids.update(int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:  # the thread ended between listing and reading
            continue
    return kids


def my_children() -> set[int]:
    return children("self")


def idle_servers() -> set[int]:
    """The sandbox's fork servers waiting for work: children of this process that may stay."""
    return {server.proc.pid for idle in runner._SERVERS._idle.values() for server in idle}


def run_hostile(source: str, limits: SandboxLimits = SHORT) -> RunResult:
    """Run a hostile program: it must fail, in time, leaving no process behind."""
    before = my_children()
    start = time.monotonic()
    result = run_program(WHOAMI + source, limits)
    wall = time.monotonic() - start
    assert not result.passed, result
    assert result.status != "passed"
    assert wall <= limits.timeout_s + SLACK_S, (wall, result)
    assert result.duration_s <= limits.timeout_s + SLACK_S
    uid_line = next((ln for ln in result.stdout.splitlines() if ln.startswith("UID ")), None)
    assert uid_line, f"the program did not start: {result}"
    uid = int(uid_line.split()[1])
    if os.geteuid() == 0:
        assert uid != 0, "the program ran as root"
        assert processes_of(uid) == [], "processes of the sandbox uid survived the run"
    assert my_children() - idle_servers() <= before, "a child process of the test survived the run"
    return result


@pytest.fixture
def canary(tmp_path: Path):
    """A root-owned directory the sandbox can see (and one under tmp_path it cannot)."""
    dirs = [tmp_path / "canary"]
    visible = Path(__file__).resolve().parent / f".sandbox-canary-{os.getpid()}"
    dirs.append(visible)
    for d in dirs:
        (d / "sub").mkdir(parents=True)
        (d / "keep.txt").write_text("precious\n")
        (d / "sub" / "deep.txt").write_text("deep\n")
        d.chmod(0o755)
    snapshot = {p: (p.read_bytes(), p.stat().st_mode) for d in dirs for p in d.rglob("*") if p.is_file()}
    yield dirs
    try:
        for path, (data, mode) in snapshot.items():
            assert path.read_bytes() == data and path.stat().st_mode == mode, f"{path} changed"
        assert sorted(p for d in dirs for p in d.rglob("*")) == sorted(
            [*snapshot, *(d / "sub" for d in dirs)]), "files were added or removed"
    finally:
        subprocess.run(["rm", "-rf", "--", str(visible)], check=True)


# --- opt-in and bad input ---------------------------------------------------------------------

def test_running_code_needs_the_opt_in(monkeypatch):
    monkeypatch.delenv("HF_ALLOW_CODE_EVAL", raising=False)
    for call in (lambda: run_program("pass"), lambda: run_many(["pass"])):
        with pytest.raises(SelfimpError, match="HF_ALLOW_CODE_EVAL=1"):
            call()
    monkeypatch.setenv("HF_ALLOW_CODE_EVAL", "true")
    with pytest.raises(SelfimpError, match="HF_ALLOW_CODE_EVAL=1"):
        run_program("pass")


@pytest.mark.parametrize("field, value", [
    ("timeout_s", 0), ("timeout_s", float("inf")), ("memory_mb", -1), ("memory_mb", 512.5),
    ("max_output_bytes", float("nan")), ("file_size_mb", "16"), ("max_processes", True)])
def test_bad_limits_name_the_field(field, value):
    with pytest.raises(SelfimpError, match=f"SandboxLimits.{field}"):
        SandboxLimits(**{field: value})


def test_bad_arguments_are_refused():
    with pytest.raises(SelfimpError, match="source must be a str"):
        run_program(b"pass")  # type: ignore[arg-type]
    with pytest.raises(SelfimpError, match=r"sources\[1\]"):
        run_many(["pass", None])  # type: ignore[list-item]
    with pytest.raises(SelfimpError, match="workers"):
        run_many(["pass"], workers=0)


# --- real programs ----------------------------------------------------------------------------

def test_mbpp_gold_programs_pass():
    rows = mbpp_rows("test")[:24] + mbpp_rows("prompt")
    results = run_many([mbpp_program(r) for r in rows])
    failed = [(r["task_id"], res.status, res.stderr[-300:]) for r, res in zip(rows, results)
              if not res.passed]
    assert failed == []
    assert all(res.status == "passed" and res.returncode == 0 for res in results)


def test_a_failing_assert_fails_and_says_where():
    row = mbpp_rows("test")[0]
    wrong = row["test_list"][0].replace("==", "!=", 1)
    result = run_program(mbpp_program(row, [wrong]))
    assert (result.passed, result.status, result.returncode) == (False, "failed", 1)
    assert "AssertionError" in result.stderr and wrong in result.stderr


def test_syntax_error_fails():
    result = run_program("def f(:\n    pass\n")
    assert (result.passed, result.status) == (False, "failed")
    assert "SyntaxError" in result.stderr


def test_stdlib_that_mbpp_uses_imports():
    modules = ["math", "re", "heapq", "collections", "itertools", "functools", "bisect", "string",
               "decimal", "fractions", "datetime", "random", "statistics", "typing", "operator",
               "copy", "json", "array", "cmath", "sys", "hashlib", "textwrap", "unicodedata"]
    result = run_program(f"import {', '.join(modules)}\nprint(math.comb(5, 2), re.sub('a', 'b', 'a'))\n"
                         "print('é'.encode('cp1252'), 'x'.encode('utf-16-le'), 'bücher.de'.encode('idna'))\n")
    assert result.passed, result.stderr
    assert result.stdout == "10 b\nb'\\xe9' b'x\\x00' b'xn--bcher-kva.de'\n"


def test_programs_run_as_main_and_crashes_are_killed():
    main_guard, no_input, crash = run_many([
        "def f():\n    return 3\nif __name__ == '__main__':\n    assert f() == 3\n    print('main')\n",
        "x = input()\n",
        "import faulthandler\nfaulthandler._sigsegv()\n",
    ], SHORT)
    assert (main_guard.passed, main_guard.stdout) == (True, "main\n")
    assert no_input.status == "failed" and "EOFError" in no_input.stderr
    assert (crash.passed, crash.status, crash.returncode) == (False, "killed", -11)


def test_programs_that_end_at_once_get_their_own_verdict():
    # A program may exit before the supervisor has handed it the nonce: its verdict must still
    # be its own (this once raced: ~3% of such runs came back "error").
    results = run_many(["import posix\nposix._exit(3)\n", "x = input()\n"] * 100, SHORT)
    assert {(r.status, r.returncode) for r in results} == {("failed", 3), ("failed", 1)}, \
        [r.stderr for r in results if r.status != "failed"][:2]


def test_run_many_keeps_order():
    sources = [f"import time\ntime.sleep({(7 - i) % 4} * 0.05)\nprint({i})\nassert {i} % 3 != 2\n"
               for i in range(12)]
    results = run_many(sources, workers=4)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(12)]
    assert [r.passed for r in results] == [i % 3 != 2 for i in range(12)]


def test_output_is_capped():
    result = run_program("print('x' * 100_000)\n", SandboxLimits(max_output_bytes=1000))
    assert result.passed and result.stdout == "x" * 1000


@pytest.mark.parametrize("isolated", [False, True], ids=["plain", "user-namespace"])
def test_without_root_benign_programs_still_run(monkeypatch, isolated):
    """The fallbacks used when not root: no uid drop; namespaces via a user namespace or none."""
    h = runner._host()
    if isolated and not h.unshare_flags:
        pytest.skip("`unshare` cannot create namespaces on this host")
    flags = isolation.NAMESPACES | isolation.CLONE_NEWUSER if isolated else 0
    monkeypatch.setattr(runner, "_host", lambda: isolation.Host(h.interpreter, flags, False, False))
    row = mbpp_rows("test")[1]
    good, bad, slow = run_many([mbpp_program(row), mbpp_program(row, ["assert False"]),
                                "while True: pass"], SandboxLimits(timeout_s=1.5))
    assert (good.passed, bad.passed, bad.status, slow.status) == (True, False, "failed", "timeout"), \
        [(r.status, r.returncode, r.stderr[-400:]) for r in (good, bad, slow)]


# --- the result cannot be faked ----------------------------------------------------------------

@pytest.mark.parametrize("cheat", [
    "import sys\nsys.exit(0)\n",
    "raise SystemExit\n",
    "import os\nos._exit(0)\n",
    "posix._exit(0)\n",
    "import builtins\nbuiltins.AssertionError = type('Fine', (Exception,), {})\n"
    "try:\n    assert False\nexcept builtins.AssertionError:\n    pass\n",
    "import builtins\nreal = builtins.__import__\n"
    "builtins.__import__ = lambda *a, **k: (_ for _ in ()).throw(SystemExit(0))\nimport math\n",
    "import builtins\nbuiltins.print = lambda *a, **k: None\nsys.excepthook = lambda *a: None\n"
    "sys.__excepthook__ = lambda *a: None\n",
    "import atexit\natexit.register(lambda: posix._exit(0))\n",
    "for fd in range(3, 64):\n    for data in (b'R', b'R' + b'0' * 32, b'0 1 ' + b'f' * 32 + b'\\n'):\n"
    "        try:\n            posix.write(fd, data)\n        except OSError:\n            pass\n"
    "posix._exit(0)\n",
    "posix.closerange(3, 256)\n",
], ids=["sys.exit", "SystemExit", "os._exit", "posix._exit", "AssertionError", "__import__",
        "print+excepthook", "atexit", "forged-sentinel", "close-fds"])
def test_early_exit_or_patching_never_passes(cheat):
    result = run_hostile(cheat + "assert 1 == 2, 'the tests run here'\n")
    assert result.status in ("failed", "killed")


# --- hostile programs ----------------------------------------------------------------------------

@needs_root
def test_fork_bomb_is_contained():
    # Safety first: refuse to fork-bomb unless the uid was dropped and RLIMIT_NPROC is in force.
    probe = run_program("import posix, sys\ndel sys.modules['resource']\nimport resource\n"
                        "assert posix.getuid() != 0\n"
                        f"assert resource.getrlimit(resource.RLIMIT_NPROC)[0] == {SHORT.max_processes}\n")
    assert probe.passed, f"NPROC wall not in force, fork bomb not attempted: {probe.stderr}"
    result = run_hostile("import time\nn = 0\nfor _ in range(10_000):\n    try:\n"
                         "        posix.fork()\n        n += 1\n    except OSError:\n"
                         "        time.sleep(0.001)\nassert n > 10_000\n")
    assert result.status in ("timeout", "failed", "killed")


@needs_root
@pytest.mark.parametrize("bomb", [
    "x = bytearray(8 * 1024 ** 3)\n",
    "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 ** 2))\n",
    "import mmap\nm = mmap.mmap(-1, 4 * 1024 ** 3)\nm[::4096] = b'x' * (4 * 1024 ** 2 // 4096 * 1024)\n",
], ids=["one-big", "growing", "mmap"])
def test_memory_bomb_is_contained(bomb):
    result = run_hostile(bomb + "assert False\n")
    assert result.status in ("failed", "killed")
    assert "MemoryError" in result.stderr or "Cannot allocate" in result.stderr or result.status == "killed"


def test_infinite_loop_times_out():
    result = run_hostile("while True:\n    pass\n")
    assert result.status == "timeout"


@needs_root
def test_setsid_then_sleep_forever_leaves_nothing():
    result = run_hostile("import time\nposix.setsid()\ntime.sleep(1000)\n")
    assert result.status == "timeout"


@needs_root
def test_daemonised_grandchild_is_killed_with_the_run():
    result = run_hostile(
        "import time\nif posix.fork() == 0:\n    posix.setsid()\n    if posix.fork() == 0:\n"
        "        time.sleep(1000)\n    posix._exit(0)\ntime.sleep(0.2)\nassert False\n")
    assert result.status == "failed"


@needs_root
def test_deleting_or_changing_files_fails(canary):
    targets = [str(d) for d in canary]
    result = run_hostile(f"""
import os, shutil
targets = {targets!r}
done = []
attempts = [
    lambda t: posix.system('rm -rf ' + t + ' ~ 2>/dev/null'),
    lambda t: shutil.rmtree(t),
    lambda t: posix.unlink(t + '/keep.txt'),
    lambda t: posix.rename(t + '/keep.txt', t + '/moved.txt'),
    lambda t: open(t + '/keep.txt', 'w').write('gone'),
    lambda t: open(t + '/new.txt', 'w').write('new'),
    lambda t: posix.chmod(t + '/keep.txt', 0o777),
    lambda t: posix.rmdir(t + '/sub'),
    lambda t: os.truncate(t + '/sub/deep.txt', 0),
]
for t in targets:
    for i, attempt in enumerate(attempts):
        try:
            attempt(t)
            done.append(i)
        except Exception:
            pass
print('done', done)
assert False
""")
    assert result.status == "failed"


@needs_root
def test_setuid_binaries_do_not_elevate():
    # The binary must be visible inside the sandbox: with namespaces its root holds little
    # more than /usr and the stdlib's directory; without, its /tmp & co. are still private.
    here = Path(__file__).resolve().parent
    hidden = any(here.is_relative_to(d) for d in ("/tmp", "/var/tmp", "/dev/shm", "/run"))
    base = Path(os.__file__).parent if namespaces_work() else Path("/var/lib") if hidden else here
    tools = base / f".sandbox-setuid-{os.getpid()}"
    tools.mkdir()
    try:
        tools.chmod(0o755)
        subprocess.run(["cp", "/usr/bin/id", str(tools / "id")], check=True)
        (tools / "id").chmod(0o4755)
        result = run_hostile(f"posix.execv({str(tools / 'id')!r}, ['id', '-u'])\n")
        euid = result.stdout.splitlines()[-1]
        assert euid.isdigit() and int(euid) != 0, result
    finally:
        subprocess.run(["rm", "-rf", "--", str(tools)], check=True)


def test_a_sandbox_that_cannot_start_is_an_error_not_a_fail(monkeypatch):
    h = isolation.host()
    broken = isolation.Host("/nonexistent/python3", h.unshare_flags, h.drop_privileges, h.private_uids)
    result = runner._run("pass\n", SHORT, broken)
    assert (result.passed, result.status) == (False, "error")
    assert "/nonexistent/python3" in result.stderr
    monkeypatch.setattr(isolation, "host", lambda: broken)
    with pytest.raises(SelfimpError, match="sandbox self-check failed"):
        runner._host.__wrapped__()


@pytest.mark.parametrize("server, status", [
    ("import sys\nsys.stderr.write('server broke\\n')\nsys.exit(3)\n", "error"),
    ("import sys, time\nsys.stdin.readline()\ntime.sleep(600)\n", "timeout"),
], ids=["dies", "hangs"])
def test_a_broken_server_fails_the_run_and_is_replaced(monkeypatch, tmp_path, server, status):
    h = runner._host()
    runner._SERVERS.close()  # no idle server: the next run starts the broken one
    script = tmp_path / "server.py"
    script.write_text(server)
    monkeypatch.setattr(runner, "SERVER", script)
    monkeypatch.setattr(runner, "BACKSTOP_S", 0.5)
    before = my_children()
    start = time.monotonic()
    result = runner._run("pass\n", SHORT, h)
    assert (result.passed, result.status) == (False, status)
    assert time.monotonic() - start < SHORT.timeout_s + 0.5 + SLACK_S
    if status == "error":
        assert "server broke" in result.stderr
    assert my_children() - idle_servers() <= before, "the broken server was left running"
    monkeypatch.undo()
    assert runner._run("pass\n", SHORT, h).passed  # a fresh server takes its place


def test_a_forked_runner_leaves_the_parents_servers_alone():
    assert run_program("pass").passed  # an idle server now waits in this process's pool
    idle = {s.proc.pid for servers in runner._SERVERS._idle.values() for s in servers}
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if run_program("print(2)").stdout == "2\n" else 2
            runner._SERVERS.close()
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert all(map(alive, idle)), "the child killed its parent's servers"
    assert run_program("print(1)").stdout == "1\n"


def test_without_working_namespaces_the_sandbox_falls_back(monkeypatch, caplog):
    h = isolation.host()
    if not h.unshare_flags:
        pytest.skip("no namespaces here: the fallback is what runs anyway")
    bogus = h.unshare_flags | 0x1  # not a namespace: unshare(2) fails with EINVAL
    monkeypatch.setattr(isolation, "host", lambda: replace(h, unshare_flags=bogus))
    chosen = runner._host.__wrapped__()
    assert chosen.unshare_flags == 0 and "namespaces unavailable" in caplog.text
    assert "unshare(0x" in caplog.text


@needs_root
def test_writes_outside_the_working_dir_do_not_persist():
    token = f"sandbox-escape-{os.getpid()}-{time.monotonic_ns()}"
    outside = [f"/tmp/{token}", f"/var/tmp/{token}", f"/dev/shm/{token}",
               str(Path(__file__).resolve().parent / token), f"/{token}"]
    result = run_hostile(f"""
wrote = []
for path in {outside!r}:
    try:
        with open(path, 'w') as f:
            f.write('x')
        wrote.append(path)
    except OSError:
        pass
print('wrote', wrote)
assert len(wrote) == {len(outside)}
""")
    assert result.status == "failed"
    assert [p for p in outside if os.path.lexists(p)] == []


@needs_root
@needs_namespaces
def test_host_unix_sockets_in_run_are_out_of_sight():
    path = f"/run/selfimp-sandbox-test-{os.getpid()}.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        try:
            os.chmod(path, 0o777)
            listener.listen(8)
            result = run_hostile(f"""
for name in ('socket', '_socket'):
    sys.modules.pop(name, None)
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({path!r})
print('CONNECTED')
""")
            listener.settimeout(0.2)
            with pytest.raises(TimeoutError):
                listener.accept()
        finally:
            os.unlink(path)
    assert "CONNECTED" not in result.stdout and "FileNotFoundError" in result.stderr


@needs_root
@needs_namespaces
def test_network_is_unreachable():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = run_hostile(f"""
for name in ('socket', '_socket'):
    sys.modules.pop(name, None)
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(1)
s.connect(('127.0.0.1', {port}))
print('CONNECTED')
""")
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert "CONNECTED" not in result.stdout
    assert result.status == "failed"


@needs_root
def test_killing_the_parent_or_the_test_fails():
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = run_hostile(f"""
import os, signal
for kill in (os.kill, posix.kill):
    for pid in (posix.getppid(), {os.getpid()}, {victim.pid}, -1, 0, 1):
        try:
            kill(pid, signal.SIGKILL)
        except Exception:
            pass
try:
    posix.killpg({os.getpgid(0)}, signal.SIGKILL)
except Exception:
    pass
assert False
""")
        assert result.status in ("failed", "killed")
        assert victim.poll() is None, "the sandbox killed a process outside it"
    finally:
        victim.kill()
        victim.wait()


@needs_root
@pytest.mark.parametrize("flood", [
    "chunk = 'x' * 2 ** 20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n",
    "chunk = b'x' * 2 ** 20\nfor _ in range(1024):\n    posix.write(1, chunk)\n",
    "chunk = b'x' * 2 ** 20\nfor _ in range(1024):\n    posix.write(2, chunk)\n",
    "with open('big', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * 2 ** 20)\n",
    "for i in range(1024):\n    with open(f'part{i}', 'wb') as f:\n        f.write(b'x' * 2 ** 20)\n",
], ids=["print", "stdout-fd", "stderr-fd", "one-file", "many-files"])
def test_a_gigabyte_flood_is_cut_short(flood):
    start = time.monotonic()
    result = run_hostile(flood + "assert False\n")
    assert result.status in ("failed", "killed", "timeout")  # timeout: fallback without tmpfs
    assert len(result.stdout.encode()) <= SHORT.max_output_bytes
    assert len(result.stderr.encode()) <= SHORT.max_output_bytes
    assert time.monotonic() - start < SHORT.timeout_s + SLACK_S


@needs_root
def test_hostile_neighbours_do_not_disturb_other_runs():
    hostile = (WHOAMI + "import signal, time\nend = time.time() + 1.5\nwhile time.time() < end:\n"
               "    try:\n        posix.kill(-1, signal.SIGKILL)\n    except OSError:\n"
               "        pass\nassert False\n")
    row = mbpp_rows("test")[2]
    slow_good = "import time\ntime.sleep(1)\n" + mbpp_program(row)
    limits = SandboxLimits(timeout_s=5.0, memory_mb=256)  # slack for a loaded machine
    results = run_many([hostile, slow_good, hostile, slow_good], limits, workers=4)
    assert [r.passed for r in results] == [False, True, False, True], [r.stderr for r in results]


def test_the_program_runs_unprivileged_in_a_fresh_dir():
    result = run_program("import os, posix\nprint(posix.getuid(), sorted(os.listdir('.')))\n"
                         "open('scratch.txt', 'w').write('ok')\n")
    assert result.passed, result.stderr
    uid, listing = result.stdout.split(" ", 1)
    assert listing.strip() == "['program.py']"
    if os.geteuid() == 0:
        assert int(uid) != 0


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return status.split("State:")[1].split()[0] not in "ZX"


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        kids = children(todo.pop())
        todo += kids - found
        found |= kids
    return found


@needs_root
def test_a_run_does_not_outlive_a_killed_runner(tmp_path):
    timeout_s = 2
    script = tmp_path / "runner.py"
    script.write_text("from harness_ext.sandbox import run_program, SandboxLimits\n"
                      "run_program('pass')\nprint('READY', flush=True)\n"
                      f"run_program('import time\\ntime.sleep(600)', SandboxLimits(timeout_s={timeout_s}))\n")
    runner_proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert runner_proc.stdout.readline() == "READY\n"
        deadline = time.monotonic() + 30
        run: set[int] = set()
        # server -> leader -> supervisor -> program: wait until the program is running
        while len(run) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            run = descendants(runner_proc.pid)
        assert len(run) >= 4, f"the run never started: {run}"
    finally:
        runner_proc.kill()
        runner_proc.wait()
    killed = time.monotonic()
    while any(map(alive, run)) and time.monotonic() < killed + timeout_s + SLACK_S:
        time.sleep(0.1)
    assert not any(map(alive, run)), "the run outlived its killed runner"


# --- verdicts decided outside the program -------------------------------------------------------

def test_reported_values_come_back_as_builtin_values_only():
    source = ("import collections, fractions\nclass Yes:\n    def __eq__(self, other):\n        return True\n"
              "class Liar(int):\n    __eq__ = lambda self, other: True\n    __repr__ = lambda self: '[3]'\n"
              "class L(list):\n    __iter__ = lambda self: iter([7])\nnested = []\n"
              "for _ in range(200):\n    nested = [nested]\ncycle = []\ncycle.append(cycle)\n")
    exprs = ["[1, (2,), {3: 'x\\ny'}, {4.5}, set(), b'\\x00', None, True, 2 ** 70, -0.0, 1e999, 1j]",
             "[Liar(5), L([1]), collections.Counter('aa'), collections.namedtuple('P', 'x')(1)]",
             "Yes()", "fractions.Fraction(1, 2)", "float('nan')", "nested", "cycle", "frozenset()"]
    result = run_program(source, SHORT, values=exprs)
    assert result.passed and len(result.values) == len(exprs), result
    plain, subclasses, *refused = result.values
    assert plain == [1, (2,), {3: "x\ny"}, {4.5}, set(), b"\x00", None, True, 2 ** 70, -0.0,
                     float("inf"), 1j]
    assert type(plain[1]) is tuple and type(plain[2]) is dict
    # subclasses come back as their builtin base's content, whatever their own methods say
    assert subclasses == [5, [1], {"a": 2}, (1,)] and type(subclasses[3]) is tuple
    assert all(isinstance(v, runner.Refused) for v in refused), refused
    assert refused[0].reason == "not a builtin value type"


def test_an_expression_that_raises_fails_the_run_and_later_ones_are_not_reported():
    result = run_program("def f(x):\n    return 1 / x\n", SHORT, values=["f(2)", "f(0)", "f(1)"])
    assert (result.passed, result.status, result.values) == (False, "failed", [0.5])
    assert "ZeroDivisionError" in result.stderr and "<test 2>" in result.stderr


@pytest.mark.parametrize("line", [
    b"__import__('os').system('touch /tmp/x')", b"Yes()", b"[1, 2", b"\xff\xfe", b"",
    b"!not a builtin value type", b"((((((((((" * 1000 + b"1" + b"))))))))))" * 1000])
def test_the_trusted_side_parses_literals_only(line):
    decoded = runner.decode_values(line + b"\n")
    assert len(decoded) == 1 and isinstance(decoded[0], runner.Refused)
    assert runner.decode_values(b"1\n" + line) == [1]  # a last line without "\n" was cut short


SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
           | st.binary() | st.complex_numbers(allow_nan=False, allow_infinity=False))
HASHABLE = st.recursive(SCALARS, lambda inner: st.tuples(inner) | st.tuples(inner, inner), max_leaves=6)
VALUES = st.recursive(SCALARS | HASHABLE, lambda inner: st.lists(inner, max_size=4)
                      | st.lists(inner, max_size=3).map(tuple) | st.sets(HASHABLE, max_size=3)
                      | st.dictionaries(HASHABLE, inner, max_size=3), max_leaves=12)


def _shape(value: object) -> object:
    """The value's types all the way down (== alone would call 1 == 1.0 == True equal)."""
    if isinstance(value, dict):
        return {"dict": sorted(repr((_shape(k), _shape(v))) for k, v in value.items())}
    if isinstance(value, (list, tuple, set)):
        return {type(value).__name__: sorted(map(repr, map(_shape, value)))
                if isinstance(value, set) else [_shape(v) for v in value]}
    return type(value).__name__


@given(VALUES)
@settings(max_examples=200, deadline=None)
def test_builtin_values_survive_the_round_trip(value):
    line = encode_value(value)
    assert "\n" not in line
    back = runner.decode_values(line.encode("utf-8", "surrogatepass") + b"\n")
    assert back == [value] and _shape(back[0]) == _shape(value)


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_whatever_the_program_writes_decodes_to_builtin_values_or_refusals(report):
    for value in runner.decode_values(report):
        assert isinstance(value, runner.Refused) or type(value) in (
            type(None), bool, int, float, complex, str, bytes, list, tuple, set, dict)


@pytest.mark.parametrize("test, check", [
    ("assert f(1) == [1, (2,)]", (("f(1)",), "_v0 == [1, (2,)]")),
    ("assert {'a': -1.5} == g(x, y=2)", (("g(x, y=2)",), "{'a': -1.5} == _v0")),
    ("assert (f(1)==set())", (("f(1)",), "_v0 == set()")),
    ("assert f(1) == 3, 'message'", (("f(1)",), "_v0 == 3")),
    ("assert math.isclose(f(1), 0.5)", (("f(1)",), "math.isclose(_v0, 0.5)")),
    ("assert f(1) == g(2)", (("f(1)", "g(2)"), "_v0 == _v1")),
    ("assert f(1) != 3", (("f(1)",), "_v0 != 3")),
    ("assert f(1)", (("bool(f(1))",), "_v0")),
    ("assert not f(1)", (("bool(f(1))",), "not _v0")),
    ("assert set(f(1)) == set([1, 2])", (("list(f(1))",), "set(_v0) == set([1, 2])")),
    ("assert f(1) == sys.getsizeof((1, 2))", (("f(1)",), "_v0 == sys.getsizeof((1, 2))")),
    ("assert sum(1, 2) == 3", (("sum(1, 2)",), "_v0 == 3")),  # the problem's own `sum`
    ("assert f(1) == len([1, 2])", (("f(1)",), "_v0 == len([1, 2])")),
    ("assert 3 == 3", None), ("assert f(1) == x", None), ("x = 1; assert f(1) == 1", None),
    ("assert f(1) ==", None), ("assert all(f(i) for i in range(3))", None),
])
def test_which_tests_are_judged_outside(test, check):
    from harness_ext.verify.program import outside_check

    found = outside_check(test, defines=frozenset({"f", "g", "sum"}))
    assert (None if found is None else (found.calls, found.test)) == check, test


def _judge(code: str, tests: tuple[str, ...]) -> bool:
    from harness_ext.verify import get_verifier
    from harness_ext.verify.program import CodeTests

    return get_verifier("mbpp").judge([code], [CodeTests(tests)])[0]


# Each of these passes when the asserts run inside the program (shown by the test); judged on
# the trusted side they fail.
FORGERIES = {
    "eq-always-true": "class Yes:\n    def __eq__(self, other):\n        return True\n"
                      "    __hash__ = None\ndef add(a, b):\n    return Yes()\n",
    "expected-from-source": (
        "import ast, sys\ndef add(a, b):\n    frame = sys._getframe(1)\n"
        "    src = open(frame.f_code.co_filename).read().splitlines()[frame.f_lineno - 1]\n"
        "    return ast.literal_eval(ast.parse(src.strip()).body[0].test.comparators[0])\n"),
    "nonce-echo": (  # read any 32-byte secret from fds 3-63 (retrying until it is there), echo it
        "import posix, time\nfound = set()\nfor _ in range(400):\n    for fd in range(3, 64):\n"
        "        try:\n            posix.set_blocking(fd, False)\n            data = posix.read(fd, 64)\n"
        "        except OSError:\n            continue\n        if len(data) == 32:\n"
        "            found.add(data)\n    if found:\n        break\n    time.sleep(0.005)\n"
        "for fd in range(3, 64):\n    for data in found:\n        try:\n"
        "            posix.write(fd, data)\n        except OSError:\n            pass\nposix._exit(0)\n"),
}


@pytest.mark.parametrize("attack", sorted(FORGERIES))
def test_forged_verdicts_pass_inside_but_not_outside(attack):
    from harness_ext.verify.program import CodeTests, program_source

    tests = ("assert add(1, 2) == 3", "assert add(2, 2) == 4")
    inside = run_program(program_source(FORGERIES[attack], CodeTests(tests)), SHORT)
    assert inside.passed, (attack, inside.stderr[-500:])  # the attack works on plain asserts
    assert _judge(FORGERIES[attack], tests) is False
    assert _judge("def add(a, b):\n    return a + b\n", tests) is True


# Each passed when these asserts ran inside the program: the program patched what judges it.
# Judged on the trusted side, they fail (a bool function answering from a fixed sequence is
# caught by hidden tests: tests/test_hidden_tests.py).
MONKEYPATCHED = {
    "isclose": ("import math\nmath.isclose = lambda *a, **k: True\ndef area(r):\n    return 0\n",
                ("assert math.isclose(area(1), 3.14159, rel_tol=0.001)",), ("import math",)),
    "set": ("set = lambda *a: 0\ndef common(a, b):\n    return []\n",
            ("assert set(common([1, 2], [2, 3])) == set([2])",), ()),
    "getsizeof": ("import sys\nsys.getsizeof = lambda *a: 0\ndef size(t):\n    return 0\n",
                  ("assert size((1, 'a')) == sys.getsizeof((1, 'a'))",), ()),
}


@pytest.mark.parametrize("attack", sorted(MONKEYPATCHED))
def test_patching_what_judges_asserts_no_longer_passes(attack):
    from harness_ext.verify.program import CodeTests

    code, tests, imports = MONKEYPATCHED[attack]
    v = get_verifier("mbpp")
    assert v.judge([code], [CodeTests(tests, imports)]) == [False]


# A class whose metaclass says its MRO is (NoneType, object): read through the metaclass, the
# value encoder wrote the object's own repr, i.e. anything the program likes.
METACLASS_MRO = """
class Meta(type):
    @property
    def __mro__(cls):
        return (type(None), object)
class Forged(metaclass=Meta):
    def __repr__(self):
        return "'heo'"
def remove_Occ(s, ch):
    return Forged()
"""


def test_a_metaclass_cannot_choose_how_its_values_are_written():
    result = run_program(METACLASS_MRO, SHORT, values=["remove_Occ('hello', 'l')"])
    assert result.passed and isinstance(result.values[0], runner.Refused), result.values
    assert _judge(METACLASS_MRO, ('assert remove_Occ("hello", "l") == "heo"',)) is False


M61 = (1 << 61) - 1  # ints n + k * M61 all share one hash
# Programs that write a report of their own into the values file (the one regular file among
# their descriptors), under the 1 MB the runner read back before: parsed there, 24 s and 444 MB of
# the trusted side.
WRITE_REPORT = """
import os, stat
for fd in range(3, 256):
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.write(fd, REPORT.encode())
    except OSError:
        pass
def f():
    return 0
"""
HOSTILE_REPORTS = {
    "colliding-set": 'REPORT = "{" + ", ".join(str(5 + k * %d) for k in range(1, 38_000)) + "}\\n"\n' % M61,
    "zeros": 'REPORT = "[" + "0, " * 300_000 + "0]\\n"\n',
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_REPORTS))
def test_judging_a_hostile_report_costs_the_trusted_side_little(attack):
    """The trusted side's CPU and Python memory for judging a program that reports a huge value
    (the sandbox's own time is not counted): <= 1 s and <= 50 MB."""
    import tracemalloc

    tracemalloc.start()
    start = time.process_time()
    try:
        assert _judge(HOSTILE_REPORTS[attack] + WRITE_REPORT, ("assert f() == 0",)) is False
        cpu = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cpu <= 1.0 and peak <= 50 << 20, (cpu, peak)


def test_hostile_reports_are_refused_before_they_are_parsed():
    start = time.process_time()
    colliding = b"{" + b", ".join(str(5 + k * M61).encode() for k in range(1, 40_000)) + b"}\n"
    for report in (colliding, b"[" + b"0, " * 300_000 + b"0]\n", b"[0]\n" * 20_000):
        values = runner.decode_values(report)
        assert all(isinstance(v, (runner.Refused, list)) for v in values)
        assert sum(not isinstance(v, runner.Refused) for v in values) <= runner.MAX_RUN_NODES
    assert time.process_time() - start <= 1.0


def test_hex_literals_are_held_to_the_int_size_limit():
    assert isinstance(runner.decode_values(b"0x" + b"f" * 8000 + b"\n")[0], runner.Refused)
    assert runner.decode_values(b"0xff\n") == [255]


def test_line_jumps_skip_nothing_that_is_judged_outside():
    tracer = ("import sys\ndef add(a, b):\n    return 0\ndef jump(frame, event, arg):\n"
              "    if event == 'line' and frame.f_code.co_filename.startswith('<test'):\n"
              "        frame.f_lineno = frame.f_lineno\n    return jump\n"
              "def trace(frame, event, arg):\n    frame.f_trace = jump\n    return jump\n"
              "sys.settrace(trace)\nsys._getframe().f_trace = jump\n")
    assert _judge(tracer, ("assert add(1, 2) == 3",)) is False


# --- the syscall filter, the memory budget --------------------------------------------------------

needs_seccomp = pytest.mark.skipif(not isolation.seccomp_bindings(), reason="no libseccomp bindings here")


@needs_root
@needs_seccomp
def test_the_syscall_filter_refuses_sockets_namespaces_and_keys():
    seccomp = importlib.import_module(Path(isolation.seccomp_bindings()).name.split(".")[0])
    nr = {name: seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) for name in ("clone", "add_key", "keyctl")}
    result = run_hostile(f"""
for name in ('ctypes', '_ctypes', '_socket', 'socket'):
    sys.modules.pop(name, None)
import ctypes, _socket
libc = ctypes.CDLL(None, use_errno=True)
def outcome(call):
    try:
        value = call()
    except OSError as e:
        return e.errno
    return ctypes.get_errno() if value == -1 else 0
_socket.socket(1, 1).close()
print('vsock', outcome(lambda: _socket.socket(40, 1)))  # AF_VSOCK: not under the netns
print('inet', outcome(lambda: _socket.socket(2, 1)))
print('unshare', outcome(lambda: libc.unshare(0x10000000 | 0x20000)))
print('clone', outcome(lambda: libc.syscall({nr['clone']}, 0x10000000 | 17, 0, 0, 0, 0)))
print('add_key', outcome(lambda: libc.syscall({nr['add_key']}, b'user', b'k', b'v', 1, -4)))
print('keyctl', outcome(lambda: libc.syscall({nr['keyctl']}, 0, -3, 0)))
print('mount', outcome(lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)))
print('ptrace', outcome(lambda: libc.ptrace(16, 1, 0, 0)))
assert False
""")
    lines = dict(line.split() for line in result.stdout.splitlines()[1:])
    assert lines == {"vsock": "97", "inet": "97", "unshare": "1", "clone": "1", "add_key": "1",
                     "keyctl": "1", "mount": "1", "ptrace": "1"}, result.stderr[-500:]
    assert result.status == "failed"


needs_memory_cgroup = pytest.mark.skipif(
    os.geteuid() != 0 or not isolation.cgroup.own_memory_cgroup(),
    reason="a memory cgroup per run needs root and a writable memory controller")
MEMFDS = ("for i in range(40):\n    fd = posix.memfd_create('x')\n    posix.write(fd, b'x' * (16 << 20))\n"
          "    print('held', BASE + 16 * (i + 1), flush=True)\n")


@needs_memory_cgroup
@pytest.mark.parametrize("hog", [
    "BASE = 0\n" + MEMFDS,
    "BASE = 12\nfor i in range(BASE):\n    with open(f'/dev/shm/{i}', 'wb') as f:\n"
    "        f.write(b'x' * (1 << 20))\n" + MEMFDS,
], ids=["memfd", "shm+memfd"])
def test_one_memory_budget_covers_shared_memory(hog):
    """640 MB of memfds (plus tmpfs files) with memory_mb=256: stopped at the run's budget."""
    result = run_hostile(hog + "assert False\n", replace(SHORT, memory_mb=256, timeout_s=6.0))
    held = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("held")]
    assert held and max(held) <= 256 + 64, result.stdout  # address space + the cgroup's headroom
    assert result.status == "killed"


@needs_memory_cgroup
def test_one_memory_budget_covers_all_the_forks():
    """Six children of 150 MB each with memory_mb=256: never more than two hold theirs at once."""
    result = run_hostile("""
import time
pids = []
for i in range(6):
    r, w = posix.pipe()
    pid = posix.fork()
    if pid == 0:
        x = b'x' * (150 << 20)
        posix.write(w, b'1')
        time.sleep(30)
        posix._exit(0)
    posix.close(w)
    posix.read(r, 1)  # it holds its 150 MB, or it died trying
    pids.append(pid)
big = sum(posix.waitpid(pid, posix.WNOHANG)[0] == 0 for pid in pids)  # alive: holding its 150 MB
print('big', big)
assert False
""", replace(SHORT, memory_mb=256, timeout_s=6.0))
    big = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("big")]
    assert big and 1 <= big[0] <= 2, (result.stdout, result.stderr[-300:])  # 3 x 110 MB > 320 MB


# --- no host files ------------------------------------------------------------------------------

@needs_namespaces
def test_host_files_are_out_of_sight():
    """The dataset (with the gold code), the checkout, home dirs and /etc are not in the run's root."""
    data = (Path(os.environ.get("SELFIMP_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
            / "mbpp" / "test.jsonl").resolve()
    row = json.loads(data.read_text().splitlines()[0])
    steal = (f"import json\nfor line in open({str(data)!r}):\n"
             "    exec(json.loads(line)['code'], globals())\n")
    assert run_program(steal + "\n".join(row["test_list"]), SHORT).status == "failed"
    assert _judge(steal, tuple(row["test_list"])) is False
    home_file = Path.home() / f".sandbox-canary-{os.getpid()}"  # next to the interpreter, maybe
    home_file.write_text("secret\n")
    try:
        paths = [str(data), str(data.parent), str(Path(__file__).resolve()), str(home_file),
                 "/home", "/etc/passwd", "/var/lib", "/opt"]
        result = run_hostile(f"import os\nfor p in {paths!r}:\n    print(p, os.path.exists(p))\n"
                             "print('usr', os.path.isdir('/usr/lib'))\nassert False\n")
    finally:
        home_file.unlink()
    assert result.stdout.splitlines()[1:] == [f"{p} False" for p in paths] + ["usr True"]


@needs_namespaces
def test_the_program_sees_no_proc():
    """/proc/self/mountinfo (the host's devices, file system options, bind sources) and every other
    proc file are out of the program's and its children's sight; the run's limits still hold."""
    result = run_hostile(
        "import os, posix\n"
        "for path in ('/proc', '/proc/self/mountinfo', '/proc/1/mountinfo', '/proc/self/fd'):\n"
        "    print(path, os.path.exists(path), flush=True)\n"
        "pid = posix.fork()\n"
        "if pid == 0:\n"
        "    print('child', os.path.exists('/proc/self/mountinfo'), flush=True)\n"
        "    posix._exit(0)\n"
        "posix.waitpid(pid, 0)\n"
        "assert False\n")
    assert result.stdout.splitlines()[1:] == [
        "/proc False", "/proc/self/mountinfo False", "/proc/1/mountinfo False", "/proc/self/fd False",
        "child False"], (result.stdout, result.stderr[-300:])


@needs_memory_cgroup
def test_cgroups_of_killed_runners_are_removed_by_the_next():
    parent = isolation.cgroup.own_memory_cgroup()
    stale, live = (Path(parent) / f"{isolation.cgroup.PREFIX}{pid}-test" for pid in (4_999_999, os.getpid()))
    stale.mkdir()
    live.mkdir()
    try:
        isolation.cgroup._remove_stale(parent)
        assert not stale.exists() and live.exists()
    finally:
        for path in (stale, live):
            if path.exists():
                path.rmdir()
