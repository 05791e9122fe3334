"""Azure Functions 2019 trace loader (Shahrad et al., "Serverless in the Wild", USENIX ATC '20).

Two layouts of the per-minute invocation file are accepted, told apart by their header:

* official: ``HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440``
* vHive invitro: ``HashFunction,HashApp,HashOwner,minute_1,...,minute_1440`` (no ``Trigger``)

``HashOwner``, ``HashApp`` and ``HashFunction`` are required, ``Trigger`` is optional, and every other
column must be a minute column, numbered from 1 in order. A path may be an invocations file or a
directory. A directory holds either the official multi-day files
``invocations_per_function_md.anon.dNN.csv`` (with optional ``function_durations_percentiles.anon.dNN.csv``
and ``app_memory_percentiles.anon.dNN.csv``) or ``invocations.csv`` (with optional ``durations.csv`` and
``memory.csv``). Days must be consecutive; they are concatenated along minutes, functions are matched by
``(owner, app, function)`` in order of first appearance, and a function missing from a day has zero counts
that day. The function id is ``HashFunction``, which must be unique.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aquatope.errors import InputError
from aquatope.traces.csvio import CsvFile, int_block
from aquatope.traces.model import DurationStats, IntArray, InvocationTrace, MemoryStats, check_trace_size
from aquatope.traces.stats import Key, combine_durations, combine_memory, read_durations, read_memory

DAY_FILE = re.compile(r"^invocations_per_function_md\.anon\.d(\d+)\.csv$")
DURATIONS_DAY = "function_durations_percentiles.anon.d{day}.csv"
MEMORY_DAY = "app_memory_percentiles.anon.d{day}.csv"
SIMPLE = ("invocations.csv", "durations.csv", "memory.csv")
ID_COLUMNS = ("HashOwner", "HashApp", "HashFunction")
_MINUTE = re.compile(r"^(?:minute_)?(\d+)$")


@dataclass(frozen=True)
class DayFiles:
    """The files of one day of the trace; statistics files are ``None`` when absent."""

    invocations: Path
    durations: Path | None
    memory: Path | None


@dataclass(frozen=True)
class DayCounts:
    """One invocations file: keys ``(owner, app, function)``, triggers and counts ``(n, n_minutes)``."""

    keys: tuple[Key, ...]
    triggers: tuple[str, ...] | None
    counts: IntArray


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def day_files(path: Path) -> list[DayFiles]:
    """The day files a trace path stands for, in day order; refuses paths that hold no trace."""
    if path.is_file():
        match = DAY_FILE.match(path.name)
        if match:
            day = match.group(1)
            names = (DURATIONS_DAY.format(day=day), MEMORY_DAY.format(day=day))
        else:
            names = SIMPLE[1:] if path.name == SIMPLE[0] else ("", "")
        parent = path.parent
        return [DayFiles(path, *(_existing(parent / n) if n else None for n in names))]
    if not path.is_dir():
        raise InputError("no such file or directory", source=path)
    days = sorted((int(m.group(1)), m.group(1)) for f in path.iterdir() if (m := DAY_FILE.match(f.name)))
    if days:
        numbers = [n for n, _ in days]
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
            raise InputError(f"multi-day trace is missing day(s) {missing}; days must be consecutive", source=path)
        return [
            DayFiles(
                path / f"invocations_per_function_md.anon.d{tag}.csv",
                _existing(path / DURATIONS_DAY.format(day=tag)),
                _existing(path / MEMORY_DAY.format(day=tag)),
            )
            for _, tag in days
        ]
    if (path / SIMPLE[0]).is_file():
        return day_files(path / SIMPLE[0])
    raise InputError("directory has no invocations.csv nor invocations_per_function_md.anon.dNN.csv", source=path)


def _minute_start(f: CsvFile) -> int:
    """Index of the first minute column, checking that columns after the ids are minutes 1..N."""
    named = {f.column(name) for name in ID_COLUMNS}
    trigger = f.optional_column("Trigger")
    if trigger is not None:
        named.add(trigger)
    start = max(named) + 1
    if named != set(range(start)):
        extra = next(f.header[i] for i in range(start) if i not in named)
        raise InputError("unexpected column before the minute columns", source=f.path, line=1, field=extra)
    if start == len(f.header):
        raise InputError("no minute columns (expected 1..N or minute_1..minute_N)", source=f.path, line=1)
    check_trace_size(1, len(f.header) - start, source=str(f.path))
    for expected, name in enumerate(f.header[start:], start=1):
        match = _MINUTE.match(name)
        if not match or int(match.group(1)) != expected:
            raise InputError(
                f"expected minute column {expected} (named '{expected}' or 'minute_{expected}')",
                source=f.path,
                line=1,
                field=name,
            )
    return start


def read_invocations(path: Path) -> DayCounts:
    """Read one Azure 2019 invocations file (either layout) with strict checks."""
    with CsvFile(path) as f:
        start = _minute_start(f)
        owner, app, func = (f.column(name) for name in ID_COLUMNS)
        trigger = f.optional_column("Trigger")
        keys: list[Key] = []
        triggers: list[str] = []
        blocks: list[IntArray] = []
        seen: dict[str, int] = {}
        for lines, rows in f.chunks():
            for line, row in zip(lines, rows, strict=True):
                function_id = row[func].strip()
                if not function_id:
                    raise InputError("empty function id", source=path, line=line, field=f.header[func])
                if function_id in seen:
                    raise InputError(
                        f"duplicate function id {function_id} (first on line {seen[function_id]})",
                        source=path,
                        line=line,
                        field=f.header[func],
                    )
                seen[function_id] = line
                keys.append((row[owner].strip(), row[app].strip(), function_id))
                if trigger is not None:
                    triggers.append(row[trigger].strip())
            blocks.append(int_block(path, f.header, lines, rows, start))
            check_trace_size(len(keys), len(f.header) - start, source=str(path))
    counts = np.concatenate(blocks, axis=0)
    return DayCounts(tuple(keys), tuple(triggers) if trigger is not None else None, counts)


def _merge(days: Sequence[DayCounts], sources: Sequence[Path]) -> DayCounts:
    """Concatenate days along minutes over the union of functions (first-appearance order)."""
    if len(days) == 1:
        return days[0]
    order: dict[Key, int] = {}
    triggers: dict[Key, str] = {}
    for day in days:
        for i, key in enumerate(day.keys):
            order.setdefault(key, len(order))
            if day.triggers is not None:
                triggers.setdefault(key, day.triggers[i])
    by_id: dict[str, Key] = {}
    for key in order:
        if by_id.setdefault(key[2], key) != key:
            raise InputError(
                f"function id {key[2]} appears under two apps/owners across days",
                source=sources[0].parent,
                field="HashFunction",
            )
    total = sum(day.counts.shape[1] for day in days)
    check_trace_size(len(order), total, source=str(sources[0].parent))
    counts = np.zeros((len(order), total), dtype=np.int64)
    offset = 0
    for day in days:
        rows = np.array([order[key] for key in day.keys], dtype=np.int64)
        counts[rows, offset : offset + day.counts.shape[1]] = day.counts
        offset += day.counts.shape[1]
    keys = tuple(order)
    kept = tuple(triggers.get(key, "") for key in keys) if triggers else None
    return DayCounts(keys, kept, counts)


def _stats(files: Sequence[DayFiles], keys: Sequence[Key]) -> tuple[DurationStats | None, MemoryStats | None]:
    """Durations and memory statistics over all days that have them, aligned to ``keys``."""
    dur_paths = [f.durations for f in files if f.durations is not None]
    mem_paths = [f.memory for f in files if f.memory is not None]
    durations = combine_durations([read_durations(p, keys) for p in dur_paths], dur_paths) if dur_paths else None
    memory = combine_memory([read_memory(p, keys) for p in mem_paths], mem_paths) if mem_paths else None
    return durations, memory


BUNDLED = Path(__file__).resolve().parent.parent / "data"
"""Where the traces shipped with the package live."""


def trace_name(path: Path) -> str:
    """How results name a trace: a bundled one as ``aquatope/data/<name>`` (the same in every install and
    checkout, where its absolute path names one machine's copy), any other as given."""
    try:
        return "aquatope/data/" + path.resolve().relative_to(BUNDLED).as_posix()
    except ValueError:
        return str(path)


def load_azure2019(path: str | Path) -> InvocationTrace:
    """Load an Azure 2019 trace from an invocations file or a (multi-day) directory; see module doc."""
    path = Path(path)
    files = day_files(path)
    merged = _merge([read_invocations(f.invocations) for f in files], [f.invocations for f in files])
    durations, memory = _stats(files, merged.keys)
    return InvocationTrace(
        function_ids=tuple(key[2] for key in merged.keys),
        counts=merged.counts,
        app_ids=tuple(key[1] for key in merged.keys),
        owner_ids=tuple(key[0] for key in merged.keys),
        triggers=merged.triggers,
        durations=durations,
        memory=memory,
        source=trace_name(path),
    )
