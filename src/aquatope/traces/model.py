"""The invocation trace: per-minute invocation counts of many functions, plus what is known about them.

An :class:`InvocationTrace` holds ``counts``, a read-only ``int64`` array of shape
``(n_functions, n_minutes)`` where ``counts[i, m]`` is the number of invocations of function ``i``
that arrived in minute ``m`` (minute 0 covers seconds ``[0, 60)`` from the start of the trace).
Optional per-function metadata (app, owner, trigger) and per-function execution-time and memory
statistics travel with it and are kept aligned by :meth:`InvocationTrace.select`.

Sizes are bounded before anything is allocated (:func:`check_trace_size`): a trace spans at most
:data:`MAX_MINUTES` minutes and holds at most :data:`MAX_CELLS` counts, so a file with a huge timestamp or a
spec asking for a billion functions is refused with a message instead of exhausting memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from aquatope.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_MINUTES = 366 * 1440
"""Longest trace, in minutes: a (leap) year. The public Azure traces span 14 days; a longer span in a file
means its timestamps are not seconds from the trace start."""
MAX_CELLS = 2**28
"""Most counts one trace holds (functions x minutes): 2 GiB of int64, e.g. one day of the full Azure 2019
trace (~46,000 functions x 1,440 minutes) 3.5 times over. Load fewer days or functions to go beyond."""
MAX_SCALED_COUNT = 2**53
"""Largest count after :meth:`InvocationTrace.scale`: integers above it are not exact in float64."""


def check_trace_size(n_functions: int, n_minutes: int, *, source: str | None = None, field: str | None = None) -> None:
    """Refuse a trace of more than :data:`MAX_MINUTES` minutes or :data:`MAX_CELLS` counts (before allocating)."""
    if n_minutes > MAX_MINUTES:
        raise InputError(
            f"the trace would span {n_minutes:,} minutes, more than the limit of {MAX_MINUTES:,} (a year)",
            source=source,
            field=field,
        )
    if n_functions * n_minutes > MAX_CELLS:
        gib = n_functions * n_minutes * 8 / 2**30
        raise InputError(
            f"{n_functions:,} functions x {n_minutes:,} minutes would take {gib:,.1f} GiB of counts, more than the "
            f"limit of {MAX_CELLS * 8 / 2**30:g} GiB; use fewer days or functions",
            source=source,
            field=field,
        )


def _frozen_float(values: npt.ArrayLike, shape: tuple[int, ...], name: str) -> FloatArray:
    """Return ``values`` as a read-only float64 array of the given shape, or raise ValueError."""
    array = np.array(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class DurationStats:
    """Per-function execution-time statistics in milliseconds; NaN where unknown.

    ``average_ms``, ``minimum_ms``, ``maximum_ms`` and ``count`` (invocations measured) have shape
    ``(n_functions,)``; ``percentile_ms`` has shape ``(n_functions, len(percentiles))`` with
    ``percentiles`` in percent (e.g. ``(0, 1, 25, 50, 75, 99, 100)``). In the Azure 2019 trace the
    percentiles are those of per-interval averages (``percentile_Average_p``) and exclude cold starts.
    """

    average_ms: FloatArray
    minimum_ms: FloatArray
    maximum_ms: FloatArray
    count: FloatArray
    percentiles: tuple[float, ...]
    percentile_ms: FloatArray

    def __post_init__(self) -> None:
        n = np.shape(self.average_ms)[0] if np.ndim(self.average_ms) == 1 else -1
        for name in ("average_ms", "minimum_ms", "maximum_ms", "count"):
            object.__setattr__(self, name, _frozen_float(getattr(self, name), (n,), name))
        shape = (n, len(self.percentiles))
        object.__setattr__(self, "percentile_ms", _frozen_float(self.percentile_ms, shape, "percentile_ms"))

    @property
    def n_functions(self) -> int:
        """Number of functions described."""
        return int(self.average_ms.shape[0])

    def percentile(self, p: float) -> FloatArray:
        """The ``p``-th percentile (in percent, one of ``percentiles``) per function, shape ``(n,)``."""
        if p not in self.percentiles:
            raise KeyError(f"percentile {p} not available; have {self.percentiles}")
        return self.percentile_ms[:, self.percentiles.index(p)]

    def select(self, indices: IntArray) -> DurationStats:
        """Statistics of the functions at ``indices`` (shape ``(k,)``), in that order."""
        return DurationStats(
            self.average_ms[indices],
            self.minimum_ms[indices],
            self.maximum_ms[indices],
            self.count[indices],
            self.percentiles,
            self.percentile_ms[indices],
        )


@dataclass(frozen=True, eq=False)
class MemoryStats:
    """Per-function allocated memory in MB; NaN where unknown.

    ``average_mb`` and ``sample_count`` have shape ``(n_functions,)``; ``percentile_mb`` has shape
    ``(n_functions, len(percentiles))``. Azure 2019 reports memory per *application*: every function
    of an app carries the app's figures.
    """

    average_mb: FloatArray
    sample_count: FloatArray
    percentiles: tuple[float, ...]
    percentile_mb: FloatArray

    def __post_init__(self) -> None:
        n = np.shape(self.average_mb)[0] if np.ndim(self.average_mb) == 1 else -1
        for name in ("average_mb", "sample_count"):
            object.__setattr__(self, name, _frozen_float(getattr(self, name), (n,), name))
        shape = (n, len(self.percentiles))
        object.__setattr__(self, "percentile_mb", _frozen_float(self.percentile_mb, shape, "percentile_mb"))

    @property
    def n_functions(self) -> int:
        """Number of functions described."""
        return int(self.average_mb.shape[0])

    def select(self, indices: IntArray) -> MemoryStats:
        """Statistics of the functions at ``indices`` (shape ``(k,)``), in that order."""
        return MemoryStats(
            self.average_mb[indices],
            self.sample_count[indices],
            self.percentiles,
            self.percentile_mb[indices],
        )


def _optional_ids(values: Sequence[str] | None, n: int, name: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    ids = tuple(str(v) for v in values)
    if len(ids) != n:
        raise ValueError(f"{name} has {len(ids)} entries, expected {n}")
    return ids


@dataclass(frozen=True, eq=False)
class InvocationTrace:
    """Per-minute invocation counts of ``n_functions`` functions over ``n_minutes`` minutes.

    Attributes:
        function_ids: unique function identifiers, one per row of ``counts``.
        counts: read-only ``int64`` array, shape ``(n_functions, n_minutes)``, all ``>= 0``.
        app_ids, owner_ids, triggers: per-function metadata where the source has it, else ``None``.
        durations, memory: per-function statistics where the source has them, else ``None``.
        source: where the trace came from (a path or a ``synthetic:...`` spec), for messages.
    """

    function_ids: tuple[str, ...]
    counts: IntArray
    app_ids: tuple[str, ...] | None = None
    owner_ids: tuple[str, ...] | None = None
    triggers: tuple[str, ...] | None = None
    durations: DurationStats | None = None
    memory: MemoryStats | None = None
    source: str = ""
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.array(self.counts, dtype=np.int64)
        if counts.ndim != 2:
            raise ValueError(f"counts must be 2-D (n_functions, n_minutes), got shape {counts.shape}")
        if counts.size and counts.min() < 0:
            raise ValueError("counts must be >= 0")
        counts.setflags(write=False)
        n = counts.shape[0]
        ids = tuple(str(f) for f in self.function_ids)
        if len(ids) != n:
            raise ValueError(f"{len(ids)} function ids for {n} rows of counts")
        index = {fid: i for i, fid in enumerate(ids)}
        if len(index) != n:
            raise ValueError("function ids must be unique")
        for stats, name in ((self.durations, "durations"), (self.memory, "memory")):
            if stats is not None and stats.n_functions != n:
                raise ValueError(f"{name} describe {stats.n_functions} functions, expected {n}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "function_ids", ids)
        object.__setattr__(self, "app_ids", _optional_ids(self.app_ids, n, "app_ids"))
        object.__setattr__(self, "owner_ids", _optional_ids(self.owner_ids, n, "owner_ids"))
        object.__setattr__(self, "triggers", _optional_ids(self.triggers, n, "triggers"))
        object.__setattr__(self, "_index", index)

    @property
    def n_functions(self) -> int:
        """Number of functions (rows of ``counts``)."""
        return int(self.counts.shape[0])

    @property
    def n_minutes(self) -> int:
        """Number of minutes (columns of ``counts``)."""
        return int(self.counts.shape[1])

    @property
    def total_invocations(self) -> int:
        """Sum of all counts."""
        return int(self.counts.sum())

    def index_of(self, function_id: str) -> int:
        """Row of ``function_id``; raises :class:`InputError` naming the id if it is unknown."""
        try:
            return self._index[function_id]
        except KeyError:
            raise InputError(f"unknown function id {function_id!r}", source=self.source or None) from None

    def select(self, functions: Iterable[int] | Iterable[str]) -> InvocationTrace:
        """A trace with only the given functions, in the given order: row indices or function ids."""
        items = list(functions)
        if items and all(isinstance(f, str) for f in items):
            indices = np.array([self.index_of(str(f)) for f in items], dtype=np.int64)
        else:
            indices = np.array(items, dtype=np.int64).reshape(-1)
            if indices.size and (indices.min() < -self.n_functions or indices.max() >= self.n_functions):
                raise IndexError(f"function index out of range for {self.n_functions} functions")
        if len(set(indices.tolist())) != len(indices):
            raise ValueError("select() got the same function twice")

        def pick(values: tuple[str, ...] | None) -> tuple[str, ...] | None:
            return None if values is None else tuple(values[i] for i in indices)

        return replace(
            self,
            function_ids=tuple(self.function_ids[i] for i in indices),
            counts=self.counts[indices],
            app_ids=pick(self.app_ids),
            owner_ids=pick(self.owner_ids),
            triggers=pick(self.triggers),
            durations=None if self.durations is None else self.durations.select(indices),
            memory=None if self.memory is None else self.memory.select(indices),
        )

    def slice_minutes(self, start: int, stop: int | None = None) -> InvocationTrace:
        """The minutes ``[start, stop)`` of every function (Python slice semantics, step 1).

        Duration and memory statistics are whole-trace figures and are kept unchanged.
        """
        return replace(self, counts=self.counts[:, slice(start, stop)])

    def scale(self, x: float, *, seed: int = 0) -> InvocationTrace:
        """Counts multiplied by ``x >= 0`` with stochastic rounding, so expected totals scale exactly.

        Each ``c * x`` becomes ``floor(c * x)`` plus one with probability equal to its fractional part,
        drawn from ``numpy.random.default_rng(seed)``. ``x = 1`` returns the counts unchanged.
        """
        if not np.isfinite(x) or x < 0:
            raise InputError(f"scale factor must be a finite number >= 0, got {x}", field="scale")
        largest = float(self.counts.max(initial=0)) * x
        if largest > MAX_SCALED_COUNT:
            raise InputError(
                f"scale factor {x:g} makes a minute's count {largest:.3g}, more than {MAX_SCALED_COUNT:.3g}",
                source=self.source or None,
                field="scale",
            )
        scaled = self.counts.astype(np.float64) * x
        base = np.floor(scaled)
        rng = np.random.default_rng(seed)
        extra = rng.random(scaled.shape) < (scaled - base)
        return replace(self, counts=base.astype(np.int64) + extra)

    def per_minute_rate(self) -> FloatArray:
        """Mean invocations per minute of each function, shape ``(n_functions,)`` (0 if no minutes)."""
        if self.n_minutes == 0:
            return np.zeros(self.n_functions)
        return np.asarray(self.counts.mean(axis=1), dtype=np.float64)
