"""Fixed keep-alive, no pre-warming: ``keepalive:<seconds>`` and ``keepalive:auto`` (tuned on the training history).

* ``keepalive:600`` is the OpenWhisk default (an idle container is kept 10 minutes); ``keepalive:0`` is no reuse.
* ``keepalive:auto`` is the tuned short one, a fair tuned baseline: ONE platform-wide keep-alive chosen, at the
  policy's first tick, from the history the caller starts it with (the training part of the trace, nothing of the
  replay) and then held for the whole run. Rule: pool the idle times (IT) of every function of that history,
  counted from per-interval invocation counts exactly as the hybrid histogram counts them (a gap between active
  intervals ``i < j`` is an IT of ``j - i - 1`` intervals; ``c > 1`` invocations in one interval add ``c - 1`` ITs
  of bin 0), in one-interval bins over ``range_intervals`` (4 hours), out-of-range ITs above the last bin. The
  keep-alive is the hybrid histogram's keep-alive bound applied to that pool: the upper edge of the bin holding
  its ``p``-th percentile plus a 10% margin, ``(bin + 1) * 1.1 * interval_s``, at most the range. Weighting every
  IT alike weights functions by their invocations, so it aims at about ``1 - p`` of the training invocations
  finding their function's last container expired (at minute resolution: an IT of ``b`` intervals between two
  active minutes is a gap of ``b`` to ``b + 2`` minutes, so that share is approximate). ``p = 0.99`` and the 10%
  margin are the hybrid histogram's (Shahrad et al., ATC '20: the 99th percentile of idle times plus 10%); ``p``
  is the knob ``--pareto`` sweeps. With fewer than ``min_idle_times`` ITs in the history (no training data) it
  keeps the OpenWhisk 600 s and every decision reports the fallback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import DEFAULT_INTERVAL_S, PolicyContext, PoolDecision, uniform_decision
from aquatope.prewarm.histogram import TAIL_PERCENTILE, HistogramState, update_histograms

OPENWHISK_KEEP_ALIVE_S = 600.0
AUTO_KEEP_ALIVE_P = TAIL_PERCENTILE
"""The hybrid histogram's keep-alive percentile of idle times (Shahrad et al., ATC '20)."""


@dataclass(frozen=True)
class FixedKeepAlive:
    """Every function: ``PoolTarget(min_warm=0, keep_alive_s)``; containers start only on demand (cold)."""

    keep_alive_s: float = OPENWHISK_KEEP_ALIVE_S
    needs_forecast: bool = False
    needs_future: bool = False

    @property
    def interval_s(self) -> float | None:
        """Any control interval will do."""
        return None

    def __post_init__(self) -> None:
        if not (self.keep_alive_s >= 0 and math.isfinite(self.keep_alive_s)):
            raise InputError(f"keep-alive must be a finite number >= 0, got {self.keep_alive_s}", field="keepalive")

    @property
    def name(self) -> str:
        return f"keepalive:{self.keep_alive_s:g}"

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        return uniform_decision(context, PoolTarget(0, float(self.keep_alive_s))), None


@dataclass(frozen=True)
class AutoKeepAliveState:
    """The keep-alive chosen at the first tick, how many training idle times it came from, and the fallback (if
    there were too few)."""

    keep_alive_s: float
    idle_times: int
    fallback: str | None = None


def pooled_idle_times(history: np.ndarray, range_intervals: int) -> tuple[np.ndarray, int]:
    """(IT counts per one-interval bin summed over functions, shape ``(range_intervals,)``; out-of-range ITs)."""
    h = np.asarray(history, dtype=float)
    state = update_histograms(HistogramState.empty(h.shape[0], range_intervals), h, alpha=1.0)
    return state.hist.sum(axis=0), int(state.oob.sum())


def keep_alive_intervals(hist: np.ndarray, oob: int, p: float) -> int:
    """Upper edge (in intervals) of the bin holding the ``p``-th percentile of the ITs; the range if it falls among
    the out-of-range ones."""
    total = int(hist.sum()) + oob
    cum = np.cumsum(hist)
    reached = np.nonzero(cum >= p * total)[0]
    return int(reached[0]) + 1 if reached.size else int(hist.size)


@dataclass(frozen=True)
class AutoKeepAlive:
    """``keepalive:auto``: one keep-alive tuned on the history of the first tick (rule: module docstring)."""

    p: float = AUTO_KEEP_ALIVE_P
    margin: float = 0.10
    range_intervals: int = 240
    min_idle_times: int = 10
    default_s: float = OPENWHISK_KEEP_ALIVE_S
    needs_forecast: bool = False
    needs_future: bool = False

    @property
    def interval_s(self) -> float:
        """Per-minute ticks: the history's columns are its idle-time bins."""
        return DEFAULT_INTERVAL_S

    def __post_init__(self) -> None:
        if not 0.0 < self.p < 1.0:
            raise InputError(f"percentile must be in (0, 1), got {self.p}", field="p")
        if not 0 <= self.margin < 1:
            raise InputError(f"must be in [0, 1), got {self.margin}", field="margin")
        if self.range_intervals < 1 or self.min_idle_times < 1:
            raise InputError("range_intervals and min_idle_times must be >= 1", field="keepalive:auto")

    @property
    def name(self) -> str:
        return "keepalive:auto" if self.p == AUTO_KEEP_ALIVE_P else f"keepalive:auto:p={self.p:g}"

    def fit(self, history: np.ndarray, interval_s: float) -> AutoKeepAliveState:
        """The keep-alive for a history whose columns last ``interval_s`` each."""
        hist, oob = pooled_idle_times(history, self.range_intervals)
        n = int(hist.sum()) + oob
        if n < self.min_idle_times:
            why = f"{n} idle times in the training history (< {self.min_idle_times}): OpenWhisk's {self.default_s:g} s"
            return AutoKeepAliveState(self.default_s, n, why)
        intervals = min(keep_alive_intervals(hist, oob, self.p) * (1.0 + self.margin), self.range_intervals)
        return AutoKeepAliveState(intervals * interval_s, n)

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, AutoKeepAliveState]:
        state = context.state
        if not isinstance(state, AutoKeepAliveState):
            state = self.fit(context.history, context.interval_s)
        note = f"keep-alive {state.keep_alive_s:g} s from {state.idle_times} training idle times"
        return uniform_decision(context, PoolTarget(0, state.keep_alive_s), note, state.fallback), state
