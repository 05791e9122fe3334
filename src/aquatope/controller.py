"""The Aquatope control loop over any :class:`~aquatope.platform.Platform` (simulated or real).

``Controller.start()`` right-sizes the workflow (``resizer(0)``) and deploys it at the answer. Then, every control
interval ``T`` (60 s), at ``t0 + k T - lead_s`` (tick 0 at ``t0``; the lead lets pre-warmed containers be ready
when interval ``k`` starts), ``tick()``:

1. ``observe()`` the platform and append the interval's invocations per function to the history
   (rows: ``workflow.function_names``);
2. makes ONE batched ``forecaster.predict(history, horizon=1)`` (only if the policy reads forecasts; a failing
   model gives no forecast and the policy falls back);
3. calls the pure pool policy and applies the targets that changed with ``set_pool``;
4. every ``check_every`` ticks, judges the re-tune rule (:func:`retune_due`) on the last ``window_intervals``:
   the *warm* QoS violation rate (requests over the target that waited on no cold start: the only violations a
   new resource configuration can fix) and the request rate against the rate when the current configuration was
   chosen (drift). A re-tune calls ``resizer(attempt)`` and applies its answer with ``set_resources``.
   Hysteresis: at most one re-tune per ``cooldown_intervals`` and ``max_retunes`` in all; after a re-tune the
   rate baseline is reset to the current rate, so one step in the rate triggers exactly one re-tune.

Right-sizing cost: a :class:`Resizer` measures on a platform of its choosing (experiments use a staging copy of
the same platform type, so live traffic and measurements never mix) and returns the container cost of its
measurements, which the run adds to its total (:attr:`Controller.tuning_cost_usd`).

``finish()`` ends the run: every pool is released (:data:`END_POOL`) and the platform drains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast, Forecaster
from aquatope.platform import FunctionObservation, Platform, PoolTarget
from aquatope.prewarm import DEFAULT_INTERVAL_S, FunctionStats, PolicyContext, PoolPolicy
from aquatope.resources import ResourceConfig
from aquatope.workflow import Workflow

END_POOL = PoolTarget(0, 0.0)
"""Applied to every function when the run ends: no floor, no keep-alive, containers go as they fall idle."""


@dataclass(frozen=True)
class SizingOutcome:
    """What one right-sizing gave: the configuration (None: keep the current one), measurements used, their cost."""

    config: Mapping[str, ResourceConfig] | None
    evaluations: int = 0
    cost_usd: float = 0.0
    note: str = ""


class Resizer(Protocol):
    """Right-sizes the workflow; ``attempt`` is 0 at deployment, then 1, 2, ... for re-tunes (seeds differ)."""

    def __call__(self, attempt: int) -> SizingOutcome: ...


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
class ControllerConfig:
    interval_s: float = DEFAULT_INTERVAL_S
    lead_s: float = 2.0
    retune: RetuneRule | None = field(default_factory=RetuneRule)

    def __post_init__(self) -> None:
        if not 0 <= self.lead_s < self.interval_s:
            raise InputError(f"must be in [0, interval_s), got {self.lead_s}", field="lead_s")


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
    """One tick: when, requests seen in the interval that ended, total ``min_warm`` applied, and any re-tune."""

    tick: int
    now_s: float
    requests: int
    min_warm: int
    forecast_ok: bool
    retune: str | None = None


def function_stats(workflow: Workflow, configs: Mapping[str, ResourceConfig]) -> dict[str, FunctionStats]:
    """Mean and p99 execution time (s) and memory of every function at ``configs``, from its perf model."""
    levels = np.linspace(0.0025, 0.9975, 80)
    out = {}
    for name, spec in workflow.functions.items():
        cfg = configs[name]
        q = [spec.perf.latency_quantile_ms(cfg, float(x)) for x in levels]
        mean_ms = float(np.mean([v for v in q if math.isfinite(v)] or [1000.0]))
        p99 = spec.perf.latency_quantile_ms(cfg, 0.99)
        out[name] = FunctionStats(mean_ms / 1000.0, (p99 if math.isfinite(p99) else mean_ms) / 1000.0, cfg.memory_mb)
    return out


class Controller:
    """Pre-warming every interval and right-sizing on deployment and on QoS/rate drift (module docstring)."""

    def __init__(
        self,
        platform: Platform,
        workflow: Workflow,
        policy: PoolPolicy,
        *,
        forecaster: Forecaster | None = None,
        resizer: Resizer | None = None,
        config: ControllerConfig | None = None,
        history: np.ndarray | None = None,
    ) -> None:
        self.platform = platform
        self.workflow = workflow
        self.policy = policy
        self.forecaster = forecaster
        self.resizer = resizer
        self.config = config or ControllerConfig()
        self.functions = workflow.function_names
        n = len(self.functions)
        self.history = np.zeros((n, 0)) if history is None else np.asarray(history, dtype=float)
        if self.history.ndim != 2 or self.history.shape[0] != n:
            raise InputError(f"history must have shape ({n}, n_intervals), got {self.history.shape}", field="history")
        self.configs: dict[str, ResourceConfig] = workflow.default_configs()
        self.stats = function_stats(workflow, self.configs)
        self.pool: dict[str, PoolTarget] = {}
        self.policy_state: Any = None
        self.observed: dict[str, FunctionObservation] = {}
        self.ticks: list[TickRecord] = []
        self.retune_state = RetuneState()
        self.tuning_evaluations = 0
        self.tuning_cost_usd = 0.0
        self.sizings: list[SizingOutcome] = []
        self.invocations = 0
        self.cold_starts = 0
        self.t0_s = 0.0
        self._source = workflow.stage(workflow.sources()[0]).function  # its invocations count the requests
        self._calls = workflow.invocations_per_request()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Right-size (attempt 0) and deploy the workflow at the answer; the run's clock starts now."""
        self._resize(0)
        self.platform.deploy(self.workflow, self.configs)
        self.t0_s = self.platform.now_s

    def tick_time_s(self, k: int) -> float:
        c = self.config
        return self.t0_s + max(0.0, k * c.interval_s - c.lead_s)

    def run(
        self,
        n_intervals: int,
        future_peak: np.ndarray | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> list[TickRecord]:
        """Ticks 0 .. n_intervals - 1; ``future_peak`` (n_functions, n_intervals) for an oracle policy."""
        for k in range(n_intervals):
            self.tick(k, None if future_peak is None else future_peak[:, k])
            if progress:
                progress((k + 1) / n_intervals)
        self.platform.advance(self.t0_s + n_intervals * self.config.interval_s)
        return self.ticks

    def finish(self) -> None:
        """Release every pool and let the platform drain (requests in flight finish)."""
        for f in self.functions:
            self.platform.set_pool(f, END_POOL)
            self.pool[f] = END_POOL
        self.platform.advance(math.inf)
        self._count(self.platform.observe())

    # ------------------------------------------------------------------ one tick
    def tick(self, k: int, future_peak: np.ndarray | None = None) -> TickRecord:
        now = self.tick_time_s(k)
        self.platform.advance(now)
        obs = self.platform.observe()
        self._count(obs)
        requests = 0
        if k > 0:
            column = np.array([obs[f].invocations if f in obs else 0 for f in self.functions], dtype=float)
            self.history = np.concatenate([self.history, column[:, None]], axis=1)
            self.observed = dict(obs)
            requests = int(column[self.functions.index(self._source)]) // max(1, self._calls.get(self._source, 1))
        forecast = self._predict() if self.policy.needs_forecast else None
        context = PolicyContext(
            now_s=now,
            functions=self.functions,
            history=self.history,
            forecast=forecast,
            pool=self.pool,
            stats=self.stats,
            interval_s=self.config.interval_s,
            future_peak=future_peak,
            state=self.policy_state,
            observed=self.observed,
        )
        decision, self.policy_state = self.policy(context)
        for f, target in decision.targets.items():
            if self.pool.get(f) != target:
                self.platform.set_pool(f, target)
                self.pool[f] = target
        reason = self._maybe_retune(k)
        record = TickRecord(k, now, requests, sum(t.min_warm for t in self.pool.values()), forecast is not None, reason)
        self.ticks.append(record)
        return record

    def _count(self, obs: Mapping[str, FunctionObservation]) -> None:
        self.invocations += sum(o.invocations for o in obs.values())
        self.cold_starts += sum(o.cold_starts for o in obs.values())

    def _predict(self) -> Forecast | None:
        if self.forecaster is None or self.history.shape[1] == 0:
            return None
        try:
            return self.forecaster.predict(self.history, horizon=1)
        except Exception:  # a model failure must not stop the loop: the (safety-wrapped) policy falls back
            return None

    # ------------------------------------------------------------------ right-sizing
    def _resize(self, attempt: int) -> None:
        if self.resizer is None:
            return
        outcome = self.resizer(attempt)
        self.sizings.append(outcome)
        self.tuning_evaluations += outcome.evaluations
        self.tuning_cost_usd += outcome.cost_usd
        if outcome.config is None:
            return
        new = {f: outcome.config.get(f, self.configs[f]) for f in self.functions}
        if attempt > 0:
            for f, cfg in new.items():
                if cfg != self.configs[f]:
                    self.platform.set_resources(f, cfg)
        self.configs = new
        self.stats = function_stats(self.workflow, self.configs)

    def window_signal(self, k: int, window: int) -> WindowSignal:
        """Requests that finished in the last ``window`` intervals, their warm violations, and the request rate."""
        now = self.tick_time_s(k)
        since = now - window * self.config.interval_s
        qos = self.workflow.qos.latency_ms
        recent = [r for r in self.platform.request_records() if since < r.end_s <= now]
        warm_bad = sum(1 for r in recent if r.cold_starts == 0 and (r.failed or r.latency_ms > qos))
        rates = [t.requests for t in self.ticks[-(window - 1) :]] if window > 1 else []
        rates.append(self._last_requests())  # the interval that just ended (its tick is not recorded yet)
        return WindowSignal(k, len(recent), warm_bad, float(np.mean(rates)))

    def _last_requests(self) -> int:
        if self.history.shape[1] == 0:
            return 0
        row = self.functions.index(self._source)
        return int(self.history[row, -1]) // max(1, self._calls.get(self._source, 1))

    def _maybe_retune(self, k: int) -> str | None:
        rule = self.config.retune
        if rule is None or self.resizer is None or k < rule.window_intervals or k % rule.check_every:
            return None
        signal = self.window_signal(k, rule.window_intervals)
        reason, self.retune_state = retune_due(rule, signal, self.retune_state, self.workflow.qos.quantile)
        if reason is not None:
            self._resize(self.retune_state.retunes)
        return reason
