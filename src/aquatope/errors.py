"""Errors for bad user input: each names where the problem is (file, line, field).

The CLI turns an :class:`InputError` into a one-line message and exit code 2, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


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
