"""The one exception type for bad user input; CLIs turn it into one line and exit code 2."""
from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable[..., int | None])


class SelfimpError(Exception):
    """A user-facing error: the message names the file or field at fault."""


def cli_errors(main: F) -> F:
    """Decorate a CLI entry point: a SelfimpError prints `error: ...` and exits 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except SelfimpError as e:
            print("error: " + " ".join(str(e).splitlines()), file=sys.stderr)  # one line, whatever a path holds
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
