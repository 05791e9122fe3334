"""``clairvoyant-interval`` (alias ``oracle``, its former name): a reference that is told each function's true peak
concurrency in the next interval and keeps exactly that many containers warm from the tick on (started ahead of the
interval by the control loop's lead), with no keep-alive.

It bounds how few cold starts per-interval pool control can achieve. It is NOT a cost bound: it holds the interval's
peak for the whole interval because a :class:`~aquatope.platform.PoolTarget` is set once per interval (most of its
cost is idle). The least any policy could pay, a clairvoyant just-in-time pool, needs per-invocation clairvoyance
and lives in the simulator. :func:`peak_concurrency` computes the figure from arrival times the way the harness
hands it over. Like every ``clairvoyant-*`` reference it may read the truth (``future_peak``); policies may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import DEFAULT_INTERVAL_S, PolicyContext, PoolDecision


def peak_concurrency_windows(arrivals_s: np.ndarray, edges_s: np.ndarray, duration_s: float) -> np.ndarray:
    """Most invocations in progress at once in each window ``[edges_s[k], edges_s[k + 1])`` if each runs
    ``duration_s``; shape ``(len(edges_s) - 1,)``, int64.

    ``arrivals_s`` must be sorted and include earlier arrivals that may still be running. Concurrency only rises at
    an arrival, so a window's peak is the number running at its start or, at an arrival ``a`` inside it, the
    number of arrivals in ``(a - duration_s, a]``, whichever is larger.
    """
    a = np.asarray(arrivals_s, dtype=float)
    edges = np.asarray(edges_s, dtype=float)
    n_win = edges.size - 1
    starts = edges[:-1]
    peak = np.searchsorted(a, starts, side="left") - np.searchsorted(a, starts - duration_s, side="right")
    peak = np.maximum(peak, 0).astype(np.int64)
    conc = np.arange(1, a.size + 1) - np.searchsorted(a, a - duration_s, side="right")
    window = np.searchsorted(edges, a, side="right") - 1
    inside = (window >= 0) & (window < n_win)
    np.maximum.at(peak, window[inside], conc[inside].astype(np.int64))
    return peak


def peak_concurrency(arrivals_s: np.ndarray, start_s: float, stop_s: float, duration_s: float) -> int:
    """:func:`peak_concurrency_windows` for the single window ``[start_s, stop_s)``."""
    return int(peak_concurrency_windows(arrivals_s, np.array([start_s, stop_s]), duration_s)[0])


@dataclass(frozen=True)
class ClairvoyantIntervalPolicy:
    """``PoolTarget(min_warm=future_peak[i], keep_alive_s=0)`` per function; refuses a context without the future."""

    name: str = "clairvoyant-interval"
    needs_forecast: bool = False
    needs_future: bool = True

    @property
    def interval_s(self) -> float:
        """Per-minute ticks: the peak it is handed is the interval's."""
        return DEFAULT_INTERVAL_S

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        peak = context.future_peak
        if peak is None or np.shape(peak) != (context.n_functions,):
            raise InputError(f"{self.name} needs future_peak with one value per function", field="future_peak")
        targets = {f: PoolTarget(max(0, int(p)), 0.0) for f, p in zip(context.functions, peak, strict=True)}
        return PoolDecision(targets), None
