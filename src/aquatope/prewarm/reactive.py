"""``reactive``: a Knative-style autoscaler, after Knative Serving's Pod Autoscaler (KPA), meant to tick every 2 s.

Sources (github.com/knative/serving): the defaults of ``config/core/configmaps/autoscaler.yaml`` and
``pkg/autoscaler/config/config.go`` (``defaultConfig``); the decision of ``pkg/autoscaler/scaling/autoscaler.go``
(``Scale``); window averages as ``pkg/autoscaler/aggregation`` (``TimedFloat64Buckets.WindowAverage``: over the
data there is when less than a window exists, rounded to 6 digits); scale to zero as
``pkg/reconciler/autoscaling/kpa/scaler.go`` (``handleScaleToZero``).

=============================================  ===========================  ===================================
Knative setting (default)                      here                         note
=============================================  ===========================  ===================================
``containerConcurrency`` (0 = unlimited)       ``container_concurrency=1``  our containers run one at a time
``container-concurrency-target-percentage`` 70 ``target_utilization=0.7``   target 0.7 per container; the knob
``stable-window`` 60s                          ``stable_window_s=60``
``panic-window-percentage`` 10                 ``panic_window_pct=10``      panic window 6 s
``panic-threshold-percentage`` 200             ``panic_threshold_pct=200``
``max-scale-up-rate`` 1000                     ``max_scale_up_rate=1000``
``max-scale-down-rate`` 2                      ``max_scale_down_rate=2``
``scale-down-delay`` 0s                        ``scale_down_delay_s=0``     off by default, as in Knative
``scale-to-zero-grace-period`` 30s             ``scale_to_zero_grace_s=30``
``initial-scale`` 1                            ``initial_scale=1``
``tick-interval`` 2s                           ``tick_s=2`` (``interval_s``)
=============================================  ===========================  ===================================

Per tick at time ``t``, per function (``count`` is the number of containers it holds; ``target`` = concurrency x
utilisation):

1. **Metric.** The observed mean concurrency of the interval that just ended, ``inflight_s / length`` (invocations
   in progress, running or waiting for a container, as Knative's queue-proxy and activator report them), stored
   with its end time. The stable and panic values are the time-weighted means of the samples that end in the last
   ``stable_window_s`` and panic window (the latest sample always counts, so at ticks longer than the panic window
   the panic value is the last interval's). A function with no sample in the stable window (not observed) keeps
   its count: Knative's "no data" makes no decision.
2. ``ready = max(1, count)`` (Knative counts ready pods; we count what we asked for at the previous tick: our
   containers are ready a cold start after the ask, and on-demand containers beyond the count are not counted);
   ``max_up = ceil(max_scale_up_rate * ready)``, ``max_down = floor(ready / max_scale_down_rate)``.
3. ``dspc = ceil(stable / target)``, ``dppc = ceil(panic / target)``; each clipped to ``[max_down, max_up]``.
4. **Panic.** Over the threshold when ``dppc / ready >= panic_threshold_pct / 100``: enter (or extend) panic,
   panic time = ``t``. Leave when not over it and ``panic time + stable_window_s < t``. In panic the count is
   ``max(stable count, panic count)`` and never falls below the highest count of this panic.
5. **Scale-down delay.** The count is the largest decided in the last ``scale_down_delay_s`` (0: no delay).
6. **Scale to zero.** When the count falls to 0, the last container is held ``scale_to_zero_grace_s`` after the
   first tick that asked for 0 (Knative waits that long once the revision is marked inactive).

Decision: ``PoolTarget(count, keep_alive_s = the tick)``: the platform starts a container on demand for an
invocation beyond the count (where Knative would queue it at the activator and scale), and such a container goes
about one tick after it falls idle unless the count keeps it, as Knative removes pods above the desired count.
State: :class:`KPAState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import PolicyContext, PoolDecision

KNATIVE_TARGET_UTILIZATION = 0.7
KNATIVE_TICK_S = 2.0
METRIC_DIGITS = 6
"""Knative rounds window averages to 6 digits; we round the ratios to the target likewise (no 1.0000001 pods)."""


@dataclass(frozen=True, eq=False)
class KPAState:
    """Concurrency samples ``(end_s, span_s)`` with ``inflight_s`` per function (NaN: not observed); per function
    the count, panic start (NaN: calm), highest panic count and the time the count first fell to 0 (NaN: not 0);
    the counts decided in the scale-down delay window; the time of the last tick."""

    end_s: np.ndarray
    span_s: np.ndarray
    inflight_s: np.ndarray
    count: np.ndarray
    panic_since_s: np.ndarray
    max_panic: np.ndarray
    zero_since_s: np.ndarray
    delay_t_s: np.ndarray
    delay_count: np.ndarray
    now_s: float | None = None

    @classmethod
    def initial(cls, n_functions: int, initial_scale: int) -> KPAState:
        nan = np.full(n_functions, np.nan)
        return cls(
            np.zeros(0),
            np.zeros(0),
            np.zeros((n_functions, 0)),
            np.full(n_functions, initial_scale, dtype=np.int64),
            nan,
            np.zeros(n_functions, dtype=np.int64),
            nan.copy(),
            np.zeros(0),
            np.zeros((n_functions, 0), dtype=np.int64),
        )


def window_mean(state: KPAState, now_s: float, window_s: float) -> np.ndarray:
    """Time-weighted mean concurrency per function over the samples ending in ``(now_s - window_s, now_s]`` (the
    latest sample always counts); NaN where no observed sample is in it."""
    sel = state.end_s > now_s - window_s
    if sel.size:
        sel[-1] = True
    x = state.inflight_s[:, sel]
    observed = ~np.isnan(x)
    total = np.where(observed, x, 0.0).sum(axis=1)
    span = (observed * state.span_s[sel]).sum(axis=1)
    return np.divide(total, span, out=np.full(x.shape[0], np.nan), where=span > 0)


@dataclass(frozen=True)
class ReactivePolicy:
    """The KPA-style autoscaler (parameters, sources and the algorithm in the module docstring)."""

    target_utilization: float = KNATIVE_TARGET_UTILIZATION
    container_concurrency: int = 1
    stable_window_s: float = 60.0
    panic_window_pct: float = 10.0
    panic_threshold_pct: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_delay_s: float = 0.0
    scale_to_zero_grace_s: float = 30.0
    initial_scale: int = 1
    tick_s: float = KNATIVE_TICK_S
    needs_forecast: bool = False
    needs_future: bool = False

    def __post_init__(self) -> None:
        checks = [
            (0 < self.target_utilization <= 1, "target_utilization", "in (0, 1]"),
            (self.container_concurrency >= 1, "container_concurrency", ">= 1"),
            (6 <= self.stable_window_s <= 3600, "stable_window_s", "in [6, 3600] (Knative's bounds)"),
            (1 <= self.panic_window_pct <= 100, "panic_window_pct", "in [1, 100]"),
            (0 < self.panic_threshold_pct < math.inf, "panic_threshold_pct", "> 0"),
            (1 < self.max_scale_up_rate < math.inf, "max_scale_up_rate", "> 1"),
            (1 < self.max_scale_down_rate < math.inf, "max_scale_down_rate", "> 1"),
            (0 <= self.scale_down_delay_s < math.inf, "scale_down_delay_s", ">= 0"),
            (0 < self.scale_to_zero_grace_s < math.inf, "scale_to_zero_grace_s", "> 0"),
            (self.initial_scale >= 0, "initial_scale", ">= 0"),
            (0 < self.tick_s < math.inf, "tick_s", "> 0"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise InputError(f"must be {why}, got {getattr(self, name)!r}", field=name)

    @property
    def name(self) -> str:
        """``reactive``, with ``:target=<utilisation>`` when it is not Knative's 0.7 (the ``--pareto`` knob)."""
        u = self.target_utilization
        return "reactive" if u == KNATIVE_TARGET_UTILIZATION else f"reactive:target={u:g}"

    @property
    def interval_s(self) -> float:
        """The KPA's tick (2 s)."""
        return self.tick_s

    @property
    def target(self) -> float:
        """Target concurrency per container."""
        return self.container_concurrency * self.target_utilization

    @property
    def panic_window_s(self) -> float:
        """``panic_window_pct`` of the stable window, rounded to whole seconds (at least 1) as Knative does."""
        return max(1.0, float(round(self.stable_window_s * self.panic_window_pct / 100.0)))

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, KPAState]:
        state = self._record(context, self._state(context))
        now = context.now_s
        stable = window_mean(state, now, self.stable_window_s)
        panic = window_mean(state, now, self.panic_window_s)
        panic = np.where(np.isnan(panic), stable, panic)
        count, since, max_panic = self._decide(state, now, stable, panic)
        count, delay_t, delay_count = self._delay(state, now, count)
        count, zero_since = self._scale_to_zero(state, now, count)
        new = KPAState(
            state.end_s, state.span_s, state.inflight_s, count, since, max_panic, zero_since, delay_t, delay_count, now
        )
        keep_s = float(context.interval_s)
        targets = {f: PoolTarget(int(c), keep_s) for f, c in zip(context.functions, count, strict=True)}
        reasons = {f: "panic" for f, p in zip(context.functions, since, strict=True) if not np.isnan(p)}
        return PoolDecision(targets, reasons), new

    def _state(self, context: PolicyContext) -> KPAState:
        state = context.state
        fresh = isinstance(state, KPAState) and state.count.shape == (context.n_functions,)
        if not fresh or (state.now_s is not None and context.now_s < state.now_s):
            return KPAState.initial(context.n_functions, self.initial_scale)
        return state

    def _record(self, context: PolicyContext, state: KPAState) -> KPAState:
        """Append the interval that just ended as a sample and drop samples older than the stable window."""
        now = context.now_s
        span = now - state.now_s if state.now_s is not None else float(context.interval_s)
        end, spans, inflight = state.end_s, state.span_s, state.inflight_s
        if span > 0:
            obs = context.observed
            column = np.array([obs[f].inflight_s if f in obs else np.nan for f in context.functions])
            end, spans = np.append(end, now), np.append(spans, span)
            inflight = np.concatenate([inflight, column[:, None]], axis=1)
        keep = end > now - self.stable_window_s
        return KPAState(
            end[keep],
            spans[keep],
            inflight[:, keep],
            state.count,
            state.panic_since_s,
            state.max_panic,
            state.zero_since_s,
            state.delay_t_s,
            state.delay_count,
            state.now_s,
        )

    def _decide(
        self, state: KPAState, now: float, stable: np.ndarray, panic: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps 2-4: (count, panic start, highest panic count); functions with no data keep theirs."""
        no_data = np.isnan(stable)
        ready = np.maximum(1, state.count).astype(float)
        up = np.ceil(self.max_scale_up_rate * ready)
        down = np.floor(ready / self.max_scale_down_rate)
        dspc = np.ceil(np.round(np.nan_to_num(stable) / self.target, METRIC_DIGITS))
        dppc = np.ceil(np.round(np.nan_to_num(panic) / self.target, METRIC_DIGITS))
        want_stable, want_panic = np.clip(dspc, down, up), np.clip(dppc, down, up)
        over = ~no_data & (dppc / ready >= self.panic_threshold_pct / 100.0)
        was = state.panic_since_s
        calm_again = ~no_data & ~over & ~np.isnan(was) & (was + self.stable_window_s < now)
        since = np.where(over, now, np.where(calm_again, np.nan, was))
        max_panic = np.where(calm_again, 0, state.max_panic)
        panicking = ~np.isnan(since) & ~no_data
        count = np.where(panicking, np.maximum(want_stable, want_panic), want_stable)
        max_panic = np.where(panicking, np.maximum(max_panic, count), max_panic)
        count = np.where(panicking, max_panic, count)
        count = np.where(no_data, state.count, count)
        return count.astype(np.int64), since, max_panic.astype(np.int64)

    def _delay(self, state: KPAState, now: float, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 5: the largest count decided in the last ``scale_down_delay_s``."""
        if self.scale_down_delay_s <= 0:
            return count, state.delay_t_s, state.delay_count
        keep = state.delay_t_s > now - self.scale_down_delay_s
        times = np.append(state.delay_t_s[keep], now)
        counts = np.concatenate([state.delay_count[:, keep], count[:, None]], axis=1)
        return counts.max(axis=1), times, counts

    def _scale_to_zero(self, state: KPAState, now: float, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step 6: hold the last container ``scale_to_zero_grace_s`` after the count first fell to 0."""
        zero = count == 0
        since = np.where(zero, np.where(np.isnan(state.zero_since_s), now, state.zero_since_s), np.nan)
        hold = zero & (state.count > 0) & (now - since < self.scale_to_zero_grace_s)
        return np.where(hold, 1, count).astype(np.int64), since
