"""Multiple-choice answers (CommonsenseQA): the last clear choice letter A–E, or a choice's exact text."""
from __future__ import annotations

import re
from dataclasses import dataclass

from harness_ext.errors import SelfimpError
from harness_ext.verify.base import Verifier, missing_field, row_label

LETTERS = ("A", "B", "C", "D", "E")
ANCHOR = re.compile(r"answer(?:\s+is|\s*:|\s*=)?\s*", re.IGNORECASE)
# "(C)" anywhere; "The answer is C" / "answer: c" after an anchor; "C." / "C)" / "C" opening a line;
# a completion that is just a letter ("c"). Lower-case "a" before a word is the article.
PAREN = re.compile(r"\(([A-Ea-e])\)")
AFTER_ANCHOR = re.compile(r"(?i:(?:option|choice)\s*)?:?\s*\**\(?([A-Ea-e])\)?\**(?!\w)")
LINE_START = re.compile(r"^[ \t]*\**\(?([A-E])\)?\**[ \t]*(?:[.):]|$)", re.MULTILINE)
BARE = re.compile(r"\s*\(?([A-Ea-e])\)?[.)]?\s*")
ARTICLE = re.compile(r"\s+[a-z]")


@dataclass(frozen=True)
class ChoiceReference:
    """The gold letter and, when the row has them, the choices as (label, text) pairs."""

    key: str
    choices: tuple[tuple[str, str], ...] = ()


def normalise_text(text: str) -> str:
    """Lower case, no punctuation, no leading article: "The Bank." → "bank"."""
    words = re.sub(r"[.!?,;:\"'*`]", " ", text.lower()).split()
    if len(words) > 1 and words[0] in ("a", "an", "the"):
        words = words[1:]
    return " ".join(words)


def letter_candidates(completion: str) -> list[tuple[int, str]]:
    """(position, letter) of every clear letter choice in `completion`."""
    bare = BARE.fullmatch(completion)
    if bare:
        return [(bare.start(1), bare.group(1))]
    found = [(m.start(1), m.group(1)) for m in PAREN.finditer(completion)]
    found += [(m.start(1), m.group(1)) for m in LINE_START.finditer(completion)]
    for anchor in ANCHOR.finditer(completion):
        m = AFTER_ANCHOR.match(completion, anchor.end())
        if m and not (m.group(1) == "a" and ARTICLE.match(completion, m.end())):
            found.append((m.start(1), m.group(1)))
    return found


def text_candidates(completion: str, choices: tuple[tuple[str, str], ...]) -> list[tuple[int, str]]:
    """(position, label) where the whole completion, or the rest of an answer line, is a choice's text."""
    by_text = {normalise_text(text): label for label, text in choices}
    span = 2 * max(len(text) for _, text in choices) + 20  # room for articles, markup, a full stop
    found = []
    whole = by_text.get(normalise_text(completion)) if len(completion) <= span else None
    if whole:
        found.append((0, whole))
    for anchor in ANCHOR.finditer(completion):
        line = completion[anchor.end(): anchor.end() + span].split("\n", 1)[0]
        label = by_text.get(normalise_text(re.split(r"[.!?](?:\s|$)", line, 1)[0]))
        if label:
            found.append((anchor.end(), label))
    return found


class ChoiceVerifier(Verifier):
    name = "csqa"

    def extract(self, completion: str, reference: ChoiceReference | None = None) -> str | None:
        """The chosen letter (upper case); with a reference, a choice's exact text counts too."""
        found = letter_candidates(completion)
        if isinstance(reference, ChoiceReference) and reference.choices:
            found += text_candidates(completion, reference.choices)
        return max(found)[1].upper() if found else None

    def reference(self, doc: dict) -> ChoiceReference:
        """`answerKey` plus the choices (HF `choices{label,text}` or local `question.choices[]`)."""
        key = doc.get("answerKey")
        if not isinstance(key, str) or key.strip().upper() not in LETTERS:
            raise missing_field(self.name, doc, "field 'answerKey' (one of A-E)")
        return ChoiceReference(key.strip().upper(), self._choices(doc))

    def _choices(self, doc: dict) -> tuple[tuple[str, str], ...]:
        choices = doc.get("choices")
        if choices is None and isinstance(doc.get("question"), dict):
            choices = doc["question"].get("choices")
        if choices is None:
            return ()
        try:
            if isinstance(choices, dict):
                return tuple(zip(choices["label"], choices["text"], strict=True))
            return tuple((c["label"], c["text"]) for c in choices)
        except (KeyError, TypeError, ValueError):
            raise SelfimpError(
                f"{self.name} {row_label(doc)}: field 'choices' must be {{label: [...], text: [...]}} "
                "or a list of {label, text}"
            ) from None

    def is_correct(self, completion: str, reference: ChoiceReference | str) -> bool:
        ref = reference if isinstance(reference, ChoiceReference) else ChoiceReference(str(reference).strip().upper())
        return self.extract(completion, ref) == ref.key
