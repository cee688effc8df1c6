"""Competition-math answers (MATH): last `\\boxed{}` and equivalence through math-verify."""
from __future__ import annotations

import functools
import logging
import re

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from harness_ext.verify.base import Verifier, missing_field
from harness_ext.verify.deadline import call_with_deadline

BOX = re.compile(r"\\(?:boxed|fbox)\b")
ANSWER_IS = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)
INLINE_MATH = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)")
# Time limit (seconds) for one parse-and-compare. math-verify's own limit uses SIGALRM, which
# only works in the main thread, so it is switched off and `call_with_deadline` (any thread) is used.
TIMEOUT_S = 5
EXTRACTION = (LatexExtractionConfig(), ExprExtractionConfig())


class _NoTimeoutWarning(logging.Filter):
    """Drop math-verify's "Timeout is disabled" warning: `call_with_deadline` provides the timeout."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _logger in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_logger).addFilter(_NoTimeoutWarning())


def matching_braces(text: str) -> dict[int, int]:
    """Position of each `{` that is closed → position of its `}` (one linear pass)."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def last_boxed(text: str) -> str | None:
    """Content of the last complete `\\boxed{...}` / `\\fbox{...}` (nested braces), or `\\boxed 5`."""
    boxes = list(BOX.finditer(text))
    if not boxes:
        return None
    pairs = matching_braces(text)
    for box in reversed(boxes):
        rest = text[box.end():]
        stripped = rest.lstrip()
        start = box.end() + len(rest) - len(stripped)
        if stripped.startswith("{"):
            if start in pairs:
                return text[start + 1 : pairs[start]]
        elif rest[:1].isspace() and stripped:
            return re.split(r"[\s$]", stripped, 1)[0]
    return None


def after_answer_is(text: str) -> str | None:
    """The answer following the last "The answer is" / "answer:" on its line."""
    anchors = list(ANSWER_IS.finditer(text))
    if not anchors:
        return None
    rest = text[anchors[-1].end():].split("\n", 1)[0].strip()
    math = INLINE_MATH.match(rest)
    if math:
        rest = next(g for g in math.groups() if g is not None)
    else:
        rest = re.split(r"\.(?:\s|$)", rest, 1)[0]
    rest = rest.strip().rstrip(".").strip()
    return rest or None


def normalise(answer: str) -> str:
    """A canonical string for the fallback comparison when math-verify parses nothing."""
    answer = re.sub(r"\\(?:left|right|!|,|;|:)|\s", "", answer)
    answer = re.sub(r"\\[dt]frac", r"\\frac", answer)
    return answer.rstrip(".").replace("\\$", "").strip("$")


@functools.lru_cache(maxsize=65536)
def parsed(answer: str) -> tuple:
    return tuple(parse(f"\\boxed{{{answer}}}", extraction_config=EXTRACTION, parsing_timeout=None))


def _verified(gold: str, pred: str) -> bool:
    gold_parsed, pred_parsed = parsed(gold), parsed(pred)
    return bool(gold_parsed and pred_parsed and verify(list(gold_parsed), list(pred_parsed), timeout_seconds=None))


@functools.lru_cache(maxsize=65536)
def equivalent(gold: str, pred: str) -> bool:
    """math-verify equivalence of two extracted answers (or equal normalised strings); any thread."""
    finished, same = call_with_deadline(TIMEOUT_S, _verified, gold, pred)
    return (finished and bool(same)) or normalise(gold) == normalise(pred) != ""


class MathVerifier(Verifier):
    name = "math"

    def extract(self, completion: str, reference=None) -> str | None:
        found = last_boxed(completion)
        if found is None:
            found = after_answer_is(completion)
        return found.strip() if found is not None and found.strip() else None

    def reference(self, doc: dict) -> str:
        """The row's `answer` field if present, else the last `\\boxed{}` of `solution`."""
        answer = doc.get("answer")
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            return str(answer)
        if isinstance(answer, str) and answer.strip():
            return answer.strip()
        solution = doc.get("solution")
        boxed = last_boxed(solution) if isinstance(solution, str) else None
        if boxed is None or not boxed.strip():
            raise missing_field(self.name, doc, "field 'answer' or a 'solution' with a \\boxed{} answer")
        return boxed.strip()

    def is_correct(self, completion: str, reference) -> bool:
        answer = self.extract(completion)
        return answer is not None and equivalent(str(reference), answer)
