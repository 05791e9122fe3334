"""A trace at a glance: size, per-function rate percentiles, class counts and the busiest functions.

Pure data (:class:`TraceSummary`, JSON-ready through :meth:`TraceSummary.to_dict`); the CLI renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aquatope.traces.classify import ClassRule, class_counts, classify
from aquatope.traces.model import IntArray, InvocationTrace

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
RATE_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}


@dataclass(frozen=True)
class FunctionSummary:
    """One function: total invocations, mean rate (invocations/minute), class and hourly counts."""

    function_id: str
    invocations: int
    rate_per_minute: float
    traffic_class: str
    hourly: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "function_id": self.function_id,
            "invocations": self.invocations,
            "rate_per_minute": self.rate_per_minute,
            "class": self.traffic_class,
            "hourly": list(self.hourly),
        }


@dataclass(frozen=True)
class TraceSummary:
    """Summary of an :class:`InvocationTrace`.

    ``rate_percentiles`` are percentiles over functions of each function's mean invocations per minute
    (keys ``p50, p90, p99, max``); ``classes`` maps every class to its number of functions; ``top``
    holds the busiest functions, busiest first.
    """

    source: str
    functions: int
    minutes: int
    invocations: int
    active_functions: int
    rate_percentiles: Mapping[str, float]
    classes: Mapping[str, int]
    top: tuple[FunctionSummary, ...]
    has_durations: bool
    has_memory: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``aquatope trace info --json`` prints)."""
        return {
            "source": self.source,
            "functions": self.functions,
            "minutes": self.minutes,
            "invocations": self.invocations,
            "active_functions": self.active_functions,
            "rate_per_minute": dict(self.rate_percentiles),
            "classes": dict(self.classes),
            "durations": self.has_durations,
            "memory": self.has_memory,
            "top": [f.to_dict() for f in self.top],
        }


def hourly_counts(counts_row: npt.ArrayLike, minutes_per_bin: int = 60) -> IntArray:
    """Counts summed over bins of ``minutes_per_bin`` minutes (the last bin may be partial)."""
    row = np.asarray(counts_row, dtype=np.int64)
    n_bins = -(-row.size // minutes_per_bin)
    padded = np.zeros(n_bins * minutes_per_bin, dtype=np.int64)
    padded[: row.size] = row
    return padded.reshape(n_bins, minutes_per_bin).sum(axis=1)


def sparkline(values: npt.ArrayLike) -> str:
    """One character per value: a space for 0, else ``▁..█`` in proportion to the largest value."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return ""
    peak = v.max()
    if peak <= 0:
        return " " * v.size
    levels = np.minimum((v / peak * len(SPARK_BLOCKS)).astype(np.int64), len(SPARK_BLOCKS) - 1)
    return "".join(" " if x <= 0 else SPARK_BLOCKS[level] for x, level in zip(v, levels, strict=True))


def summarize(trace: InvocationTrace, *, top: int = 10, rule: ClassRule | None = None) -> TraceSummary:
    """Summarize ``trace``; ``top`` is how many of the busiest functions to describe (ties: file order)."""
    if top < 0:
        raise ValueError("top must be >= 0")
    classes = classify(trace, rule)
    totals = trace.counts.sum(axis=1)
    rates = trace.per_minute_rate()
    if trace.n_functions:
        pct = np.percentile(rates, list(RATE_PERCENTILES.values()))
        rate_percentiles = {k: float(p) for k, p in zip(RATE_PERCENTILES, pct, strict=True)}
    else:
        rate_percentiles = dict.fromkeys(RATE_PERCENTILES, 0.0)
    busiest = np.argsort(-totals, kind="stable")[:top]
    return TraceSummary(
        source=trace.source,
        functions=trace.n_functions,
        minutes=trace.n_minutes,
        invocations=trace.total_invocations,
        active_functions=int(np.count_nonzero(totals)),
        rate_percentiles=rate_percentiles,
        classes=class_counts(classes),
        top=tuple(
            FunctionSummary(
                function_id=trace.function_ids[i],
                invocations=int(totals[i]),
                rate_per_minute=float(rates[i]),
                traffic_class=classes[i].value,
                hourly=tuple(int(x) for x in hourly_counts(trace.counts[i])),
            )
            for i in busiest
        ),
        has_durations=trace.durations is not None,
        has_memory=trace.memory is not None,
    )
