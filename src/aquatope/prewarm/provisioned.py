"""``provisioned:q=<quantile>``: provisioned concurrency set the way an operator sets it on AWS Lambda, plus
on-demand containers beyond it.

The operator's rule (AWS Lambda Developer Guide, "Configuring provisioned concurrency for a function", section
"Accurately estimating required provisioned concurrency"): read the function's ``ConcurrentExecutions`` metric
(1-minute granularity, MAX statistic: "Monitoring concurrency") and provision its usual peak plus a 10% buffer ("if
your function usually peaks at 200 concurrent requests, set the provisioned concurrency to 220"). Here, per function:

* **Per-minute peaks**: the peak concurrency the platform observed in each interval
  (``FunctionObservation.peak_concurrency``, Lambda's per-minute MAX). Intervals of the history it did not observe
  (the training part it starts with) are estimated from their invocation counts by Little's law over a sliding
  window of one mean duration ``d``: the invocations of the last ``d`` seconds (``count * d / T`` when ``d <= T``;
  exact for evenly spread arrivals), rounded up. ``d`` comes from ``context.stats`` (1 s when absent).
* **Usual peak**: the empirical ``q``-quantile (inverted CDF) of the per-minute peaks of the last ``lookback_s``
  (24 h: one diurnal cycle of 1-minute data). ``q = 0.99`` by default, our reading of "usually peaks": the day's
  busiest ~14 minutes are ignored (``q = 1`` is the day's maximum, the AWS example's literal peak). ``q`` is the
  ``--pareto`` knob.
* **Level**: ``round(1.1 * usual peak)``, half up: the 10% buffer in whole units (peaks 1-4 get no extra unit,
  200 gets 220). Recomputed every ``update_every_s`` (15 min: the period of the scale-in alarm Application Auto
  Scaling's target tracking creates for provisioned concurrency, 15 one-minute data points: the fastest AWS's own
  automation lowers it) and held in between.
* **On demand**: beyond the level Lambda serves invocations on on-demand instances (cold starts), which it keeps
  ``on_demand_keep_alive_s`` = 600 s after their last use (measured by M. Shilkov, "AWS Lambda Cold Starts After 10
  Minutes", 2019: every idle instance lived precisely 10 minutes after its last request).

Decision: ``PoolTarget(level, on_demand_keep_alive_s)``. With neither history nor observations the level is 0 (on
demand only) and the decision reports the fallback. State: :class:`ProvisionedState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import DEFAULT_INTERVAL_S, PolicyContext, PoolDecision

AWS_BUFFER = 0.10
DEFAULT_DURATION_S = 1.0


@dataclass(frozen=True, eq=False)
class ProvisionedState:
    """Per-interval peaks ``(n_functions, <= lookback intervals)``, oldest first; history columns folded in; the
    provisioned level per function and when it was last set."""

    peaks: np.ndarray
    seen: int
    level: np.ndarray
    updated_s: float


def little_peaks(history: np.ndarray, duration_s: np.ndarray, interval_s: float) -> np.ndarray:
    """Estimated peak concurrency of every history column: per function, the invocations of the last ``d``
    seconds, ``sum_i count[j - i] * clip(d / T - i, 0, 1)``, rounded up; int64, shape like ``history``."""
    h = np.asarray(history, dtype=float)
    out = np.zeros(h.shape, dtype=np.int64)
    for i, d in enumerate(np.asarray(duration_s, dtype=float)):
        width = d / interval_s
        weights = np.clip(width - np.arange(max(1, math.ceil(width))), 0.0, 1.0)
        load = np.convolve(h[i], weights)[: h.shape[1]]
        out[i] = np.ceil(load - 1e-9).astype(np.int64)
    return out


@dataclass(frozen=True)
class ProvisionedConcurrency:
    """Provisioned concurrency at a quantile of recent per-minute peaks (rule and sources: module docstring)."""

    q: float = 0.99
    buffer: float = AWS_BUFFER
    lookback_s: float = 86400.0
    update_every_s: float = 900.0
    on_demand_keep_alive_s: float = 600.0
    needs_forecast: bool = False
    needs_future: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.q <= 1.0:
            raise InputError(f"quantile must be in (0, 1], got {self.q}", field="q")
        for name in ("buffer", "on_demand_keep_alive_s"):
            if not 0 <= getattr(self, name) < math.inf:
                raise InputError(f"must be a finite number >= 0, got {getattr(self, name)}", field=name)
        for name in ("lookback_s", "update_every_s"):
            if not 0 < getattr(self, name) < math.inf:
                raise InputError(f"must be a finite number > 0, got {getattr(self, name)}", field=name)

    @property
    def name(self) -> str:
        return f"provisioned:q={self.q:g}"

    @property
    def interval_s(self) -> float:
        """Per-minute ticks: the peaks are per minute, as CloudWatch reports them."""
        return DEFAULT_INTERVAL_S

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, ProvisionedState]:
        state = self._fold(context)
        level, updated = state.level, state.updated_s
        if context.now_s - updated >= self.update_every_s and state.peaks.shape[1] > 0:
            peak = np.quantile(state.peaks, self.q, axis=1, method="inverted_cdf")
            level = np.floor(peak * (1.0 + self.buffer) + 0.5 + 1e-9).astype(np.int64)
            updated = context.now_s
        state = ProvisionedState(state.peaks, state.seen, level, updated)
        keep_s = self.on_demand_keep_alive_s
        targets = {f: PoolTarget(int(w), keep_s) for f, w in zip(context.functions, level, strict=True)}
        fallback = None if state.peaks.shape[1] > 0 else "no per-minute peaks yet: on-demand containers only"
        return PoolDecision(targets, {"*": fallback} if fallback else {}, fallback), state

    def _fold(self, context: PolicyContext) -> ProvisionedState:
        """Append the peaks of the history columns not folded in yet (observed for the one that just ended)."""
        n, cols = context.n_functions, context.history.shape[1]
        state = context.state
        if not isinstance(state, ProvisionedState) or state.peaks.shape[0] != n or state.seen > cols:
            state = ProvisionedState(np.zeros((n, 0), dtype=np.int64), 0, np.zeros(n, dtype=np.int64), -math.inf)
        keep = max(1, math.ceil(self.lookback_s / context.interval_s))
        new = min(cols - state.seen, keep)
        if new <= 0:
            return state
        stats = context.stats
        duration = np.array([stats[f].mean_duration_s if f in stats else DEFAULT_DURATION_S for f in context.functions])
        reach = max(1, math.ceil(float(duration.max(initial=0.0)) / context.interval_s))
        peaks = little_peaks(context.history[:, -(new + reach) :], duration, context.interval_s)[:, -new:]
        for i, f in enumerate(context.functions):
            if f in context.observed:
                peaks[i, -1] = context.observed[f].peak_concurrency
        merged = np.concatenate([state.peaks, peaks], axis=1)[:, -keep:]
        return ProvisionedState(merged, cols, state.level, state.updated_s)
