"""Type checks of config values against their dataclass annotations (`int | None`, `list[str]`, ...):
values from YAML reach the config without argparse's conversion, so they are coerced and checked here."""
from __future__ import annotations

import math
import types
import typing
from typing import Any

_NAMES = {str: ("a string", "strings"), int: ("an integer", "integers"), float: ("a number", "numbers"),
          bool: ("true or false", "booleans"), dict: ("a mapping", "mappings")}


def matches(value: Any, hint: Any) -> bool:
    """Whether `value` has the annotated type; bool is not an int here, float means a finite int or float."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(matches(v, args[0]) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def describe(hint: Any) -> str:
    """`int | None` -> 'an integer or null', `list[str]` -> 'a list of strings'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if hint is type(None):
        return "null"
    if origin is list:
        return f"a list of {_name(args[0], plural=True)}"
    return _name(hint, plural=False)


def _name(kind: Any, plural: bool) -> str:
    fallback = getattr(kind, "__name__", str(kind))
    singular, many = _NAMES.get(kind, (f"a {fallback}", f"{fallback} values"))
    return many if plural else singular


def type_error(value: Any, hint: Any) -> str | None:
    """'must be ..., got ...' when `value` does not have type `hint`, else None."""
    if matches(value, hint):
        return None
    return f"must be {describe(hint)}, got {value!r:.80}"


def coerce(value: Any, hint: Any) -> Any:
    """A YAML value in the form argparse gives the same flag: an integer as a float where the field is a float
    (`m1_epochs: 20` -> 20.0), a single value as a one-element list (`dpo_loss_type: sigmoid`)."""
    if _admits(hint, float) and not _admits(hint, int) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    element = _list_element(hint)
    if element is not None and isinstance(value, list):
        return [coerce(v, element) for v in value]
    if element is not None and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [coerce(value, element)]
    return value


def _admits(hint: Any, kind: type) -> bool:
    """Whether `kind` is the annotation or one member of its union."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_admits(a, kind) for a in typing.get_args(hint))
    return hint is kind


def _list_element(hint: Any) -> Any:
    """The element type of the annotation's `list[...]` member, or None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next((e for e in map(_list_element, typing.get_args(hint)) if e is not None), None)
    return typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
