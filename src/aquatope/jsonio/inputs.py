"""Reading user files with bounds, and the record of what a command has read.

Every reader here refuses, with one :class:`~aquatope.errors.InputError` naming the file and, where it can,
the line: a missing file, a directory, a file larger than the reader's limit (checked before it is held in
memory), text that is not UTF-8 (binary data), and for JSON malformed syntax, ``NaN``/``Infinity`` (not
JSON; the key holding one is named too), numbers out of range, duplicate keys and nesting deeper than a limit (a 100,000-deep ``[[[...]]]``
would otherwise exhaust the parser's recursion).

:func:`note_input` records each file a command reads (while :func:`guard_inputs` is active: the CLI
activates it around every command), so that no output of the command can be written over one of its inputs
(see :mod:`aquatope.jsonio.outputs`). Files are identified by device and inode, so a symlink or a hard
link to an input is the input.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aquatope.errors import InputError

FileKey = tuple[int, int]
"""A file's identity: ``(st_dev, st_ino)``."""

MAX_JSON_BYTES = 16 * 2**20
"""Default size limit of a JSON input (16 MiB): far above any configuration or result file Aquatope writes
(a ``tune`` result is tens of KB), far below what would strain memory once parsed."""
MAX_JSON_DEPTH = 64
"""Default nesting limit of a JSON input; Aquatope's own files nest at most 6 levels."""

_INPUTS: ContextVar[dict[FileKey, str] | None] = ContextVar("aquatope_inputs", default=None)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_CONSTANT = re.compile(rb"-?\b(?:NaN|Infinity)\b")


@contextmanager
def guard_inputs() -> Iterator[dict[FileKey, str]]:
    """Record the files read inside this block (by :func:`note_input`); outputs refuse to replace them."""
    token = _INPUTS.set({})
    try:
        yield _INPUTS.get() or {}
    finally:
        _INPUTS.reset(token)


def file_key(path: str | Path) -> FileKey | None:
    """``(device, inode)`` of the file ``path`` names (symlinks followed), or ``None`` if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def input_keys(path: str | Path) -> dict[FileKey, str]:
    """The files ``path`` stands for as an input: itself, or for a directory, the files directly in it."""
    p = Path(path)
    keys: dict[FileKey, str] = {}
    try:
        st = os.stat(p)
    except OSError:
        return keys
    if stat.S_ISDIR(st.st_mode):
        try:
            children = list(p.iterdir())
        except OSError:
            children = []
        for child in children:
            key = file_key(child)
            if key is not None and child.is_file():
                keys[key] = str(child)
    else:
        keys[(st.st_dev, st.st_ino)] = str(p)
    return keys


def note_input(path: str | Path) -> None:
    """Record ``path`` (a file, or a directory's files) as read by the current command, if one is guarded."""
    registry = _INPUTS.get()
    if registry is not None:
        registry.update(input_keys(path))


def inputs_read() -> dict[FileKey, str]:
    """The files recorded by :func:`note_input` in the current guarded command (empty outside one)."""
    return dict(_INPUTS.get() or {})


def read_bytes(path: str | Path, *, max_bytes: int, what: str = "file", field: str | None = None) -> bytes:
    """The bytes of ``path``, refusing a missing file, a directory and more than ``max_bytes`` bytes."""
    p = Path(path)
    try:
        with p.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=p, field=field) from None
    except IsADirectoryError:
        raise InputError(f"is a directory; expected a {what}", source=p, field=field) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", source=p, field=field) from None
    note_input(p)
    if len(data) > max_bytes:
        raise InputError(f"larger than {_size(max_bytes)}, the limit for a {what}", source=p, field=field)
    return data


def decode_text(data: bytes, path: str | Path, *, what: str = "file", field: str | None = None) -> str:
    """``data`` as UTF-8 text (a BOM is dropped); binary data is refused naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise InputError(
            f"not UTF-8 text (a binary file?): byte 0x{byte} cannot be decoded; expected a {what}",
            source=path,
            line=line,
            field=field,
        ) from None


def read_text(path: str | Path, *, max_bytes: int, what: str = "file", field: str | None = None) -> str:
    """UTF-8 text of ``path`` with the checks of :func:`read_bytes` and :func:`decode_text`."""
    return decode_text(read_bytes(path, max_bytes=max_bytes, what=what, field=field), path, what=what, field=field)


def read_json(
    path: str | Path,
    *,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    what: str = "JSON file",
    field: str | None = None,
) -> Any:
    """Parse a JSON file safely (see the module doc for what is refused); returns plain Python values."""
    data = read_bytes(path, max_bytes=max_bytes, what=what, field=field)
    text = decode_text(data, path, what=what, field=field)
    skeleton = _STRING.sub(b'""', data)  # strings removed: brackets and constants outside them only
    _check_depth(skeleton, max_depth, path, field)
    constant = _CONSTANT.search(skeleton)
    if constant is not None:
        line = skeleton.count(b"\n", 0, constant.start()) + 1
        word = constant.group().decode()
        raise InputError(f"{word} is not a JSON number", source=path, line=line, field=_constant_key(text, field))
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", source=path, line=exc.lineno, field=field) from None
    except _DuplicateKey as exc:
        raise InputError(f"duplicate key {exc.key!r}", source=path, field=exc.key) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits
        raise InputError(f"malformed JSON: {str(exc).split(';')[0]}", source=path, field=field) from None
    _check_finite(value, path, field)
    return value


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _check_depth(skeleton: bytes, max_depth: int, path: str | Path, field: str | None) -> None:
    """Refuse nesting deeper than ``max_depth``, naming the line where it is first exceeded."""
    import numpy as np  # here, not at start-up: `aquatope --help` does not need it

    codes = np.frombuffer(skeleton, dtype=np.uint8)
    step = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    if not step.size:
        return
    depth = np.cumsum(step)
    if depth.max() > max_depth:
        at = int(np.argmax(depth > max_depth))
        line = skeleton.count(b"\n", 0, at) + 1
        raise InputError(f"nested deeper than {max_depth} levels", source=path, line=line, field=field)


def _constant_key(text: str, field: str | None) -> str | None:
    """The key that holds the first ``NaN``/``Infinity`` of ``text`` (under ``field``), or ``field`` if the text
    does not parse even with those constants allowed."""
    first = object()
    seen: list[object] = []

    def constant(word: str) -> object:
        seen.append(word)
        return first if len(seen) == 1 else None

    try:
        value = json.loads(text, parse_constant=constant)
    except (ValueError, RecursionError):
        return field
    stack: list[tuple[Any, str | None]] = [(value, field)]
    while stack:
        item, where = stack.pop()
        if item is first:
            return where
        if isinstance(item, dict):
            stack.extend((v, k if where is None else f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, where) for v in item)
    return field


def _check_finite(value: Any, path: str | Path, field: str | None) -> None:
    """Refuse numbers that overflow to infinity (``1e999``), naming the key that holds one."""
    stack: list[tuple[Any, str | None]] = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise InputError("number out of range (overflows to infinity)", source=path, field=where)
        if isinstance(item, dict):
            stack.extend((v, k if where is None else f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, where) for v in item)


def _size(n_bytes: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= factor:
            return f"{n_bytes / factor:g} {unit}"
    return f"{n_bytes} bytes"
