"""The Aquatope control loop over any :class:`~aquatope.platform.Platform` (simulated or real): the ONE loop that
drives pool policies and re-tunes, for ``evaluate``, ``run`` and the pre-warming evaluation alike.

``Controller.start()`` right-sizes the workflow (``resizer(0)``) and deploys it at the answer. Then, every control
interval ``T`` (60 s), at ``t0 + k T - lead_s`` (tick 0 at ``t0``; the lead lets pre-warmed containers be ready
when interval ``k`` starts), ``tick()``:

1. ``observe()`` the platform and append the interval's invocations per function to the history
   (rows: ``workflow.function_names``);
2. makes ONE batched ``forecaster.predict(history, horizon=1)`` (only if the policy reads forecasts). A model that
   raises gives no forecast: the failure is recorded (``forecast_failures``) and the safety-wrapped policy falls
   back; every tick whose decision fell back on a safe default is counted (``fallback_ticks``);
3. calls the pure pool policy and applies the targets that changed with ``set_pool``;
4. every ``check_every`` ticks, judges the re-tune rule (:func:`aquatope.retune.retune_due`) and, when due, calls
   ``resizer(attempt)`` and applies its answer with ``set_resources``;
5. with ``live_evidence`` (off by default), hands a resizer that can ``observe`` the deployed configuration's warm
   requests in batches (:class:`~aquatope.retune.LiveBatches`), applying any new answer (:mod:`aquatope.sizing.live`).

**Policies with a shorter interval** (a Knative-style autoscaler ticks every 2 s: ``policy.interval_s``) are also
called between the minute ticks, every ``policy_interval_s``, with what the platform observed since the previous
call; history, forecasts and re-tunes stay per minute.

**What policies see.** Only what a platform shows: invocation counts, concurrency, cold starts, and execution
times from the platform's metrics (``FunctionObservation.completed``/``busy_s``): ``stats`` holds each function's
mean observed execution time (primed with the durations the right-sizing measured, when it measured any); no perf
model is read.

**Time.** A re-tune that measures on the live platform (production) advances its clock; a tick that finds the
platform already past its planned time runs late (``TickRecord.now_s``), never in the past.

Right-sizing cost: a :class:`Resizer` measures on a platform of its choosing and returns the container cost of its
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
from aquatope.retune import LiveBatches, RetuneRule, RetuneState, SizingOutcome, TickRecord, WindowSignal, retune_due
from aquatope.workflow import Workflow

END_POOL = PoolTarget(0, 0.0)
"""Applied to every function when the run ends: no floor, no keep-alive, containers go as they fall idle."""

__all__ = [
    "END_POOL",
    "Controller",
    "ControllerConfig",
    "LiveBatches",
    "ObservedDurations",
    "Resizer",
    "RetuneRule",
    "RetuneState",
    "SizingOutcome",
    "TickRecord",
    "WindowSignal",
    "retune_due",
]


class Resizer(Protocol):
    """Right-sizes the workflow; ``attempt`` is 0 at deployment, then 1, 2, ... for re-tunes (seeds differ). One
    that takes live evidence also has ``live_batch`` and ``observe(config, latency_ms) -> SizingOutcome | None``."""

    def __call__(self, attempt: int) -> SizingOutcome: ...


@dataclass(frozen=True)
class ControllerConfig:
    """``interval_s``: the history/forecast interval; ``policy_interval_s``: how often the pool policy runs (None:
    the policy's own ``interval_s``, else ``interval_s``; it must divide ``interval_s``)."""

    interval_s: float = DEFAULT_INTERVAL_S
    lead_s: float = 2.0
    retune: RetuneRule | None = field(default_factory=RetuneRule)
    policy_interval_s: float | None = None
    live_evidence: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.lead_s < self.interval_s:
            raise InputError(f"must be in [0, interval_s), got {self.lead_s}", field="lead_s")
        p = self.policy_interval_s
        if p is not None and not (0 < p <= self.interval_s and _divides(p, self.interval_s)):
            raise InputError(f"must divide the interval ({self.interval_s:g} s), got {p}", field="policy_interval_s")


def _divides(p: float, interval: float) -> bool:
    n = interval / p
    return abs(n - round(n)) < 1e-9


class ObservedDurations:
    """Each function's execution times as the platform reports them: the mean over every invocation completed so
    far (``busy_s / completed``), and the largest per-interval mean (a p99 is not observable from aggregate
    metrics). Primed with measured durations (e.g. from right-sizing) until the live platform reports some."""

    def __init__(self, functions: tuple[str, ...]) -> None:
        self.completed = dict.fromkeys(functions, 0)
        self.busy_s = dict.fromkeys(functions, 0.0)
        self.peak_s = dict.fromkeys(functions, 0.0)
        self.prior_s: dict[str, float] = {}

    def prime(self, durations_s: Mapping[str, float]) -> None:
        self.prior_s = {f: float(d) for f, d in durations_s.items() if f in self.completed and d > 0}

    def update(self, obs: Mapping[str, FunctionObservation]) -> None:
        for f, o in obs.items():
            if f in self.completed and o.completed > 0:
                self.completed[f] += o.completed
                self.busy_s[f] += o.busy_s
                self.peak_s[f] = max(self.peak_s[f], o.busy_s / o.completed)

    def stats(self, memory_mb: Mapping[str, float]) -> dict[str, FunctionStats]:
        """FunctionStats of every function with an observed (or primed) duration; others are absent (the policy
        uses its documented default)."""
        out = {}
        for f, n in self.completed.items():
            if n > 0:
                mean = self.busy_s[f] / n
                out[f] = FunctionStats(mean, max(mean, self.peak_s[f]), memory_mb.get(f, 256.0))
            elif f in self.prior_s:
                out[f] = FunctionStats(self.prior_s[f], self.prior_s[f], memory_mb.get(f, 256.0))
        return out


class _Minute:
    """Observations accumulated over the sub-ticks of one control interval."""

    def __init__(self) -> None:
        self.obs: dict[str, FunctionObservation] = {}

    def add(self, obs: Mapping[str, FunctionObservation]) -> None:
        for f, o in obs.items():
            prev = self.obs.get(f)
            self.obs[f] = (
                o
                if prev is None
                else FunctionObservation(
                    prev.invocations + o.invocations,
                    max(prev.peak_concurrency, o.peak_concurrency),
                    prev.cold_starts + o.cold_starts,
                    prev.inflight_s + o.inflight_s,
                    prev.completed + o.completed,
                    prev.busy_s + o.busy_s,
                )
            )


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
        own = getattr(policy, "interval_s", None)
        sub = self.config.policy_interval_s or (own if isinstance(own, int | float) and own > 0 else None)
        self.policy_interval_s = float(sub) if sub and _divides(float(sub), self.config.interval_s) else None
        self.functions = workflow.function_names
        n = len(self.functions)
        self.history = np.zeros((n, 0)) if history is None else np.asarray(history, dtype=float)
        if self.history.ndim != 2 or self.history.shape[0] != n:
            raise InputError(f"history must have shape ({n}, n_intervals), got {self.history.shape}", field="history")
        self.configs: dict[str, ResourceConfig] = workflow.default_configs()
        self.durations = ObservedDurations(self.functions)
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
        self.fallback_ticks = 0
        self.forecast_failures: list[str] = []
        self.t0_s = 0.0
        self._forecast: Forecast | None = None
        self._minute = _Minute()
        self._source = workflow.stage(workflow.sources()[0]).function  # its invocations count the requests
        self._calls = workflow.invocations_per_request()
        batch = int(getattr(resizer, "live_batch", 0) or 0)
        self._live = LiveBatches(workflow.name, batch) if self.config.live_evidence and batch > 0 else None

    @property
    def stats(self) -> dict[str, FunctionStats]:
        """What the pool policy is told about execution times (observed only; see the module docstring)."""
        return self.durations.stats({f: c.memory_mb for f, c in self.configs.items()})

    # ------------------------------------------------------------------ lifecycle
    def start(self, deploy_at_s: float | None = None) -> None:
        """Right-size (attempt 0) and deploy the workflow at the answer, at ``deploy_at_s`` if given (or as soon as
        the sizing is done, if it took longer); the run's clock starts then."""
        self._resize(0)
        if deploy_at_s is not None and deploy_at_s > self.platform.now_s:
            self.platform.advance(deploy_at_s)
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
        first: int = 0,
    ) -> list[TickRecord]:
        """Ticks ``first`` .. n_intervals - 1 (a run resumed after its first ticks starts past them);
        ``future_peak`` (n_functions, n_intervals) for a clairvoyant policy."""
        for k in range(first, n_intervals):
            self.tick(k, None if future_peak is None else future_peak[:, k])
            self._sub_ticks(k)
            if progress:
                progress((k + 1) / n_intervals)
        self._advance(self.t0_s + n_intervals * self.config.interval_s)
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
        now = self._advance(self.tick_time_s(k))
        minute, self._minute = self._minute, _Minute()
        last = self._observe()  # since the previous call of the policy (the last sub-tick, if it has them)
        minute.add(last)
        obs = minute.obs
        requests = 0
        if k > 0:
            column = np.array([obs[f].invocations if f in obs else 0 for f in self.functions], dtype=float)
            self.history = np.concatenate([self.history, column[:, None]], axis=1)
            requests = int(column[self.functions.index(self._source)]) // max(1, self._calls.get(self._source, 1))
        self._forecast = self._predict() if self.policy.needs_forecast else None
        seen = last if self.policy_interval_s else obs  # a sub-ticked policy sees the interval since its last call
        fell_back = self._apply_policy(now, seen if k > 0 else {}, future_peak)
        reason = self._maybe_retune(k)
        self._live_evidence()
        record = TickRecord(
            k, now, requests, sum(t.min_warm for t in self.pool.values()), self._forecast is not None, reason, fell_back
        )
        self.ticks.append(record)
        return record

    def _sub_ticks(self, k: int) -> None:
        """Calls of a short-interval policy between tick ``k`` and the next one."""
        p = self.policy_interval_s
        if p is None or p >= self.config.interval_s:
            return
        start = self.tick_time_s(k)
        for j in range(1, round(self.config.interval_s / p)):
            now = self._advance(start + j * p)
            obs = self._observe()
            self._minute.add(obs)
            self._apply_policy(now, obs, None)

    def _apply_policy(self, now: float, observed: Mapping[str, FunctionObservation], future: np.ndarray | None) -> bool:
        """Call the pool policy and apply what changed; True when the decision fell back on a safe default."""
        self.observed = dict(observed)
        context = PolicyContext(
            now_s=now,
            functions=self.functions,
            history=self.history,
            forecast=self._forecast,
            pool=self.pool,
            stats=self.stats,
            interval_s=self.policy_interval_s or self.config.interval_s,
            future_peak=future,
            state=self.policy_state,
            observed=self.observed,
        )
        decision, self.policy_state = self.policy(context)
        for f, target in decision.targets.items():
            if self.pool.get(f) != target:
                self.platform.set_pool(f, target)
                self.pool[f] = target
        fell_back = bool(getattr(decision, "fallback", None))
        self.fallback_ticks += fell_back
        return fell_back

    def _advance(self, when: float) -> float:
        """Advance the platform to ``when`` unless it is already past it (after a blocking re-tune); returns now."""
        if when > self.platform.now_s:
            self.platform.advance(when)
        return max(when, self.platform.now_s)

    def _observe(self) -> dict[str, FunctionObservation]:
        obs = self.platform.observe()
        self._count(obs)
        self.durations.update(obs)
        return obs

    def _count(self, obs: Mapping[str, FunctionObservation]) -> None:
        """Invocations and cold starts of this workflow's functions (a platform may show others: shadow copies)."""
        mine = [o for f, o in obs.items() if f in self.workflow.functions]
        self.invocations += sum(o.invocations for o in mine)
        self.cold_starts += sum(o.cold_starts for o in mine)

    def _predict(self) -> Forecast | None:
        if self.forecaster is None or self.history.shape[1] == 0:
            return None
        try:
            return self.forecaster.predict(self.history, horizon=1)
        except Exception as exc:  # a model failure must not stop the loop: it is recorded and the policy falls back
            self.forecast_failures.append(f"tick {len(self.ticks)}: {type(exc).__name__}: {exc}")
            return None

    # ------------------------------------------------------------------ right-sizing
    def _resize(self, attempt: int) -> None:
        if self.resizer is None:
            return
        outcome = self.resizer(attempt)
        self.sizings.append(outcome)
        self.tuning_evaluations += outcome.evaluations
        self.tuning_cost_usd += outcome.cost_usd
        if outcome.durations_s:
            self.durations.prime(outcome.durations_s)
        self._apply(outcome, deployed=attempt > 0)

    def _apply(self, outcome: SizingOutcome, deployed: bool) -> None:
        """Take ``outcome``'s configuration (applied with ``set_resources`` once the workflow is deployed)."""
        if outcome.config is None:
            return
        new = {f: outcome.config.get(f, self.configs[f]) for f in self.functions}
        if deployed:
            for f, cfg in new.items():
                if cfg != self.configs[f]:
                    self.platform.set_resources(f, cfg)
        self.configs = new
        if self._live is not None:
            self._live.reset(self.platform.now_s)

    def _live_evidence(self) -> None:
        """Live batches to the resizer (module docstring, step 5); a new answer is applied and kept in ``sizings``."""
        observe = getattr(self.resizer, "observe", None)
        if self._live is None or observe is None:
            return
        for batch in self._live.take(self.platform.request_records(), self.platform.now_s):
            outcome = observe(self.configs, batch)
            if outcome is not None and outcome.config is not None:
                self.sizings.append(outcome)
                self._apply(outcome, deployed=True)
                return

    def window_signal(self, k: int, window: int) -> WindowSignal:
        """Requests that finished in the last ``window`` intervals, their warm violations, and the request rate."""
        now = self.tick_time_s(k)
        since = now - window * self.config.interval_s
        qos = self.workflow.qos.latency_ms
        recent = [
            r for r in self.platform.request_records() if r.workflow == self.workflow.name and since < r.end_s <= now
        ]
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
