"""Azure 2019 execution-time and memory statistics files, aligned to a trace's functions.

Durations (``function_durations_percentiles.anon.dNN.csv`` or ``durations.csv``) are keyed by
``(HashOwner, HashApp, HashFunction)``, in milliseconds, with columns ``Average, Count, Minimum,
Maximum, percentile_Average_<p>``. Memory (``app_memory_percentiles.anon.dNN.csv`` or ``memory.csv``)
is keyed by ``(HashOwner, HashApp)`` — one row per application, copied to every function of the app —
or by all three hashes when the file has a ``HashFunction`` column; columns ``SampleCount,
AverageAllocatedMb, AverageAllocatedMb_pct<p>`` in MB. Rows for functions not in the trace are ignored;
functions without a row get NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aquatope.errors import InputError
from aquatope.traces.csvio import CsvFile, float_column
from aquatope.traces.model import DurationStats, FloatArray, MemoryStats

Key = tuple[str, ...]
"""A function's identity: ``(owner, app, function)`` hashes."""

DURATION_COLUMNS = ("Average", "Minimum", "Maximum", "Count")
DURATION_PREFIX = "percentile_Average_"
MEMORY_COLUMNS = ("AverageAllocatedMb", "SampleCount")
MEMORY_PREFIX = "AverageAllocatedMb_pct"


def _percentile_columns(f: CsvFile, prefix: str) -> list[tuple[float, int]]:
    """``(percent, column index)`` of every ``<prefix><percent>`` column, in file order."""
    found = []
    for col, name in enumerate(f.header):
        if name.startswith(prefix):
            try:
                found.append((float(name.removeprefix(prefix)), col))
            except ValueError:
                raise InputError(
                    "percentile column name must end in a number", source=f.path, line=1, field=name
                ) from None
    return found


def _read_table(
    path: Path, key_names: Sequence[str], value_names: Sequence[str], prefix: str
) -> tuple[dict[Key, int], FloatArray, tuple[float, ...]]:
    """Rows of a statistics file: key -> row, values ``(n_rows, len(value_names) + n_pct)``, percents."""
    with CsvFile(path) as f:
        key_cols = [f.column(name) for name in key_names]
        pcts = _percentile_columns(f, prefix)
        value_cols = [f.column(name) for name in value_names] + [col for _, col in pcts]
        lines: list[int] = []
        rows: list[list[str]] = []
        for line, row in f.rows():
            lines.append(line)
            rows.append(row)
        header = f.header
    index: dict[Key, int] = {}
    for i, (line, row) in enumerate(zip(lines, rows, strict=True)):
        key = tuple(row[c].strip() for c in key_cols)
        if key in index:
            raise InputError(
                f"duplicate row for {'/'.join(key_names)} {'/'.join(key)}", source=path, line=line, field=key_names[-1]
            )
        index[key] = i
    columns = [float_column(path, header, lines, rows, col) for col in value_cols]
    values = np.stack(columns, axis=1) if columns else np.zeros((len(rows), 0))
    return index, values, tuple(p for p, _ in pcts)


def _align(index: dict[Key, int], values: FloatArray, keys: Sequence[Key]) -> FloatArray:
    """``values`` rows reordered to ``keys``; keys without a row get NaN. Shape ``(len(keys), k)``."""
    rows = np.array([index.get(key, -1) for key in keys], dtype=np.int64)
    out = np.full((len(keys), values.shape[1]), np.nan)
    found = rows >= 0
    out[found] = values[rows[found]]
    return out


def read_durations(path: Path, keys: Sequence[Key]) -> DurationStats:
    """Execution-time statistics (ms) for the functions ``keys`` (``(owner, app, function)``)."""
    index, values, pcts = _read_table(path, ("HashOwner", "HashApp", "HashFunction"), DURATION_COLUMNS, DURATION_PREFIX)
    v = _align(index, values, keys)
    return DurationStats(v[:, 0], v[:, 1], v[:, 2], v[:, 3], pcts, v[:, 4:])


def read_memory(path: Path, keys: Sequence[Key]) -> MemoryStats:
    """Allocated-memory statistics (MB) per app, copied to each function ``(owner, app, function)``."""
    with CsvFile(path) as f:
        per_function = f.optional_column("HashFunction") is not None
    key_names = ("HashOwner", "HashApp", "HashFunction") if per_function else ("HashOwner", "HashApp")
    index, values, pcts = _read_table(path, key_names, MEMORY_COLUMNS, MEMORY_PREFIX)
    v = _align(index, values, [key[: len(key_names)] for key in keys])
    return MemoryStats(v[:, 0], v[:, 1], pcts, v[:, 2:])


def _weighted(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted mean over axis 0 ignoring NaN; equal weights where all weights are 0 or unknown.

    ``values`` has shape ``(n_days, n_functions, ...)``, ``weights`` ``(n_days, n_functions)``.
    """
    known = np.isfinite(values)
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    w = w.reshape(w.shape + (1,) * (values.ndim - 2))
    w = np.where(known, w, 0.0)
    w = np.where(w.sum(axis=0, keepdims=True) > 0, w, known.astype(np.float64))
    total = w.sum(axis=0)
    summed = (np.where(known, values, 0.0) * w).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(total > 0, summed / np.where(total > 0, total, 1.0), np.nan))


def _nan_reduce(stacked: FloatArray, how: str) -> FloatArray:
    """NaN-ignoring min/max/sum over axis 0; NaN where every day is NaN."""
    known = np.isfinite(stacked).any(axis=0)
    fill = {"min": np.inf, "max": -np.inf, "sum": 0.0}[how]
    filled = np.where(np.isfinite(stacked), stacked, fill)
    reduced = {"min": filled.min(axis=0), "max": filled.max(axis=0), "sum": filled.sum(axis=0)}[how]
    return np.where(known, reduced, np.nan)


def _same_percentiles(percentiles: Sequence[tuple[float, ...]], sources: Sequence[Path]) -> None:
    """Refuse days whose statistics files have different percentile columns than the first day's."""
    for pcts, source in zip(percentiles, sources, strict=True):
        if pcts != percentiles[0]:
            raise InputError(
                f"percentile columns {pcts} differ from {sources[0].name}'s {percentiles[0]}",
                source=source,
                line=1,
            )


def combine_durations(days: Sequence[DurationStats], sources: Sequence[Path]) -> DurationStats:
    """Several days' statistics as one: count-weighted means of averages and percentiles, overall min,
    max and summed count. (Weighting per-day percentiles is an approximation; exact pooling needs
    the raw samples, which the trace does not publish.)"""
    if len(days) == 1:
        return days[0]
    _same_percentiles([d.percentiles for d in days], sources)
    count = np.stack([d.count for d in days])
    return DurationStats(
        average_ms=_weighted(np.stack([d.average_ms for d in days]), count),
        minimum_ms=_nan_reduce(np.stack([d.minimum_ms for d in days]), "min"),
        maximum_ms=_nan_reduce(np.stack([d.maximum_ms for d in days]), "max"),
        count=_nan_reduce(count, "sum"),
        percentiles=days[0].percentiles,
        percentile_ms=_weighted(np.stack([d.percentile_ms for d in days]), count),
    )


def combine_memory(days: Sequence[MemoryStats], sources: Sequence[Path]) -> MemoryStats:
    """Several days' memory statistics as one: sample-count-weighted means, summed sample counts."""
    if len(days) == 1:
        return days[0]
    _same_percentiles([d.percentiles for d in days], sources)
    count = np.stack([d.sample_count for d in days])
    return MemoryStats(
        average_mb=_weighted(np.stack([d.average_mb for d in days]), count),
        sample_count=_nan_reduce(count, "sum"),
        percentiles=days[0].percentiles,
        percentile_mb=_weighted(np.stack([d.percentile_mb for d in days]), count),
    )


def duration_stats_from_samples(
    samples_ms: FloatArray,
    groups: npt.NDArray[np.int64],
    n_groups: int,
    percentiles: tuple[float, ...] = (0.0, 1.0, 25.0, 50.0, 75.0, 99.0, 100.0),
) -> DurationStats:
    """Per-function statistics from raw execution times.

    ``samples_ms`` (shape ``(n,)``) are execution times of functions ``groups`` (shape ``(n,)``, values in
    ``[0, n_groups)``). Percentiles interpolate linearly between order statistics (numpy's default);
    functions without samples get NaN.
    """
    counts = np.bincount(groups, minlength=n_groups)
    nan = np.full(n_groups, np.nan)
    if len(samples_ms) == 0:
        return DurationStats(
            nan, nan, nan, counts.astype(np.float64), percentiles, np.full((n_groups, len(percentiles)), np.nan)
        )
    order = np.lexsort((samples_ms, groups))
    values = samples_ms[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    last_index = len(values) - 1
    pct = np.full((n_groups, len(percentiles)), np.nan)
    for j, p in enumerate(percentiles):
        pos = starts + (np.maximum(counts, 1) - 1) * (p / 100.0)
        lo = np.minimum(np.floor(pos).astype(np.int64), last_index)
        hi = np.minimum(np.ceil(pos).astype(np.int64), last_index)
        pct[has, j] = (values[lo] + (values[hi] - values[lo]) * (pos - lo))[has]
    total = np.bincount(groups, weights=samples_ms, minlength=n_groups)
    average = np.where(has, total / np.maximum(counts, 1), np.nan)
    minimum = np.where(has, values[np.minimum(starts, last_index)], np.nan)
    maximum = np.where(has, values[np.minimum(starts + counts - 1, last_index)], np.nan)
    return DurationStats(average, minimum, maximum, counts.astype(np.float64), percentiles, pct)
