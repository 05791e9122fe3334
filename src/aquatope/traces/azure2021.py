"""Azure Functions 2021 per-invocation trace loader (``AzureFunctionsInvocationTraceForTwoWeeksJan2021``).

Each row is one invocation: ``app,func,end_timestamp,duration`` with ``end_timestamp`` in seconds from the
start of the trace and ``duration`` its execution time in seconds. An invocation *arrives* at
``end_timestamp - duration`` and is counted in minute ``floor(arrival / 60)``; the (rare) arrivals before
the trace start are counted in minute 0, so every row is counted once. The trace spans minutes
``0 .. floor(latest arrival / 60)``. Execution-time statistics (ms) are computed from the rows.

The function id is ``func``; if one ``func`` hash appears under two apps, every id becomes ``app/func``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aquatope.errors import InputError
from aquatope.traces.csvio import CsvFile, float_column
from aquatope.traces.model import FloatArray, IntArray, InvocationTrace
from aquatope.traces.stats import duration_stats_from_samples

COLUMNS = ("app", "func", "end_timestamp", "duration")


def is_azure2021(path: Path) -> bool:
    """Whether ``path`` is a file whose header names the Azure 2021 columns."""
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    names = {name.strip() for name in header.split(",")}
    return {"end_timestamp", "duration", "func"} <= names


def _check(f: CsvFile, lines: list[int], values: FloatArray, col: int, *, non_negative: bool) -> None:
    """Refuse non-finite (or negative) values, naming the line and column."""
    bad = ~np.isfinite(values)
    if non_negative:
        bad |= values < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "a finite number >= 0" if non_negative else "a finite number"
        raise InputError(f"expected {what}, got {values[i]}", source=f.path, line=lines[i], field=f.header[col])


def _read_rows(path: Path) -> tuple[list[tuple[str, str]], IntArray, FloatArray, FloatArray]:
    """Functions ``(app, func)`` in first-appearance order, and per row: function index, end, duration."""
    index: dict[tuple[str, str], int] = {}
    groups: list[IntArray] = []
    ends: list[FloatArray] = []
    durations: list[FloatArray] = []
    with CsvFile(path) as f:
        app, func, end, dur = (f.column(name) for name in COLUMNS)
        for lines, rows in f.chunks():
            ids = []
            for line, row in zip(lines, rows, strict=True):
                key = (row[app].strip(), row[func].strip())
                if not key[1]:
                    raise InputError("empty function id", source=path, line=line, field="func")
                ids.append(index.setdefault(key, len(index)))
            groups.append(np.array(ids, dtype=np.int64))
            ends.append(float_column(path, f.header, lines, rows, end))
            _check(f, lines, ends[-1], end, non_negative=False)
            durations.append(float_column(path, f.header, lines, rows, dur))
            _check(f, lines, durations[-1], dur, non_negative=True)
    return list(index), np.concatenate(groups), np.concatenate(ends), np.concatenate(durations)


def load_azure2021(path: str | Path) -> InvocationTrace:
    """Load an Azure 2021 per-invocation file and bin arrivals into per-minute counts; see module doc."""
    path = Path(path)
    keys, groups, end_s, duration_s = _read_rows(path)
    minute = np.floor(np.maximum(end_s - duration_s, 0.0) / 60.0).astype(np.int64)
    n_functions, n_minutes = len(keys), int(minute.max()) + 1
    counts = np.bincount(groups * n_minutes + minute, minlength=n_functions * n_minutes)
    funcs = [func for _, func in keys]
    ids = funcs if len(set(funcs)) == len(funcs) else [f"{app}/{func}" for app, func in keys]
    return InvocationTrace(
        function_ids=tuple(ids),
        counts=counts.reshape(n_functions, n_minutes),
        app_ids=tuple(app for app, _ in keys),
        durations=duration_stats_from_samples(duration_s * 1000.0, groups, n_functions),
        source=str(path),
    )
