"""Errors for bad user input: each names where the problem is (file, line, field).

The CLI turns an :class:`InputError` into a one-line message and exit code 2, without a traceback.
Two small helpers for messages and checks shared by every reader: :func:`brief` (a value as it may appear
in a one-line message) and :func:`check_seed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_SEED = 2**32 - 1
"""Seeds are 0 .. 2**32 - 1: what every generator Aquatope seeds accepts (NumPy's legacy ``RandomState`` is
the narrowest; ``numpy.random.default_rng`` and ``torch.manual_seed`` take more)."""


class InputError(ValueError):
    """Input that Aquatope refuses: a malformed file, an unknown name, an impossible value.

    ``source`` is the file (or another origin such as ``"--trace"``), ``line`` a 1-based line number
    where known, and ``field`` the offending field or column, e.g. ``"functions.resize.cpu"``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.source = str(source) if source is not None else None
        self.line = line
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source if self.line is None else f"{self.source}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for one-line messages about values read from files; a
    collection of more than ``limit`` items is shown by its size (its repr is never built)."""
    if isinstance(value, list | tuple | dict | set) and len(value) > limit:
        kind = type(value).__name__
        return f"<{kind} of {len(value):,} items>"
    try:
        text = repr(value)
    except RecursionError:
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_seed(seed: Any, *, field: str = "seed", source: str | Path | None = None) -> int:
    """``seed`` as an int in 0 .. 2**32 - 1, or an :class:`InputError` naming ``field``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"must be an integer in 0..{MAX_SEED}, got {brief(seed)}", source=source, field=field)
    return seed
