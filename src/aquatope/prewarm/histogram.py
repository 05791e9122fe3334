"""``hybrid-histogram``: the hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (USENIX ATC '20).

Per function, a histogram of idle times (IT, the time from one invocation to the next) in one-interval bins
(1 minute) over ``range_bins`` bins (4 hours). Observations come from per-interval counts: the gap between two
active intervals ``i < j`` is an IT of ``j - i - 1`` intervals, and an interval with ``c > 1`` invocations adds
``c - 1`` ITs of bin 0 (its invocations were less than a minute apart). Windows, in intervals:

* histogram representative (at least ``min_observations`` ITs and the CV of the bin counts >= ``cv_threshold``):
  pre-warm window ``head`` = lower edge of the 5th-percentile bin minus a 10% margin; keep-alive window
  ``tail - head`` with ``tail`` = upper edge of the 99th-percentile bin plus a 10% margin;
* most ITs out of range (> ``oob_fraction``): the paper fits ARIMA; we forecast the next IT with an EWMA of past
  ITs (``ewma_alpha``) and use pre-warm ``0.85 * it`` and keep-alive ``0.3 * it`` (15% margin either side);
* otherwise (too few ITs, flat histogram, or never invoked): the standard fixed keep-alive of the whole range.

Mapping to :class:`~aquatope.platform.PoolTarget` for the next interval, which starts ``e`` intervals after the
end of the function's last active interval:

* ``head == 0``: ``PoolTarget(0, tail * interval_s)`` -- plain keep-alive, no unloading (the platform evicts an
  idle container ``tail`` after its last use);
* ``head > 0``: ``PoolTarget(1, 0)`` if the interval ``[e, e + 1)`` overlaps the warm window ``[head, tail)``,
  else ``PoolTarget(0, 0)``: the container is unloaded right after each execution and one is pre-warmed (started
  at the tick, ahead of the interval) for the keep-alive window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import DEFAULT_INTERVAL_S, PolicyContext, PoolDecision

TAIL_PERCENTILE = 0.99
"""The paper's keep-alive percentile of idle times (the 99th)."""


@dataclass(frozen=True)
class HistogramState:
    """Per-function IT histograms ``(n, range_bins)``, out-of-range counts, last active interval (-1: never),
    EWMA of ITs (NaN: none), and how many history columns were folded in."""

    hist: np.ndarray
    oob: np.ndarray
    last_active: np.ndarray
    ewma_it: np.ndarray
    seen: int

    @classmethod
    def empty(cls, n_functions: int, range_bins: int) -> HistogramState:
        return cls(
            np.zeros((n_functions, range_bins), dtype=np.int64),
            np.zeros(n_functions, dtype=np.int64),
            np.full(n_functions, -1, dtype=np.int64),
            np.full(n_functions, np.nan),
            0,
        )


def update_histograms(state: HistogramState, history: np.ndarray, alpha: float) -> HistogramState:
    """Fold the history columns not seen yet into a copy of ``state`` (see the module docstring)."""
    hist, oob = state.hist.copy(), state.oob.copy()
    last, ewma = state.last_active.copy(), state.ewma_it.copy()
    bins = hist.shape[1]
    rows = np.arange(hist.shape[0])
    for j in range(state.seen, history.shape[1]):
        counts = history[:, j]
        active = counts > 0
        hist[:, 0] += np.where(active, np.maximum(counts, 1) - 1, 0).astype(np.int64)
        has_prev = active & (last >= 0)
        gap = j - last - 1
        inside = has_prev & (gap < bins)
        hist[rows[inside], gap[inside]] += 1
        oob += has_prev & (gap >= bins)
        ewma = np.where(has_prev, np.where(np.isnan(ewma), gap, alpha * gap + (1 - alpha) * ewma), ewma)
        last = np.where(active, j, last)
    return HistogramState(hist, oob, last, ewma, history.shape[1])


def _percentile_bin(hist: np.ndarray, p: float) -> np.ndarray:
    """Index of the bin holding the ``p``-th percentile (0..1) of each row (rows with no counts: 0)."""
    cum = np.cumsum(hist, axis=1)
    total = np.maximum(cum[:, -1:], 1)
    return np.argmax(cum >= p * total, axis=1)


@dataclass(frozen=True)
class HybridHistogramPolicy:
    """The hybrid histogram policy; parameters and the PoolTarget mapping in the module docstring."""

    range_bins: int = 240
    head_percentile: float = 0.05
    tail_percentile: float = TAIL_PERCENTILE
    margin: float = 0.10
    min_observations: int = 10
    cv_threshold: float = 2.0
    oob_fraction: float = 0.5
    ewma_alpha: float = 0.5
    needs_forecast: bool = False
    needs_future: bool = False

    @property
    def name(self) -> str:
        """``hybrid-histogram``, with ``:p=<tail percentile>`` when it is not the paper's 0.99 (the ``--pareto`` knob)."""
        p = self.tail_percentile
        return "hybrid-histogram" if p == TAIL_PERCENTILE else f"hybrid-histogram:p={p:g}"

    @property
    def interval_s(self) -> float:
        """Per-minute ticks: the idle-time bins are one interval wide (1 minute in the paper)."""
        return DEFAULT_INTERVAL_S

    def __post_init__(self) -> None:
        if self.range_bins < 1 or self.min_observations < 0:
            raise InputError("range_bins must be >= 1 and min_observations >= 0", field="hybrid-histogram")
        if not (0 < self.head_percentile < self.tail_percentile < 1 and 0 <= self.margin < 1):
            raise InputError("need 0 < head < tail percentile < 1 and 0 <= margin < 1", field="hybrid-histogram")

    def windows(self, state: HistogramState) -> tuple[np.ndarray, np.ndarray]:
        """(head, tail) per function in intervals: warm from ``head`` to ``tail`` intervals after the last use."""
        hist = state.hist
        n_it = hist.sum(axis=1) + state.oob
        mean = hist.mean(axis=1)
        cv = np.divide(hist.std(axis=1), mean, out=np.zeros_like(mean), where=mean > 0)
        representative = (n_it >= self.min_observations) & (cv >= self.cv_threshold)
        head = _percentile_bin(hist, self.head_percentile) * (1.0 - self.margin)
        tail = (_percentile_bin(hist, self.tail_percentile) + 1.0) * (1.0 + self.margin)
        head = np.where(representative, head, 0.0)
        tail = np.where(representative, tail, float(self.range_bins))
        oob_heavy = (state.oob > self.oob_fraction * np.maximum(n_it, 1)) & ~np.isnan(state.ewma_it)
        it = np.nan_to_num(state.ewma_it)
        head = np.where(oob_heavy, 0.85 * it, head)
        tail = np.where(oob_heavy, 1.15 * it, tail)
        return head, tail

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        state = context.state
        n = context.n_functions
        fresh = isinstance(state, HistogramState) and state.hist.shape == (n, self.range_bins)
        if not fresh or state.seen > context.history.shape[1]:
            state = HistogramState.empty(n, self.range_bins)
        state = update_histograms(state, context.history, self.ewma_alpha)
        head, tail = self.windows(state)
        elapsed = context.history.shape[1] - state.last_active - 1
        targets = {}
        for i, f in enumerate(context.functions):
            if state.last_active[i] < 0 or head[i] <= 0:
                targets[f] = PoolTarget(0, float(tail[i]) * context.interval_s)
            else:
                warm = elapsed[i] + 1 > head[i] and elapsed[i] < tail[i]
                targets[f] = PoolTarget(int(warm), 0.0)
        return PoolDecision(targets), state
