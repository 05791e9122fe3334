"""Replaying a trace on Ray under a named system (``aquatope run``), right-sized on real measurements.

The run mirrors one (workflow, system) run of ``aquatope evaluate``, on a real platform (:class:`RayPlatform`, or
:class:`ServePlatform` with ``platform="ray-serve"``) instead of the simulator: a segment of one trace function is
replayed (``minutes`` from ``start_minute``, by default the last ones; the minutes before train the forecaster), the
:class:`~aquatope.controller.Controller` right-sizes, deploys, ticks once per control interval and drains, and the
figures come from the platform's records with the simulator's definitions.

**Time.** ``speedup`` S (trace seconds per wall second, default 1: real time) compresses the gaps between arrivals,
never the work, so the cluster carries S times the trace's load (:mod:`aquatope.runtime.plan` estimates it; the run
prints the estimate first). The replay's lag behind the trace clock is tracked (:mod:`aquatope.runtime.lag`): with
``on_lag="stop"`` a replay that falls ``max_lag_s`` behind stops with :class:`ReplayLagError`; with ``"warn"`` it
goes on and the lag is in the results. Cold starts do not shrink, so the controller ticks ``lead_s`` trace seconds
early (default: a wall second's worth, at most half an interval) to pre-warm containers before their interval. The
replay starts ``warmup_intervals`` control intervals after deployment (default 1), so a pre-warming policy can act
before the first request; every system gets the same warm-up, and its container time is counted in the cost.

**Right-sizing** (systems that measure): ``tune_on="ray"`` (the default) measures the real functions on a staging
platform on the same cluster at speed-up 1, in a space clamped so that every configuration a measurement keeps warm
fits at once; its container cost is added to the run's. ``tune_on="sim"`` measures on a staging simulator over the
workflow's performance models (seconds, but the sizes were then never measured on what runs them). Re-tunes measure
where the first tuning did.

**Interrupts.** Ctrl-C during the replay raises :class:`RunInterrupted`, which accounts for every request (finished,
failed, in flight, not yet arrived) and carries the partial figures; the platform is shut down either way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.controller import Controller, ControllerConfig
from aquatope.errors import InputError
from aquatope.experiments.ray_sizing import PLATFORMS, RayOptions, RayResizer, ray_space, tune_on_ray
from aquatope.experiments.systems import (
    SYSTEMS,
    Budgets,
    DefaultResizer,
    MeasuredResizer,
    make_pool_policy,
    make_system_forecaster,
)
from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.resources import Pricing, ResourceSpace
from aquatope.runtime.lag import ReplayLagError
from aquatope.runtime.plan import ReplayEstimate, estimate_replay
from aquatope.sim import SimConfig
from aquatope.sim.metrics import RunMetrics, compute_metrics
from aquatope.sim.run import pick_function
from aquatope.sizing.base import SizingProblem
from aquatope.traces import InvocationTrace, expand_arrivals
from aquatope.workflow import Workflow

__all__ = [
    "PLATFORMS",
    "RUN_SYSTEMS",
    "RayOptions",
    "RayResizer",
    "RayRunResult",
    "RunInterrupted",
    "RunSpec",
    "plan_replay",
    "ray_space",
    "run_on_ray",
    "tune_on_ray",
]

RUN_SYSTEMS = tuple(s for s in SYSTEMS if s != "oracle")
"""Systems ``aquatope run`` supports (the oracle needs the future, which a real run does not have)."""
RUN_BUDGETS = Budgets(
    tuning_budget=12,
    samples_per_config=10,
    forecaster_params={"n_windows": 1500, "epochs": 3, "mc_passes": 16},
)
"""Smaller than ``aquatope evaluate``'s, so that a run starts within minutes on a laptop."""
DEFAULT_MAX_LAG_S = 60.0
"""A replay that has a request in flight for longer than this (wall seconds; at least 10 times the workflow's QoS
target) cannot keep up: 60 s is OpenWhisk's default action time limit, the longest a request should wait anyway."""


@dataclass(frozen=True)
class RayRunResult:
    """Figures of a run (the simulator's), how long it took, its lag, how limits were enforced, and its setup."""

    metrics: RunMetrics
    wall_s: float
    tuning_cost_usd: float
    enforcement: dict[str, list[str]]
    errors: dict[str, int]
    lag: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics.to_dict()
        out.update(wall_s=self.wall_s, tuning_cost_usd=self.tuning_cost_usd, enforcement=self.enforcement)
        out.update(errors=self.errors, lag=self.lag, estimate=self.estimate, setup=self.setup)
        out["interrupted"] = self.interrupted
        return out


class RunInterrupted(Exception):
    """Ctrl-C during a run: ``message`` accounts for every request; ``result`` has the figures so far (or None)."""

    def __init__(self, message: str, result: RayRunResult | None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


def split_trace(
    trace: InvocationTrace, row: int, minutes: int | None, start_minute: int | None, scale: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training counts, replay counts) of one trace row: ``minutes`` from ``start_minute`` (default: the last)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise InputError(f"must be a finite number > 0, got {scale}", field="--scale")
    counts = trace.select([row]).scale(scale, seed=seed).counts[0] if scale != 1.0 else trace.counts[row]
    n = counts.size if minutes is None else minutes
    if not 1 <= n <= counts.size:
        raise InputError(f"must be between 1 and the trace's {counts.size} minutes, got {n}", field="--minutes")
    start = counts.size - n if start_minute is None else start_minute
    if not 0 <= start <= counts.size - n:
        raise InputError(
            f"must be between 0 and {counts.size - n} for {n} minutes of a {counts.size}-minute trace, got {start}",
            field="--start-minute",
        )
    replay = counts[start : start + n]
    if replay.sum() == 0:
        raise InputError(f"the trace function has no invocations in minutes {start}-{start + n}", field="--trace")
    return counts[:start].astype(float), replay.astype(np.int64)


def max_lag_for(workflow: Workflow) -> float:
    """The default lag limit of a replay of ``workflow`` (:data:`DEFAULT_MAX_LAG_S`)."""
    return max(DEFAULT_MAX_LAG_S, 10.0 * workflow.qos.latency_ms / 1000.0)


@dataclass(frozen=True)
class RunSpec:
    """One run: which system, which segment of which trace row, at which speed-up, sized where, judged how."""

    system: str = "openwhisk"
    minutes: int | None = None
    start_minute: int | None = None
    speedup: float = 1.0
    function: str | None = None
    scale: float = 1.0
    seed: int = 0
    tune_on: str = "ray"
    on_lag: str = "stop"
    max_lag_s: float | None = None
    lead_s: float | None = None
    warmup_intervals: int = 1
    pricing: str = "cloud-run"

    def __post_init__(self) -> None:
        if self.system not in RUN_SYSTEMS:
            raise InputError(
                f"unknown system {self.system!r}; choose one of {', '.join(RUN_SYSTEMS)}", field="--system"
            )
        if not (self.speedup > 0 and math.isfinite(self.speedup)):
            raise InputError(f"must be a finite number > 0, got {self.speedup}", field="--speedup")
        if self.tune_on not in ("sim", "ray"):
            raise InputError(f"must be sim or ray, got {self.tune_on!r}", field="--tune-on")
        if self.on_lag not in ("stop", "warn"):
            raise InputError(f"must be stop or warn, got {self.on_lag!r}", field="--on-lag")
        if self.max_lag_s is not None and not self.max_lag_s > 0:
            raise InputError(f"must be > 0 seconds, got {self.max_lag_s}", field="--max-lag")
        if self.warmup_intervals < 0:
            raise InputError(f"must be >= 0, got {self.warmup_intervals}", field="warmup_intervals")


def plan_replay(workflow: Workflow, trace: InvocationTrace, spec: RunSpec, ray: RayOptions) -> ReplayEstimate:
    """What the replay of ``spec`` needs against the cluster (``aquatope run --dry-run``; nothing is deployed)."""
    row = pick_function(trace, spec.function)
    _, replay = split_trace(trace, row, spec.minutes, spec.start_minute, spec.scale, spec.seed)
    per_request = replay  # one request per trace invocation of the driving function
    return estimate_replay(workflow, workflow.default_configs(), per_request, spec.speedup, ray.cluster_cpu())


def run_on_ray(
    workflow: Workflow,
    trace: InvocationTrace,
    spec: RunSpec | None = None,
    *,
    ray: RayOptions | None = None,
    budgets: Budgets = RUN_BUDGETS,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> RayRunResult:
    """Replay ``trace`` on Ray under ``spec.system`` (see the module docstring); returns the run's figures.
    ``progress(what, fraction)`` follows the run; ``notify(line)`` receives one-line notes (the replay's estimate)."""
    spec = spec or RunSpec()
    ray = ray or RayOptions()
    row = pick_function(trace, spec.function)
    train, replay = split_trace(trace, row, spec.minutes, spec.start_minute, spec.scale, spec.seed)
    return _Run(workflow, trace, row, train, replay, spec, ray, budgets, progress, notify).execute()


def run_metrics(
    requests: list[RequestRecord],
    containers: list[ContainerRecord],
    qos_ms: float,
    invocations: int,
    cold_starts: int,
    pricing: Pricing,
    horizon_s: float,
) -> RunMetrics:
    """The simulator's figures (:func:`aquatope.sim.metrics.compute_metrics`) from a platform's records."""
    lat = np.array([r.latency_ms for r in requests], dtype=float)
    failed = np.array([r.failed for r in requests], dtype=bool)
    columns = {
        "fid": np.zeros(len(containers), dtype=np.int64),
        "start": np.array([c.start_s for c in containers], dtype=float),
        "ready": np.array([min(c.ready_s, c.end_s) for c in containers], dtype=float),
        "end": np.array([c.end_s for c in containers], dtype=float),
        "busy": np.array([c.busy_s for c in containers], dtype=float),
        "cpu": np.array([c.config.cpu for c in containers], dtype=float),
        "memory_gb": np.array([c.config.memory_gb for c in containers], dtype=float),
    }
    return compute_metrics(
        latency_ms=lat,
        failed=failed,
        targets_ms=np.full(lat.size, qos_ms),
        invocations=invocations,
        cold_starts=cold_starts,
        containers=columns,
        pricing=pricing,
        horizon_s=horizon_s,
    )


Progress = Callable[[str, float], None]
Notify = Callable[[str], None]


class _Run:
    """One replay (``run_on_ray``): build the controller, right-size, replay, drain, and collect the figures."""

    def __init__(
        self,
        workflow: Workflow,
        trace: InvocationTrace,
        row: int,
        train: np.ndarray,
        replay: np.ndarray,
        spec: RunSpec,
        ray: RayOptions,
        budgets: Budgets,
        progress: Progress | None,
        notify: Notify | None,
    ) -> None:
        self.wf, self.trace, self.row, self.train, self.replay = workflow, trace, row, train, replay
        self.spec, self.ray, self.budgets = spec, ray, budgets
        self.progress = progress or (lambda what, fraction: None)
        self.notify = notify or (lambda line: None)
        self.prices = Pricing.named(spec.pricing)
        self.interval = ControllerConfig().interval_s
        self.limit_s = spec.max_lag_s if spec.max_lag_s is not None else max_lag_for(workflow)
        self.began = time.perf_counter()
        self.estimate: ReplayEstimate | None = None

    def execute(self) -> RayRunResult:
        controller = None
        platform = self.ray.make(self.spec.speedup, self.prices, self.limit_s if self.spec.on_lag == "stop" else None)
        try:
            controller = self._controller(platform)
            self.progress("right-sizing" if SYSTEMS[self.spec.system].sizing != "default" else "deploying", 0.0)
            controller.start()
            n_ticks = self._submit(controller, platform)
            controller.run(n_ticks, progress=lambda f: self.progress("replaying", f))
            controller.finish()
            return self._result(controller, platform, n_ticks * self.interval)
        except KeyboardInterrupt:
            raise self._interrupted(controller, platform) from None
        except ReplayLagError as exc:
            raise InputError(
                f"{exc}. This cluster cannot keep up at speed-up {self.spec.speedup:g}: lower --speedup or --scale, "
                "or add nodes (aquatope run --dry-run estimates the CPU a replay needs)",
                field="--speedup",
            ) from None
        finally:
            platform.shutdown()

    def _controller(self, platform: Any) -> Controller:
        system = SYSTEMS[self.spec.system]
        calls = self.wf.invocations_per_request()
        history = np.stack([self.train * calls[f] for f in self.wf.function_names])
        forecaster = make_system_forecaster(system, self.budgets, self.spec.seed)
        if forecaster is not None:
            self.progress("training the forecaster", 0.0)
            forecaster.fit(history)
        lead = self.spec.lead_s
        if lead is None:
            lead = min(self.interval / 2, max(2.0, self.spec.speedup))
        return Controller(
            platform,
            self.wf,
            make_pool_policy(system),
            forecaster=forecaster,
            resizer=self._resizer(),
            config=ControllerConfig(lead_s=lead),
            history=history,
        )

    def _resizer(self) -> Any:
        system, spec = SYSTEMS[self.spec.system], self.spec
        if system.sizing == "default":
            return DefaultResizer(self.wf)
        problem = SizingProblem(self.wf, ResourceSpace.decoupled(), self.prices, self.budgets.tuning_budget, spec.seed)
        if spec.tune_on == "ray":
            return RayResizer(problem, system.sizing, self.budgets, spec.seed, self.ray)
        return MeasuredResizer(problem, system.sizing, self.budgets, SimConfig(pricing=spec.pricing), spec.seed)

    def _submit(self, controller: Controller, platform: Any) -> int:
        """Submit the replay's arrivals (after the warm-up) and say what it needs; returns the ticks to run."""
        cpu, _ = platform.cluster_capacity()
        self.estimate = estimate_replay(self.wf, controller.configs, self.replay, self.spec.speedup, cpu)
        self.notify(f"replay: {self.estimate.summary()}")
        rng = np.random.default_rng(self.spec.seed)
        offset = controller.t0_s + self.spec.warmup_intervals * self.interval
        platform.submit(self.wf.name, offset + expand_arrivals(self.replay, mode="poisson", rng=rng))
        return self.spec.warmup_intervals + int(self.replay.size)

    def _result(self, controller: Controller, platform: Any, horizon_s: float, note: str | None = None) -> RayRunResult:
        requests, containers = platform.request_records(), platform.container_records()
        obs = platform.observe()  # what the controller has not counted yet (an interrupted run)
        invocations = controller.invocations + sum(o.invocations for o in obs.values())
        cold = controller.cold_starts + sum(o.cold_starts for o in obs.values())
        qos = self.wf.qos.latency_ms
        metrics = run_metrics(requests, containers, qos, invocations, cold, self.prices, horizon_s)
        errors: dict[str, int] = {}
        for r in requests:
            if r.error:
                errors[r.error] = errors.get(r.error, 0) + 1
        lag = platform.lag_report().to_dict()
        lag["limit_s"] = self.limit_s
        lag["over_limit"] = lag["max_lag_s"] > self.limit_s
        estimate = self.estimate.to_dict() if self.estimate is not None else {}
        wall = time.perf_counter() - self.began
        setup = self._setup(controller)
        tuning = controller.tuning_cost_usd
        return RayRunResult(metrics, wall, tuning, platform.enforcement(), errors, lag, estimate, setup, note)

    def _interrupted(self, controller: Controller | None, platform: Any) -> RunInterrupted:
        if controller is None or self.estimate is None:
            return RunInterrupted("interrupted before the replay started; nothing was left running", None)
        records = platform.request_records()
        failed = sum(r.failed for r in records)
        in_flight, pending = platform.in_flight(), platform.requests_pending()
        now = max(0.0, platform.now_s - controller.t0_s - self.spec.warmup_intervals * self.interval)
        note = (
            f"interrupted at trace second {now:,.0f} of {self.replay.size * 60:,}: {len(records):,} requests "
            f"finished ({failed:,} failed); {in_flight:,} in flight and {pending:,} not yet arrived were abandoned "
            f"(of {int(self.replay.sum()):,} submitted)"
        )
        horizon = max(platform.now_s - controller.t0_s, 1e-9)
        return RunInterrupted(note, self._result(controller, platform, horizon, note))

    def _setup(self, controller: Controller) -> dict[str, Any]:
        spec, system = self.spec, SYSTEMS[self.spec.system]
        return {
            "mode": self.ray.platform,
            "workflow": self.wf.name,
            **{k: v for k, v in asdict(spec).items() if k not in ("minutes", "start_minute")},
            "prewarm": system.prewarm,
            "sizing": system.sizing if system.sizing == "default" else f"{system.sizing} on {spec.tune_on}",
            "trace": self.trace.source,
            "trace_function": self.trace.function_ids[self.row] if self.trace.function_ids else str(self.row),
            "minutes": int(self.replay.size),
            "start_minute": int(self.train.size),
            "max_lag_s": self.limit_s,
            "configs": {f: c.to_dict() for f, c in controller.configs.items()},
            "sizing_notes": [s.note for s in controller.sizings],
            "budgets": asdict(self.budgets),
            "ray_address": self.ray.address,
        }
