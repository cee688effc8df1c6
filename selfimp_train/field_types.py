"""Type checks of config values against their dataclass annotations (`int | None`, `list[str]`, ...):
values from YAML reach the config without argparse's conversion, so their types are checked here."""
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


def accepts_list(hint: Any) -> bool:
    """Whether the annotation admits a list (`list[str]`, `list[float] | None`)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(accepts_list(a) for a in typing.get_args(hint))
    return typing.get_origin(hint) is list


def type_error(value: Any, hint: Any) -> str | None:
    """'must be ..., got ...' when `value` does not have type `hint`, else None."""
    if matches(value, hint):
        return None
    return f"must be {describe(hint)}, got {value!r:.80}"
