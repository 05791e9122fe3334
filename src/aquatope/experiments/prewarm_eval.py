"""Pre-warming evaluation: replay the test part of a trace under several pool policies and compare them.

Protocol (``evaluate_prewarm``):

1. Split the trace by minutes: the first ``train_minutes`` train the forecaster, the rest is replayed. Default:
   every full day but the last of a multi-day trace, else the first two thirds (960 of 1,440 minutes).
2. Fit the forecaster once on the train counts ``(n_functions, train_minutes)``.
3. Replay the test part in single-function mode, one simulator per policy, all in lockstep and with the same
   arrivals and seed. Control interval: one trace minute (60 s). Tick ``k`` happens at ``60 k - lead_s`` (the
   cold-start lead, so pre-warmed containers are ready when interval ``k`` starts; tick 0 at 0). At each tick:
   ``observe()`` every simulator and append the invocations since the previous tick to the history (they are the
   same for every policy; with ``lead_s > 0`` this column is the minute shifted ``lead_s`` earlier), make ONE
   batched ``predict(history, horizon=1)`` for all functions, then each (safety-wrapped) policy decides and its
   targets are applied with ``set_pool``. Each policy also sees its own simulator's observation of the interval
   that just ended (``PolicyContext.observed``: peak concurrency and cold starts under its pool) and the mean
   execution times its platform observed so far (``PolicyContext.stats``, from
   :class:`~aquatope.controller.ObservedDurations`; never the simulator's perf models). A failing
   ``predict`` gives no forecast for that tick: policies that need one fall back (their ``fallback_ticks`` count
   it).
4. When the test part ends every pool is set to :data:`END_POOL` (no floor, no keep-alive) and the simulators
   drain: invocations still running finish, and idle containers are released as they fall idle, the same for
   every policy.
5. Per policy: :func:`aquatope.experiments.simulate.summarize` figures. Per forecaster (the one the policies use, plus
   ``compare``; each fitted on the same train counts and asked at every tick with the same history the replay
   built): MAE of the median and coverage of the central 90% interval of its one-step forecasts against the true
   test counts, overall, per rate class of the train part (:func:`aquatope.forecast.rate_classes`) and per
   component (what served each function: ``lstm``, ``phase``, ``moving-average`` for bayes-lstm; the forecaster's
   own name for the baselines; ``failure`` when its fit raised, in which case the policies run without forecasts
   and count it in ``fallback_ticks``).

The oracle is handed, at tick ``k``, the true peak concurrency of the windows of ticks ``k`` and ``k + 1``
(containers it starts are ready a cold start later, so it provisions one window ahead), measured by a dry run of
the same arrivals and seed in which every container stays warm (see ``_Replay._future_peaks``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.controller import ObservedDurations
from aquatope.errors import InputError
from aquatope.experiments.replay_forecasters import (
    FailedForecaster,
    check_fitted_functions,
    fit_or_error,
    resolve_forecaster,
    served_components,
)
from aquatope.experiments.simulate import replay_arrivals, summarize
from aquatope.forecast import RATE_CLASSES, Forecast, Forecaster, forecast_accuracy, rate_classes
from aquatope.platform import FunctionObservation, PoolTarget
from aquatope.prewarm import (
    DEFAULT_INTERVAL_S,
    PolicyContext,
    PoolPolicy,
    SafePolicy,
    SafetyConfig,
    make_policy,
)
from aquatope.prewarm.forecast_pool import ONSET_FLOOR_REASON
from aquatope.sim.config import SimConfig
from aquatope.sim.engine import Simulator
from aquatope.sim.singlefn import single_function_workflows
from aquatope.traces import InvocationTrace
from aquatope.workflow import Workflow

ProgressFn = Callable[[float], None]
DEFAULT_POLICIES = ("keepalive:600", "hybrid-histogram", "aquatope:q=0.9", "clairvoyant-interval")
SWEEP_Q = (0.5, 0.7, 0.9, 0.95, 0.99)
MINUTES_PER_DAY = 1440
END_POOL = PoolTarget(0, 0.0)
"""Applied to every function of every policy when the test part ends, so that no policy is charged idle time for
containers its last target would keep while the remaining invocations drain (hours for long-running functions)."""


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate; every field is recorded in the result's ``setup``."""

    policies: tuple[str | PoolPolicy, ...] = DEFAULT_POLICIES  # specs, or policy objects (ablations)
    forecaster: str = "ewma"
    compare: tuple[str, ...] = ()  # further forecasters whose accuracy is reported (not used by the policies)
    train_minutes: int | None = None
    functions: int | None = None
    sweep_q: tuple[float, ...] = ()
    lead_s: float = 2.0
    seed: int = 0
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    sim: SimConfig = field(default_factory=SimConfig)

    def __post_init__(self) -> None:
        if not self.policies:
            raise InputError("no pool policy given", field="--policies")
        if self.functions is not None and self.functions < 1:
            raise InputError(f"must be >= 1, got {self.functions}", field="--functions")
        if not (0 <= self.lead_s < DEFAULT_INTERVAL_S):
            raise InputError(f"must be in [0, {DEFAULT_INTERVAL_S:g}), got {self.lead_s}", field="lead_s")


@dataclass(frozen=True)
class PrewarmEvalResult:
    """Per-policy figures, per-forecaster accuracy, the aquatope q sweep (if asked) and the setup."""

    policies: dict[str, dict[str, float]]
    forecasters: dict[str, dict[str, Any]]
    sweep: list[dict[str, float]]
    setup: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"policies": self.policies, "forecasters": self.forecasters, "sweep": self.sweep, "setup": self.setup}


def default_train_minutes(n_minutes: int) -> int:
    """Every full day but the last of a multi-day trace; else the first two thirds."""
    if n_minutes >= 2 * MINUTES_PER_DAY:
        return (n_minutes // MINUTES_PER_DAY - 1) * MINUTES_PER_DAY
    return (2 * n_minutes) // 3


def split_trace(trace: InvocationTrace, train_minutes: int | None) -> tuple[InvocationTrace, InvocationTrace]:
    """(train, test) by minutes; both parts must be non-empty."""
    train = default_train_minutes(trace.n_minutes) if train_minutes is None else int(train_minutes)
    if not 1 <= train < trace.n_minutes:
        raise InputError(
            f"must be in [1, {trace.n_minutes - 1}] for a trace of {trace.n_minutes} minutes, got {train}",
            field="--train-minutes",
        )
    return trace.slice_minutes(0, train), trace.slice_minutes(train, trace.n_minutes)


def _policy_list(config: EvalConfig) -> list[tuple[PoolPolicy, bool]]:
    """(wrapped policy, reported as a main policy) for the policies and the extra sweep points."""
    out: list[tuple[PoolPolicy, bool]] = []
    names: set[str] = set()
    for spec in config.policies:
        policy = SafePolicy(make_policy(spec) if isinstance(spec, str) else spec, config.safety)
        if policy.name in names:
            raise InputError(f"policy {policy.name} given twice", field="--policies")
        names.add(policy.name)
        out.append((policy, True))
    for q in config.sweep_q:
        policy = SafePolicy(make_policy(f"aquatope:q={q:g}"), config.safety)
        if policy.name not in names:
            names.add(policy.name)
            out.append((policy, False))
    return out


@dataclass
class _Lane:
    """One policy's simulator and state during the lockstep replay."""

    policy: PoolPolicy
    report: bool
    sim: Simulator
    state: Any = None
    pool: dict[str, PoolTarget] = field(default_factory=dict)
    fallback_ticks: int = 0
    floor_decisions: int = 0
    observed: dict[str, FunctionObservation] = field(default_factory=dict)
    durations: ObservedDurations = field(default_factory=lambda: ObservedDurations(()))


class _Replay:
    """The lockstep control loop (see the module docstring)."""

    def __init__(self, test: InvocationTrace, lanes: list[_Lane], config: EvalConfig):
        self.config = config
        self.test = test
        self.lanes = lanes
        fset = single_function_workflows(test)
        self.functions = tuple(wf.name for wf in fset.workflows)
        self.memory_mb = {wf.name: next(iter(wf.functions.values())).resources.memory_mb for wf in fset.workflows}
        rng = np.random.default_rng(config.seed)
        self.arrivals = [replay_arrivals(test.counts[i], config.sim.arrival_mode, rng) for i in range(test.n_functions)]
        for lane in lanes:
            lane.durations = ObservedDurations(self.functions)
            for i, wf in enumerate(fset.workflows):
                lane.sim.deploy(wf)
                if self.arrivals[i].size:
                    lane.sim.submit(wf.name, self.arrivals[i])
        self.observed_counts = np.zeros((test.n_functions, 0))
        self.ticks = np.maximum(0.0, np.arange(test.n_minutes + 1) * DEFAULT_INTERVAL_S - config.lead_s)
        self.future_peak = (
            self._future_peaks(fset.workflows) if any(lane.policy.needs_future for lane in lanes) else None
        )

    def _future_peaks(self, workflows: Sequence[Workflow]) -> np.ndarray:
        """True peak concurrency per function and tick window, shape ``(n_functions, n_ticks)``.

        Measured by a dry run of the same arrivals and seed in which every container stays warm for the whole
        replay: the peak number of invocations in flight per window (``observe().peak_concurrency``) is then exactly
        the number of containers each window needs, with the execution times the real run draws (its latency
        stream is consumed in the same order, since that run is warm too).
        """
        dry = Simulator(self.config.sim, seed=self.config.seed, default_pool=PoolTarget(0, 10 * 86400.0))
        for i, wf in enumerate(workflows):
            dry.deploy(wf)
            if self.arrivals[i].size:
                dry.submit(wf.name, self.arrivals[i])
        out = np.zeros((len(workflows), self.test.n_minutes), dtype=np.int64)
        for k in range(self.test.n_minutes):
            dry.advance(float(self.ticks[k]))
            dry.observe()  # reset the window: what follows is window k
            dry.advance(float(self.ticks[k + 1]) if k + 1 < self.test.n_minutes else float(self.ticks[k]) + 60.0)
            obs = dry.observe()
            out[:, k] = [obs[wf.name].peak_concurrency for wf in workflows]
        # containers started at tick k are ready only a cold start later, so tick k also provisions window k + 1
        ahead = np.concatenate([out[:, 1:], out[:, -1:]], axis=1)
        return np.maximum(out, ahead)

    def run(self, history: np.ndarray, forecaster: Forecaster, progress: ProgressFn | None) -> list[Forecast | None]:
        """Replay every tick; returns the one-step forecast made at each tick (None where predict failed)."""
        forecasts: list[Forecast | None] = []
        n_ticks = self.test.n_minutes
        start = history.shape[1]
        for k in range(n_ticks):
            history = self._observe(k, history)
            forecast = self.predict_or_none(forecaster, history)
            forecasts.append(forecast)
            for lane in self.lanes:
                self._decide(lane, k, history, forecast)
            if progress:
                progress((k + 1) / n_ticks)
        for lane in self.lanes:
            lane.sim.advance(n_ticks * DEFAULT_INTERVAL_S)
            for f in self.functions:  # the trace is over: release every container once its work is done
                lane.sim.set_pool(f, END_POOL)
            lane.sim.advance(math.inf)
        self.observed_counts = history[:, start:]  # what the replay observed, for other forecasters' accuracy
        return forecasts

    def _observe(self, k: int, history: np.ndarray) -> np.ndarray:
        column = None
        for lane in self.lanes:
            lane.sim.advance(float(self.ticks[k]))
            obs = lane.sim.observe()
            lane.observed = obs if k > 0 else {}
            lane.durations.update(lane.observed)
            if column is None:
                column = np.array([obs[f].invocations for f in self.functions], dtype=float)
        if k == 0 or column is None:
            return history
        return np.concatenate([history, column[:, None]], axis=1)

    @staticmethod
    def predict_or_none(forecaster: Forecaster, history: np.ndarray) -> Forecast | None:
        try:
            return forecaster.predict(history, horizon=1)
        except Exception:  # a model failure must not stop the replay: policies fall back, and it is counted
            return None

    def _decide(self, lane: _Lane, k: int, history: np.ndarray, forecast: Forecast | None) -> None:
        context = PolicyContext(
            now_s=float(self.ticks[k]),
            functions=self.functions,
            history=history,
            forecast=forecast,
            pool=lane.pool,
            stats=lane.durations.stats(self.memory_mb),  # what this lane's platform observed, never perf models
            interval_s=DEFAULT_INTERVAL_S,
            future_peak=None if self.future_peak is None else self.future_peak[:, k],
            state=lane.state,
            observed=lane.observed,
        )
        decision, lane.state = lane.policy(context)
        if "*" in decision.reasons and decision.reasons["*"].startswith("fallback"):
            lane.fallback_ticks += 1
        lane.floor_decisions += sum(r == ONSET_FLOOR_REASON for r in decision.reasons.values())
        for f, target in decision.targets.items():
            if lane.pool.get(f) != target:
                lane.sim.set_pool(f, target)
                lane.pool[f] = target


def _policy_figures(lane: _Lane, horizon_s: float) -> dict[str, float]:
    m = summarize(lane.sim, horizon_s, per_workflow=False)
    return {
        "cold_start_rate": m.cold_start_rate,
        "idle_gb_s": m.idle_gb_s,
        "cost_usd": m.cost_usd["total"],
        "p99_latency_ms": m.latency_ms["p99"],
        "invocations": m.invocations,
        "cold_starts": m.cold_starts,
        "qos_violation_rate": m.qos_violation_rate,
        "mean_warm_containers": m.mean_warm_containers,
        "fallback_ticks": lane.fallback_ticks,
        "onset_floor_decisions": lane.floor_decisions,
    }


def _compare(
    config: EvalConfig, skip: str, train: np.ndarray, history: np.ndarray, actual: np.ndarray, classes: list[str]
) -> dict[str, dict[str, Any]]:
    """Accuracy of the ``compare`` forecasters: each fitted on ``train`` and asked at every tick with the same
    history prefix the replay used (``history``: train then the observed columns)."""
    out: dict[str, dict[str, Any]] = {}
    for name in (c for c in config.compare if c != skip):
        model = resolve_forecaster(name, config.seed)
        error = fit_or_error(model, train, False)
        runner = FailedForecaster() if error else model
        start = train.shape[1]
        preds = [_Replay.predict_or_none(runner, history[:, : start + k]) for k in range(actual.shape[1])]
        out[name] = forecast_accuracy(preds, actual, classes, served_components(model, actual.shape[0], error))
        if error:
            out[name]["fit_error"] = error
    return out


def _setup(
    config: EvalConfig, trace: InvocationTrace, train: InvocationTrace, test: InvocationTrace, name: str
) -> dict[str, Any]:
    return {
        "trace": trace.source,
        "functions": trace.n_functions,
        "train_minutes": train.n_minutes,
        "test_minutes": test.n_minutes,
        "interval_s": DEFAULT_INTERVAL_S,
        "lead_s": config.lead_s,
        "forecaster": name,
        "compare": list(config.compare),
        "policies": [p if isinstance(p, str) else p.name for p in config.policies],
        "sweep_q": list(config.sweep_q),
        "safety": vars(config.safety),
        "sim": config.sim.to_dict(),
        "seed": config.seed,
    }


def evaluate_prewarm(
    trace: InvocationTrace,
    config: EvalConfig | None = None,
    *,
    forecaster: Forecaster | None = None,
    prefitted: bool = False,
    progress: ProgressFn | None = None,
) -> PrewarmEvalResult:
    """Run the protocol of the module docstring; ``forecaster`` overrides ``config.forecaster`` (e.g. in tests)."""
    config = config or EvalConfig()
    if config.functions is not None:
        trace = trace.select(list(range(min(config.functions, trace.n_functions))))
    train, test = split_trace(trace, config.train_minutes)
    model = forecaster or resolve_forecaster(config.forecaster, config.seed)
    name = str(getattr(model, "name", config.forecaster))
    train_counts, actual = train.counts.astype(float), test.counts.astype(float)
    if prefitted:
        check_fitted_functions(model, trace.n_functions)
    error = fit_or_error(model, train_counts, prefitted)
    lanes = [_Lane(p, report, Simulator(config.sim, seed=config.seed)) for p, report in _policy_list(config)]
    replay = _Replay(test, lanes, config)
    forecasts = replay.run(train_counts, FailedForecaster() if error else model, progress)
    figures = {lane.policy.name: _policy_figures(lane, test.n_minutes * DEFAULT_INTERVAL_S) for lane in lanes}
    classes = [RATE_CLASSES[k] for k in rate_classes(train_counts)]
    accuracy = {name: forecast_accuracy(forecasts, actual, classes, served_components(model, trace.n_functions, error))}
    if error:
        accuracy[name]["fit_error"] = error
    elif hasattr(model, "validation_report"):
        accuracy[name]["validation"] = model.validation_report.to_dict()
    history = np.concatenate([train_counts, replay.observed_counts], axis=1)
    accuracy.update(_compare(config, name, train_counts, history, actual, classes))
    return PrewarmEvalResult(
        policies={lane.policy.name: figures[lane.policy.name] for lane in lanes if lane.report},
        forecasters=accuracy,
        sweep=[{"q": q, **figures[f"aquatope:q={q:g}"]} for q in config.sweep_q],
        setup=_setup(config, trace, train, test, name),
    )
