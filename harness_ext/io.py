"""Atomic file writes (tmp + rename), output-dir checks, and JSON/JSONL reading with clear errors."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from harness_ext.errors import SelfimpError

# what a hostile JSON text can raise besides JSONDecodeError: too many digits, too deep nesting
_JSON_ERRORS = (ValueError, RecursionError)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` so that readers see the old file or the whole new one."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the whole new one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise SelfimpError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in rows))


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse an output dir that is a file, lies under a file or cannot be written; creates nothing."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == path else f"{existing} "
        raise SelfimpError(f"{flag}: {path}: {where}is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SelfimpError(f"{flag}: {path}: {existing} is not writable")
    return path


def decode_utf8(data: bytes, where: str) -> str:
    """`data` as text; bytes that are not UTF-8 (binary, Latin-1, UTF-16) raise SelfimpError at `where`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        hint = ", UTF-16?" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise SelfimpError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start}{hint})") from None


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file; missing, unreadable or not UTF-8 raises SelfimpError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SelfimpError(f"{path}: file not found")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SelfimpError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode_utf8(data, str(path))


def parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except _JSON_ERRORS as e:
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e) or type(e).__name__
        raise SelfimpError(f"{where}: not valid JSON ({reason})") from None


def read_json(path: str | os.PathLike) -> Any:
    return parse_json(read_text(path), str(path))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSONL file; a bad line raises SelfimpError naming file and line."""
    return [row for _, row in read_jsonl_numbered(path)]


def read_jsonl_numbered(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL file; a bad line raises SelfimpError."""
    path = Path(path)
    if not path.is_file():
        raise SelfimpError(f"{path}: file not found")
    rows = []
    try:
        with path.open("rb") as f:
            for lineno, data in enumerate(f, 1):
                line = decode_utf8(data, f"{path}:{lineno}")
                if not line.strip():
                    continue
                row = parse_json(line, f"{path}:{lineno}")
                if not isinstance(row, dict):
                    raise SelfimpError(f"{path}:{lineno}: expected a JSON object")
                rows.append((lineno, row))
    except OSError as e:
        raise SelfimpError(f"{path}: cannot read ({e.strerror or e})") from None
    return rows
