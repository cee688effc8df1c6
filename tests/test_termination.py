"""`termination_as_exit()`: SIGTERM / SIGHUP become `SystemExit(128 + signum)`, so `finally` blocks
(where `selfimp-eval` and the trainer stop vLLM's engine processes) run; no vLLM needed here."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness_ext.termination import termination_as_exit

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harness_ext.termination import termination_as_exit

    with termination_as_exit():
        try:
            print("ready", flush=True)
            time.sleep(120)
        finally:
            Path(sys.argv[1]).write_text("cleaned up")
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signal_runs_finally_and_exits_128_plus_signum(tmp_path, signum):
    marker = tmp_path / "finally_ran"
    # The signal at its default action in the child even where the suite runs under nohup (SIGHUP
    # ignored and inherited: then termination_as_exit rightly leaves it alone).
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 128 + signum
    finally:
        proc.kill()
        proc.wait()
    assert marker.read_text() == "cleaned up"


@pytest.fixture
def default_handlers():
    """SIGTERM and SIGHUP at their default action during the test, as pytest found them after."""
    saved = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_handlers_restored_and_ignored_signal_left_alone(default_handlers):
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    with termination_as_exit():
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_restored_after_an_exception(default_handlers):
    with pytest.raises(RuntimeError), termination_as_exit():
        raise RuntimeError("boom")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_in_process_signal_raises_system_exit(default_handlers):
    with pytest.raises(SystemExit) as exc, termination_as_exit():
        signal.raise_signal(signal.SIGTERM)
    assert exc.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


class SignalledSampler:
    """A sampler that receives SIGTERM while generating; records whether it was closed."""

    closed = False

    def generate(self, *args) -> list[list[str]]:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # would kill pytest itself
            raise AssertionError("sampling runs with SIGTERM's default action")
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt generate")

    def close(self) -> None:
        self.closed = True


def test_trainer_sampling_closes_the_sampler_on_sigterm(default_handlers, monkeypatch, tmp_path):
    """`generate_judged` (every sampling of `selfimp-train`): SIGTERM closes the sampler (for
    `--sampler vllm`, its engine process) before the exit, and no records are written."""
    from types import SimpleNamespace

    from selfimp_train import generation

    sampler = SignalledSampler()
    monkeypatch.setattr(generation, "make_sampler", lambda *args: sampler)
    data = SimpleNamespace(prompts={"q": "1+1="}, max_new_tokens=8, stop=[])
    greedy = generation.Decoding(n=1, temperature=0.0, top_p=1.0, seed=0, dtype="float32", batch_size=1)
    with pytest.raises(SystemExit) as exc:
        generation.generate_judged(None, data, tmp_path, ["q"], greedy, tmp_path / "out.jsonl")
    assert exc.value.code == 128 + signal.SIGTERM and sampler.closed
    assert not (tmp_path / "out.jsonl").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
