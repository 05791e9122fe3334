"""Measurement sets: latencies observed at resource configurations, and their CSV loaders.

Two CSV formats, told apart by the header (or named explicitly):

* ``sebs``: a SeBS ``result.csv`` as published (``memory,type,is_cold,exec_time,...,mem_used``): ``memory``
  in MB, ``type`` ``warm``/``cold`` (``is_cold`` must agree), ``exec_time`` in **microseconds** (converted
  to ms), optional ``mem_used`` in MB. Memory-only: cpu is derived as ``memory / mb_per_vcpu`` (AWS Lambda).
* ``generic``: ``memory_mb[,cpu],is_cold,latency_ms[,mem_used_mb]`` with ``latency_ms`` in ms and
  ``is_cold`` one of true/false/1/0/yes/no. Without a ``cpu`` column the data are memory-only as above.

For a cold row the latency is the whole first invocation (initialisation plus execution).
Every malformed value is refused with an :class:`~aquatope.errors.InputError` naming file, line and column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aquatope.errors import InputError, brief
from aquatope.jsonio import read_text
from aquatope.perf.base import MAX_MS
from aquatope.resources import LAMBDA_MB_PER_VCPU, MAX_CPU, MAX_MEMORY_MB

MAX_CSV_BYTES = 16 * 2**20
"""Largest measurement CSV (16 MiB, about 300,000 rows); a SeBS result file of one benchmark is ~1 MiB."""

FORMATS = ("sebs", "generic")
_SEBS_REQUIRED = ("memory", "type", "is_cold", "exec_time")
_GENERIC_REQUIRED = ("memory_mb", "is_cold", "latency_ms")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True, eq=False)
class ConfigSamples:
    """All rows measured at one configuration: sorted warm latencies and sorted cold latencies (ms)."""

    cpu: float
    memory_mb: float
    warm_ms: np.ndarray
    cold_ms: np.ndarray


@dataclass(frozen=True, eq=False)
class Measurements:
    """Rows of a measurement set, as parallel float64/bool arrays of shape ``(n,)``.

    ``memory_mb`` (MB), ``cpu`` (vCPU; derived from memory when ``cpu_measured`` is False), ``is_cold``,
    ``latency_ms`` (ms, > 0), ``mem_used_mb`` (MB, NaN where unknown). ``source`` names the origin (a path)
    and ``format`` the CSV format it was read from.
    """

    memory_mb: np.ndarray
    cpu: np.ndarray
    is_cold: np.ndarray
    latency_ms: np.ndarray
    mem_used_mb: np.ndarray
    cpu_measured: bool = False
    source: str = "<arrays>"
    format: str = "generic"

    def __post_init__(self) -> None:
        n = len(self.latency_ms)
        for name in ("memory_mb", "cpu", "is_cold", "latency_ms", "mem_used_mb"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.shape != (n,):
                raise InputError(f"expected an array of shape ({n},)", source=self.source, field=name)
        if n == 0:
            raise InputError("no measurements", source=self.source)
        for name, largest in (("memory_mb", MAX_MEMORY_MB), ("cpu", MAX_CPU), ("latency_ms", MAX_MS)):
            arr = getattr(self, name)
            if not (np.all(np.isfinite(arr)) and np.all(arr > 0) and np.all(arr <= largest)):
                raise InputError(f"values must be in (0, {largest:g}]", source=self.source, field=name)
        if np.all(self.is_cold):
            raise InputError("no warm measurements", source=self.source, field="is_cold")

    @classmethod
    def from_arrays(
        cls,
        memory_mb: Sequence[float] | np.ndarray,
        is_cold: Sequence[bool] | np.ndarray,
        latency_ms: Sequence[float] | np.ndarray,
        *,
        cpu: Sequence[float] | np.ndarray | None = None,
        mem_used_mb: Sequence[float] | np.ndarray | None = None,
        source: str = "<arrays>",
        format: str = "generic",
        mb_per_vcpu: float = LAMBDA_MB_PER_VCPU,
    ) -> Measurements:
        """Build from sequences; ``cpu=None`` means memory-only (cpu = memory / ``mb_per_vcpu``)."""
        mem = np.asarray(memory_mb, dtype=float)
        used = np.full(mem.shape, np.nan) if mem_used_mb is None else np.asarray(mem_used_mb, dtype=float)
        return cls(
            memory_mb=mem,
            cpu=mem / mb_per_vcpu if cpu is None else np.asarray(cpu, dtype=float),
            is_cold=np.asarray(is_cold, dtype=bool),
            latency_ms=np.asarray(latency_ms, dtype=float),
            mem_used_mb=used,
            cpu_measured=cpu is not None,
            source=source,
            format=format,
        )

    def groups(self) -> list[ConfigSamples]:
        """Rows grouped by configuration, sorted by (cpu, memory); groups without warm rows are dropped."""
        keys = sorted(set(zip(self.cpu.tolist(), self.memory_mb.tolist(), strict=True)))
        out = []
        for cpu, mem in keys:
            at = (self.cpu == cpu) & (self.memory_mb == mem)
            warm = np.sort(self.latency_ms[at & ~self.is_cold])
            if warm.size:
                out.append(ConfigSamples(cpu, mem, warm, np.sort(self.latency_ms[at & self.is_cold])))
        return out

    def max_mem_used_mb(self) -> float | None:
        """Largest observed memory use in MB, or None when the data do not record it."""
        known = self.mem_used_mb[np.isfinite(self.mem_used_mb)]
        return float(known.max()) if known.size else None


@dataclass(frozen=True)
class _Table:
    source: str
    header: list[str]
    rows: list[tuple[int, list[str]]]

    def column(self, name: str, parse: Callable[[str], float | bool]) -> np.ndarray:
        """Parse every row's ``name`` value; errors name the line and column."""
        idx = self.header.index(name)
        values = []
        for line, row in self.rows:
            try:
                values.append(parse(row[idx].strip()))
            except ValueError as exc:
                raise InputError(str(exc), source=self.source, line=line, field=name) from None
        return np.array(values)

    def has(self, name: str) -> bool:
        return name in self.header


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {brief(text)}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a positive number, got {brief(text)}")
    return value


def _optional_non_negative(text: str) -> float:
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number or nothing, got {brief(text)}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"expected a non-negative number, got {brief(text)}")
    return value


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {brief(text)}")


def _sebs_type(text: str) -> bool:
    if text not in ("warm", "cold"):
        raise ValueError(f"expected warm or cold, got {brief(text)}")
    return text == "cold"


def _read_table(path: Path) -> _Table:
    source = str(path)
    text = read_text(path, max_bytes=MAX_CSV_BYTES, what="measurement CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise InputError(f"cannot read CSV: {exc}", source=source, line=reader.line_num) from None
    if not records:
        raise InputError("empty file: expected a header line", source=source, line=1)
    header_line, header = records[0]
    header = [name.strip() for name in header]
    for line, row in records[1:]:
        if len(row) != len(header):
            raise InputError(f"expected {len(header)} fields, got {len(row)}", source=source, line=line)
    if len(records) == 1:
        raise InputError("no data rows after the header", source=source, line=header_line)
    return _Table(source, header, records[1:])


def detect_format(header: Sequence[str]) -> str | None:
    """``"sebs"`` or ``"generic"`` from a CSV header, None when it is neither."""
    if all(col in header for col in _SEBS_REQUIRED):
        return "sebs"
    if all(col in header for col in _GENERIC_REQUIRED):
        return "generic"
    return None


def _require(table: _Table, columns: Sequence[str], fmt: str) -> None:
    for col in columns:
        if not table.has(col):
            raise InputError(f"missing column {brief(col)} for format {fmt}", source=table.source, line=1, field=col)


def load_measurements(
    path: str | Path, *, format: str | None = None, mb_per_vcpu: float = LAMBDA_MB_PER_VCPU
) -> Measurements:
    """Read a measurement CSV (format ``"sebs"`` or ``"generic"``; None detects it from the header)."""
    table = _read_table(Path(path))
    fmt = format if format is not None else detect_format(table.header)
    if fmt is None:
        raise InputError(
            f"cannot tell the format from the header {table.header}: expected SeBS columns "
            f"{list(_SEBS_REQUIRED)} or generic columns {list(_GENERIC_REQUIRED)}",
            source=table.source,
            line=1,
        )
    if fmt not in FORMATS:
        raise InputError(
            f"unknown format {brief(fmt)}; choose one of {list(FORMATS)}", source=table.source, field="format"
        )
    return _from_sebs(table, mb_per_vcpu) if fmt == "sebs" else _from_generic(table, mb_per_vcpu)


def _from_sebs(table: _Table, mb_per_vcpu: float) -> Measurements:
    _require(table, _SEBS_REQUIRED, "sebs")
    cold = table.column("type", _sebs_type).astype(bool)
    flagged = table.column("is_cold", _boolean).astype(bool)
    if np.any(cold != flagged):
        line = table.rows[int(np.argmax(cold != flagged))][0]
        raise InputError("is_cold contradicts type", source=table.source, line=line, field="is_cold")
    used = table.column("mem_used", _optional_non_negative) if table.has("mem_used") else None
    return Measurements.from_arrays(
        table.column("memory", _positive),
        cold,
        table.column("exec_time", _positive) / 1000.0,
        mem_used_mb=used,
        source=table.source,
        format="sebs",
        mb_per_vcpu=mb_per_vcpu,
    )


def _from_generic(table: _Table, mb_per_vcpu: float) -> Measurements:
    _require(table, _GENERIC_REQUIRED, "generic")
    return Measurements.from_arrays(
        table.column("memory_mb", _positive),
        table.column("is_cold", _boolean).astype(bool),
        table.column("latency_ms", _positive),
        cpu=table.column("cpu", _positive) if table.has("cpu") else None,
        mem_used_mb=table.column("mem_used_mb", _optional_non_negative) if table.has("mem_used_mb") else None,
        source=table.source,
        format="generic",
        mb_per_vcpu=mb_per_vcpu,
    )
