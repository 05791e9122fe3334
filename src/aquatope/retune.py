"""When to re-tune a workflow's resources: the pure rule the controller judges every few intervals, and the
records the control loop keeps (what a re-tune gave, what happened at each tick).

The rule looks at the *warm* QoS violation rate of the last window (requests over the target that waited on no
cold start: the only violations a new resource configuration can fix) and at the request rate against the rate
when the current configuration was chosen (drift). Hysteresis: at most one re-tune per ``cooldown_intervals`` and
``max_retunes`` in all; after a re-tune the rate baseline is reset to the current rate, so one step in the rate
triggers exactly one re-tune.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import RequestRecord
from aquatope.resources import ResourceConfig


@dataclass(frozen=True)
class SizingOutcome:
    """What one right-sizing gave: the configuration (None: keep the current one), measurements used, their cost,
    a note for humans, where the answer came from (``design``, ``model``, ...: measured sizers) and the execution
    time each function was measured at in the answer (``durations_s``: what pool policies may start from)."""

    config: Mapping[str, ResourceConfig] | None
    evaluations: int = 0
    cost_usd: float = 0.0
    note: str = ""
    source: str | None = None
    durations_s: Mapping[str, float] | None = None


@dataclass(frozen=True)
class RetuneRule:
    """When measured QoS or the request rate says the configuration is stale (see the module docstring).

    ``violation_threshold`` is on the warm violation rate over the window (None: twice the QoS's allowance,
    ``2 (1 - quantile)``); ``drift_ratio``: re-tune when the window's request rate is above ``ratio`` times, or
    below ``1 / ratio`` of, the baseline rate (only once both are at least ``min_rate_per_interval``).
    """

    window_intervals: int = 10
    check_every: int = 5
    violation_threshold: float | None = None
    min_requests: int = 20
    drift_ratio: float = 3.0
    min_rate_per_interval: float = 5.0
    cooldown_intervals: int = 30
    max_retunes: int = 3

    def __post_init__(self) -> None:
        for name in ("window_intervals", "check_every", "cooldown_intervals"):
            if getattr(self, name) < 1:
                raise InputError(f"must be >= 1, got {getattr(self, name)}", field=name)
        if self.drift_ratio <= 1:
            raise InputError(f"must be > 1, got {self.drift_ratio}", field="drift_ratio")
        if self.max_retunes < 0:
            raise InputError(f"must be >= 0, got {self.max_retunes}", field="max_retunes")


@dataclass(frozen=True)
class WindowSignal:
    """What the re-tune rule looks at: the tick, requests finished in the window, how many violated QoS without a
    cold start, and the window's mean requests per interval."""

    tick: int
    requests: int
    warm_violations: int
    rate_per_interval: float


@dataclass(frozen=True)
class RetuneState:
    last_tick: int | None = None
    retunes: int = 0
    baseline_rate: float | None = None


def retune_due(
    rule: RetuneRule, signal: WindowSignal, state: RetuneState, quantile: float
) -> tuple[str | None, RetuneState]:
    """Pure re-tune rule: (reason to re-tune now or None, new state). The first window sets the rate baseline."""
    if state.baseline_rate is None:
        return None, RetuneState(state.last_tick, state.retunes, signal.rate_per_interval)
    if state.retunes >= rule.max_retunes:
        return None, state
    if state.last_tick is not None and signal.tick - state.last_tick < rule.cooldown_intervals:
        return None, state
    threshold = rule.violation_threshold if rule.violation_threshold is not None else 2 * (1 - quantile)
    reason = None
    if signal.requests >= rule.min_requests and signal.warm_violations / signal.requests > threshold:
        reason = f"qos: {signal.warm_violations}/{signal.requests} warm requests over target"
    else:
        base, now = state.baseline_rate, signal.rate_per_interval
        if max(base, now) >= rule.min_rate_per_interval and (
            now > rule.drift_ratio * base or now * rule.drift_ratio < base
        ):
            reason = f"drift: {base:.1f} -> {now:.1f} requests per interval"
    if reason is None:
        return None, state
    return reason, RetuneState(signal.tick, state.retunes + 1, signal.rate_per_interval)


@dataclass(frozen=True)
class TickRecord:
    """One control interval: its tick, when it ran (``now_s``; later than planned after a blocking re-tune),
    requests seen in the interval that ended, total ``min_warm`` applied, whether the forecast was usable, whether
    the pool fell back on a safe default, and any re-tune."""

    tick: int
    now_s: float
    requests: int
    min_warm: int
    forecast_ok: bool
    retune: str | None = None
    fallback: bool = False


class LiveBatches:
    """Warm live requests of the deployed configuration, cut into batches of ``size`` latencies for
    :mod:`aquatope.sizing.live`: requests that arrived since the configuration was applied (``reset``), finished
    without failing and waited on no cold start (a cold start is the pool's doing, not the configuration's)."""

    def __init__(self, workflow: str, size: int) -> None:
        self.workflow = workflow
        self.size = size
        self.since_s = 0.0
        self.read_s = -math.inf
        self.pending: list[float] = []

    def reset(self, now_s: float) -> None:
        """A new configuration was applied at ``now_s``: what was collected belongs to the old one."""
        self.since_s = now_s
        self.pending = []

    def take(self, records: Iterable[RequestRecord], now_s: float) -> list[np.ndarray]:
        """Add the requests that ended since the last call (up to ``now_s``); the full batches collected."""
        for r in records:
            if (
                r.workflow == self.workflow and self.read_s < r.end_s <= now_s and r.arrival_s >= self.since_s
                and r.cold_starts == 0 and not r.failed
            ):  # fmt: skip
                self.pending.append(r.latency_ms)
        self.read_s = now_s
        n = len(self.pending) // self.size * self.size
        batches = [np.array(self.pending[i : i + self.size]) for i in range(0, n, self.size)]
        self.pending = self.pending[n:]
        return batches


class TunedResizer:
    """A resizer whose initial right-sizing (attempt 0) was already done: it returns that outcome, re-tunes with the
    real resizer, and hands it live requests (``observe``, ``live_batch``) when it takes them."""

    def __init__(self, outcome: SizingOutcome, resizer: Any) -> None:
        self.outcome = outcome
        self.resizer = resizer
        self.live_batch = int(getattr(resizer, "live_batch", 0) or 0)

    def __call__(self, attempt: int) -> SizingOutcome:
        if attempt == 0:
            return self.outcome
        result: SizingOutcome = self.resizer(attempt)
        return result

    def observe(self, config: Mapping[str, ResourceConfig], latency_ms: np.ndarray) -> SizingOutcome | None:
        observe = getattr(self.resizer, "observe", None)
        return None if observe is None else observe(config, latency_ms)
