"""Azure Functions 2021 per-invocation trace loader (``AzureFunctionsInvocationTraceForTwoWeeksJan2021``).

Each row is one invocation: ``app,func,end_timestamp,duration`` with ``end_timestamp`` in seconds from the
start of the trace and ``duration`` its execution time in seconds. An invocation *arrives* at
``end_timestamp - duration`` and is counted in minute ``floor(arrival / 60)``; the (rare) arrivals before
the trace start are counted in minute 0, so every row is counted once. The trace spans minutes
``0 .. floor(latest arrival / 60)``. Execution-time statistics (ms) are computed from the rows.

The function id is ``func``; if one ``func`` hash appears under two apps, every id becomes ``app/func``
(and if two of those still collide, e.g. ``a/b`` + ``c`` and ``a`` + ``b/c``, the file is refused). The
span is bounded (:func:`~aquatope.traces.model.check_trace_size`): a row whose arrival lies beyond a year
is refused naming its line, before any counts are allocated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aquatope.errors import InputError
from aquatope.traces.csvio import CsvFile, float_column
from aquatope.traces.model import MAX_MINUTES, FloatArray, IntArray, InvocationTrace, check_trace_size
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


def _read_rows(path: Path) -> tuple[dict[tuple[str, str], int], IntArray, FloatArray, FloatArray, IntArray]:
    """Functions ``(app, func)`` -> line of first appearance (in that order), and per row: function index, end,
    duration and line number."""
    first_line: dict[tuple[str, str], int] = {}
    index: dict[tuple[str, str], int] = {}
    groups: list[IntArray] = []
    ends: list[FloatArray] = []
    durations: list[FloatArray] = []
    line_numbers: list[IntArray] = []
    with CsvFile(path) as f:
        app, func, end, dur = (f.column(name) for name in COLUMNS)
        for lines, rows in f.chunks():
            ids = []
            for line, row in zip(lines, rows, strict=True):
                key = (row[app].strip(), row[func].strip())
                if not key[1]:
                    raise InputError("empty function id", source=path, line=line, field="func")
                if key not in index:
                    index[key], first_line[key] = len(index), line
                ids.append(index[key])
            groups.append(np.array(ids, dtype=np.int64))
            line_numbers.append(np.array(lines, dtype=np.int64))
            ends.append(float_column(path, f.header, lines, rows, end))
            _check(f, lines, ends[-1], end, non_negative=False)
            durations.append(float_column(path, f.header, lines, rows, dur))
            _check(f, lines, durations[-1], dur, non_negative=True)
    cat = np.concatenate
    return first_line, cat(groups), cat(ends), cat(durations), cat(line_numbers)


def _function_ids(first_line: dict[tuple[str, str], int], path: Path) -> list[str]:
    """``func``, or ``app/func`` for all when a ``func`` repeats; refuses ids that still collide."""
    keys = list(first_line)
    funcs = [func for _, func in keys]
    if len(set(funcs)) == len(funcs):
        return funcs
    ids: dict[str, tuple[str, str]] = {}
    for app, func in keys:
        name = f"{app}/{func}"
        if name in ids:
            other = ids[name]
            raise InputError(
                f"function id {name!r} is ambiguous: app {app!r} + func {func!r} and app {other[0]!r} + func "
                f"{other[1]!r} (first on line {first_line[other]})",
                source=path,
                line=first_line[(app, func)],
                field="func",
            )
        ids[name] = (app, func)
    return list(ids)


def _minutes(end_s: FloatArray, duration_s: FloatArray, line_numbers: IntArray, path: Path) -> IntArray:
    """Arrival minute of every row (arrivals before the start count in minute 0); refuses a span over a year."""
    arrival_s = np.maximum(end_s - duration_s, 0.0)
    late = arrival_s >= MAX_MINUTES * 60.0
    if late.any():
        i = int(np.flatnonzero(late)[0])
        raise InputError(
            f"arrival at {arrival_s[i]:.6g} s is beyond the limit of a year ({MAX_MINUTES:,} minutes); "
            "end_timestamp must be seconds from the start of the trace",
            source=path,
            line=int(line_numbers[i]),
            field="end_timestamp",
        )
    return np.floor(arrival_s / 60.0).astype(np.int64)


def load_azure2021(path: str | Path) -> InvocationTrace:
    """Load an Azure 2021 per-invocation file and bin arrivals into per-minute counts; see module doc."""
    path = Path(path)
    first_line, groups, end_s, duration_s, line_numbers = _read_rows(path)
    ids = _function_ids(first_line, path)
    minute = _minutes(end_s, duration_s, line_numbers, path)
    n_functions, n_minutes = len(ids), int(minute.max()) + 1
    check_trace_size(n_functions, n_minutes, source=str(path))
    counts = np.bincount(groups * n_minutes + minute, minlength=n_functions * n_minutes)
    return InvocationTrace(
        function_ids=tuple(ids),
        counts=counts.reshape(n_functions, n_minutes),
        app_ids=tuple(app for app, _ in first_line),
        durations=duration_stats_from_samples(duration_s * 1000.0, groups, n_functions),
        source=str(path),
    )
