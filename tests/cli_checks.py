"""Test helper: a CLI `main` stopped by bad input prints one `error: ...` line and exits 2."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import pytest


def one_error_line(capsys, main: Callable, argv: list[str]) -> str:
    """Run `main(argv)`, expect exit 2 and exactly one stderr line `error: ...`; return that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2, (argv, err)
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256 of the bytes (or 'dir')} of everything under `root`: to assert nothing changed."""
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}
