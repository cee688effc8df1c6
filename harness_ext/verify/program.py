"""Python programs (MBPP): the candidate code run against the row's asserts in the sandbox."""
from __future__ import annotations

import re
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.sandbox import SandboxLimits, run_many
from harness_ext.verify.base import Verifier, check_same_length, missing_field, row_label

FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass(frozen=True)
class CodeTests:
    """What a program must pass: imports, optional setup code, and assert statements."""

    test_list: tuple[str, ...]
    test_imports: tuple[str, ...] = ()
    test_setup_code: str = ""


def program_source(code: str, tests: CodeTests) -> str:
    """Candidate code + imports + setup + asserts, as one program for the sandbox."""
    parts = [code, *tests.test_imports, tests.test_setup_code, *tests.test_list]
    return "\n".join(p for p in parts if p) + "\n"


def _str_list(doc: dict, key: str, task: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SelfimpError(f"{task} {row_label(doc)}: field {key!r} must be a list of strings")
    return tuple(value)


class ProgramVerifier(Verifier):
    """Runs programs in `harness_ext.sandbox` (default limits: 10 s each; needs HF_ALLOW_CODE_EVAL=1)."""

    name = "mbpp"

    def __init__(self, limits: SandboxLimits | None = None, workers: int | None = None):
        self.limits = limits
        self.workers = workers

    def extract(self, completion: str, reference=None) -> str | None:
        """The first ```python block (else the first fenced block, else the whole text)."""
        blocks = [(lang.lower(), body) for lang, body in FENCE.findall(completion) if body.strip()]
        python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
        code = (python or [body for _, body in blocks] or [completion])[0]
        return code if code.strip() else None

    def reference(self, doc: dict) -> CodeTests:
        """The row's `test_list` with `test_imports` and `test_setup_code` when present."""
        tests = _str_list(doc, "test_list", self.name)
        if not tests:
            raise missing_field(self.name, doc, "a non-empty field 'test_list'")
        setup = doc.get("test_setup_code") or ""
        if not isinstance(setup, str):
            raise SelfimpError(f"{self.name} {row_label(doc)}: field 'test_setup_code' must be a string")
        return CodeTests(tests, _str_list(doc, "test_imports", self.name), setup)

    def is_correct(self, completion: str, reference: CodeTests) -> bool:
        return self.judge([completion], [reference])[0]

    def judge(self, completions: list[str], references: list[CodeTests]) -> list[bool]:
        """Run each distinct program once, in parallel through the sandbox pool; no code → incorrect."""
        check_same_length(completions, references)
        sources = [None if code is None else program_source(code, ref)
                   for code, ref in zip(map(self.extract, completions), references)]
        distinct = list(dict.fromkeys(s for s in sources if s is not None))
        results = run_many(distinct, limits=self.limits, workers=self.workers) if distinct else []
        passed = {source: bool(result.passed) for source, result in zip(distinct, results)}
        return [source is not None and passed[source] for source in sources]
