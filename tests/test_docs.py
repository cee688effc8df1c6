"""The docs hold from a clone: no path of the machine they were written on, no reference to a repo file
or doc link that does not exist, no work-period labels, and the README's two commands are the ones
`.ci/run` and `benchmarks/bench_e2e.sh` run."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC_SUFFIXES = {".md", ".rst", ".txt"}
# Folders whose every file is cited as a command from the docs: their paths must work from a clone too.
SCRIPT_DIRS = ("benchmarks/", "scripts/", ".ci/", "examples/")
# Absolute paths into these are the operating system's (e.g. the sandbox's read-only /usr), not one machine's;
# /tmp/... is scratch space of one machine, so it counts.
SYSTEM_DIRS = {"usr", "dev", "proc", "sys", "etc", "bin", "sbin", "lib", "lib64", "run", "var"}
TOP_DIRS = ("harness_ext", "selfimp_train", "lm_eval_tasks", "benchmarks", "docs", "tests", "examples",
            "scripts", r"\.ci")

# Starts a word (after a space, backtick, "(", "=", "," or an opening quote), so `$DIR/x`, `runs/<name>/iter_t/`
# and URLs are not absolute paths.
ABSOLUTE = re.compile(r"""(?:^|(?<=[\s`(=,])|(?<=[\s`(=]["'])|(?<=^["']))/(\w[\w.\-]*)/[^\s`'")\]]*""")
REPO_REF = re.compile(rf"(?<![\w.:/~$\-])(?<!\]\()((?:{'|'.join(TOP_DIRS)})/[\w./\-]*)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
WORK_PERIOD = re.compile(r"\b[Ss]essions? \d")


def tracked_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                           text=True).stdout.split("\0")
    return [REPO / n for n in names if n and (REPO / n).is_file()]


def cited_text_files() -> list[Path]:
    """The docs, and the scripts they cite as commands."""
    return [f for f in tracked_files()
            if f.suffix in DOC_SUFFIXES or f.relative_to(REPO).as_posix().startswith(SCRIPT_DIRS)]


def machine_paths(text: str) -> list[str]:
    """Absolute paths in `text` outside the operating system's own directories."""
    return [m.group(0) for m in ABSOLUTE.finditer(text) if m.group(1) not in SYSTEM_DIRS]


def missing_repo_refs(text: str, doc: Path) -> list[str]:
    """Repo paths (`benchmarks/x.py`, `docs/y.md`) and relative Markdown links in `text` that do not exist."""
    missing = []
    for m in REPO_REF.finditer(text):
        ref = m.group(1).rstrip(".")
        if not (REPO / ref).exists():
            missing.append(ref)
    for m in LINK.finditer(text):
        target = m.group(1).split("#")[0]
        if target and not re.match(r"[a-z]+:", target) and not (doc.parent / target).exists():
            missing.append(m.group(1))
    return missing


def readme_block(marker: str) -> str:
    """The first fenced block after `<!-- marker -->` in README.md."""
    text = (REPO / "README.md").read_text()
    m = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)\n```", text, re.S)
    assert m, f"README.md has no fenced block after <!-- {marker} -->"
    return m.group(1)


def _line_hits(find, files) -> list[str]:
    return [f"{f.relative_to(REPO)}:{i}: {hit}" for f in files
            for i, line in enumerate(f.read_text(errors="replace").splitlines(), 1) for hit in find(line, f)]


def test_the_checkers_flag_what_they_should():
    assert machine_paths("timed by `bash /work/run_e2e.sh /work/e2e23` and /tmp/prof/attn.py") == [
        "/work/run_e2e.sh", "/work/e2e23", "/tmp/prof/attn.py"]
    assert machine_paths("see https://docs.astral.sh/uv/, runs/embedded/iter_1, /usr/bin/env and /dev/null") == []
    assert missing_repo_refs("`benchmarks/bench_e2e.sh`, [verdicts](docs/verdicts.md)", REPO / "README.md") == []
    assert missing_repo_refs("`benchmarks/no_such.sh` and [x](docs/nope.md#a)", REPO / "README.md") == [
        "benchmarks/no_such.sh", "docs/nope.md#a"]


def test_no_tracked_text_file_cites_a_path_of_one_machine():
    hits = _line_hits(lambda line, f: machine_paths(line), cited_text_files())
    assert not hits, "absolute paths outside the repo (use relative paths and scripts in the repo):\n" + "\n".join(hits)


def test_every_repo_file_and_link_the_docs_cite_exists():
    docs = [f for f in tracked_files() if f.suffix in DOC_SUFFIXES]
    hits = _line_hits(missing_repo_refs, docs)
    assert not hits, "references to files that do not exist:\n" + "\n".join(hits)


def test_no_work_period_labels():
    hits = _line_hits(lambda line, f: WORK_PERIOD.findall(line), tracked_files())
    assert not hits, "work-period labels (name a date and a commit instead):\n" + "\n".join(hits)


@pytest.mark.parametrize(("marker", "script"), [("test-command", ".ci/run"),
                                                ("e2e-command", "benchmarks/bench_e2e.sh")])
def test_the_readme_commands_are_what_ci_and_the_e2e_benchmark_run(marker, script):
    ran = subprocess.run(["bash", script, "--print-command"], cwd=REPO, capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == readme_block(marker).strip()


def test_the_readme_is_short_and_shows_the_three_uses_first():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    first_screen = "\n".join(lines[:60])
    for use in ("lm_eval --model vllm", "selfimp-report --compare", "selfimp-train --iters 5"):
        assert use in first_screen, f"{use!r} is not in the README's first 60 lines"
