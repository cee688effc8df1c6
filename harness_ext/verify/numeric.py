"""Numeric answers (GSM8K, arith, SVAMP, MAWPS): exact rational comparison of final numbers."""
from __future__ import annotations

import re
from fractions import Fraction

from harness_ext.errors import SelfimpError
from harness_ext.verify.base import Verifier, missing_field, row_label

# A number as written: optional sign and `$`, thousands commas, decimals, an optional `/` fraction.
NUMBER = re.compile(
    r"(?<![\w.])(?:-\$?)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?:\.\d+)?)?"
    r"|(?<![\w.])-?\.\d+"
)
ANSWER_IS = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)
# Relative tolerance for non-integer references such as SVAMP's 3.3333333333333335;
# integer references (72, 145.0) must match exactly.
REL_TOL = Fraction(1, 10**6)


def to_fraction(text: str) -> Fraction | None:
    """The exact value of a number as written ("1,234.00", "$5", "-3/4", "50%"), or None."""
    cleaned = re.sub(r"[\s,$%]", "", text)
    try:
        if "/" in cleaned:
            num, den = cleaned.split("/", 1)
            return Fraction(num) / Fraction(den)
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def first_number(text: str) -> str | None:
    match = NUMBER.search(text)
    return clean(match.group()) if match else None


def last_number(text: str) -> str | None:
    last = None
    for last in NUMBER.finditer(text):
        pass
    return clean(last.group()) if last else None


def clean(token: str) -> str:
    return re.sub(r"[\s$]", "", token)


def numbers_equal(pred: Fraction, ref: Fraction) -> bool:
    if pred == ref or ref.denominator == 1:
        return pred == ref
    return abs(pred - ref) <= REL_TOL * max(1, abs(ref))


class NumericVerifier(Verifier):
    """The number after the last `####`, else after "The answer is", else the last number."""

    def __init__(self, name: str = "gsm8k"):
        self.name = name

    def extract(self, completion: str, reference=None) -> str | None:
        if "####" in completion:
            found = first_number(completion.rsplit("####", 1)[1].split("\n", 1)[0])
            if found is not None:
                return found
        anchors = list(ANSWER_IS.finditer(completion))
        if anchors:
            found = first_number(completion[anchors[-1].end():].split("\n", 1)[0])
            if found is not None:
                return found
        return last_number(completion)

    def reference(self, doc: dict) -> str:
        """The gold number as text: `answer` ("... #### 72" or a number), `Answer`, or `target`."""
        for key in ("answer", "Answer", "target"):
            value = doc.get(key)
            if value is None or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                return repr(value)
            if isinstance(value, str):
                text = value.rsplit("####", 1)[-1].strip()
                if to_fraction(text) is not None:
                    return re.sub(r"[\s,$%]", "", text)
                raise SelfimpError(
                    f"{self.name} {row_label(doc)}: field {key!r} does not end in a number: {value[-80:]!r}"
                )
        raise missing_field(self.name, doc, "field 'answer' (ending in '#### <number>'), 'Answer' or 'target'")

    def is_correct(self, completion: str, reference) -> bool:
        ref = to_fraction(str(reference))
        if ref is None:
            raise SelfimpError(f"{self.name}: reference {reference!r} is not a number")
        answer = self.extract(completion)
        pred = to_fraction(answer) if answer is not None else None
        return pred is not None and numbers_equal(pred, ref)

