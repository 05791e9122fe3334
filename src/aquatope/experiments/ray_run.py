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
early to pre-warm containers before their interval (default: a wall second's worth, or the start-up times observed
during the warm-up if longer, at most half an interval). The replay starts after a warm-up of at least
``warmup_intervals`` control intervals (default 1) and until the containers the first tick asked for are ready (at
most 5 intervals; :mod:`aquatope.experiments.warmup`), so a pre-warming policy is measured in steady state; every
system gets the same warm-up, and its container time is counted in the cost.

**Right-sizing** (systems that measure): ``tune_on="ray"`` (the default) measures the real functions on a staging
platform on the same cluster at speed-up 1, in a space clamped so that every configuration a measurement keeps warm
fits at once; its container cost is added to the run's. ``tune_on="sim"`` measures on a staging simulator over the
workflow's performance models (seconds, but the sizes were then never measured on what runs them). Re-tunes measure
where the first tuning did.

**Interrupts.** Ctrl-C during the replay raises :class:`RunInterrupted`, which accounts for every request (finished,
failed, in flight, not yet arrived) and carries the partial figures; the platform is shut down either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from aquatope.controller import Controller, ControllerConfig
from aquatope.errors import InputError
from aquatope.experiments.ray_sizing import PLATFORMS, RayOptions, RayResizer, ray_space, tune_on_ray
from aquatope.experiments.run_spec import (
    DEFAULT_MAX_LAG_S,
    RUN_BUDGETS,
    RUN_SYSTEMS,
    RayRunResult,
    RunInterrupted,
    RunSpec,
    max_lag_for,
    run_system_spec,
    split_trace,
)
from aquatope.experiments.simulate import pick_function
from aquatope.experiments.systems import (
    Budgets,
    DefaultResizer,
    MeasuredResizer,
    MeasurementPlace,
    make_pool_policy,
    make_system_forecaster,
)
from aquatope.experiments.warmup import observed_lead_s, wait_until_ready
from aquatope.metrics import metrics_from_records
from aquatope.resources import Pricing, ResourceSpace
from aquatope.runtime.lag import ReplayLagError
from aquatope.runtime.plan import ReplayEstimate, estimate_replay
from aquatope.sim import SimConfig, Simulator
from aquatope.sizing.base import SizingProblem
from aquatope.traces import InvocationTrace, expand_arrivals
from aquatope.workflow import Workflow

__all__ = [
    "DEFAULT_MAX_LAG_S",
    "PLATFORMS",
    "RUN_SYSTEMS",
    "RayOptions",
    "RayResizer",
    "RayRunResult",
    "RunInterrupted",
    "RunSpec",
    "max_lag_for",
    "plan_replay",
    "ray_space",
    "run_on_platform",
    "run_on_ray",
    "run_system_spec",
    "split_trace",
    "tune_on_ray",
]


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


def run_on_platform(
    workflow: Workflow,
    trace: InvocationTrace,
    spec: RunSpec,
    make_platform: PlatformFactory,
    mode: str,
    *,
    budgets: Budgets = RUN_BUDGETS,
) -> RayRunResult:
    """The same run on another platform (``make_platform``, e.g. a simulator: ``bench/sim_vs_ray.py``), labelled
    ``mode``; systems that right-size on Ray need :func:`run_on_ray`."""
    row = pick_function(trace, spec.function)
    train, replay = split_trace(trace, row, spec.minutes, spec.start_minute, spec.scale, spec.seed)
    run = _Run(workflow, trace, row, train, replay, spec, RayOptions(), budgets, None, None, make_platform, mode)
    return run.execute()


Progress = Callable[[str, float], None]
Notify = Callable[[str], None]
PlatformFactory = Callable[[float, Pricing, "float | None"], Any]
"""``(speedup, pricing, lag limit or None) -> platform``: what a run replays on."""


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
        make_platform: PlatformFactory | None = None,
        mode: str | None = None,
    ) -> None:
        self.wf, self.trace, self.row, self.train, self.replay = workflow, trace, row, train, replay
        self.spec, self.ray, self.budgets = spec, ray, budgets
        self.make_platform = make_platform or ray.make
        self.mode = mode or ray.platform
        self.progress = progress or (lambda what, fraction: None)
        self.notify = notify or (lambda line: None)
        self.prices = Pricing.named(spec.pricing)
        self.interval = ControllerConfig().interval_s
        self.limit_s = spec.max_lag_s if spec.max_lag_s is not None else max_lag_for(workflow)
        self.began = time.perf_counter()
        self.estimate: ReplayEstimate | None = None
        self.warmup = spec.warmup_intervals

    def execute(self) -> RayRunResult:
        controller = None
        platform = self.make_platform(
            self.spec.speedup, self.prices, self.limit_s if self.spec.on_lag == "stop" else None
        )
        try:
            controller = self._controller(platform)
            self.progress("right-sizing" if run_system_spec(self.spec.system).measured else "deploying", 0.0)
            controller.start()
            first = self._warm_up(controller, platform)
            n_ticks = self._submit(controller, platform)
            controller.run(n_ticks, progress=lambda f: self.progress("replaying", f), first=first)
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
            close = getattr(platform, "shutdown", None)  # a real platform releases its containers; a simulator has none
            if close is not None:
                close()

    def _controller(self, platform: Any) -> Controller:
        system = run_system_spec(self.spec.system)
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
        system, spec = run_system_spec(self.spec.system), self.spec
        if not system.measured:
            return DefaultResizer(self.wf)
        problem = SizingProblem(self.wf, ResourceSpace.decoupled(), self.prices, self.budgets.tuning_budget, spec.seed)
        if spec.tune_on == "ray":
            return RayResizer(problem, system.sizer, self.budgets, spec.seed, self.ray)
        sim = SimConfig(pricing=spec.pricing)
        place = MeasurementPlace(problem, staging=lambda seed: Simulator(sim, seed=seed))
        return MeasuredResizer(problem, system.sizer, self.budgets, place, spec.seed)

    def _submit(self, controller: Controller, platform: Any) -> int:
        """Submit the replay's arrivals (after the warm-up) and say what it needs; returns the ticks to run."""
        if hasattr(platform, "cluster_capacity"):  # a real platform (the simulator has no wall clock to keep up with)
            cpu, _ = platform.cluster_capacity()
            self.estimate = estimate_replay(self.wf, controller.configs, self.replay, self.spec.speedup, cpu)
            self.notify(f"replay: {self.estimate.summary()}")
        rng = np.random.default_rng(self.spec.seed)
        offset = controller.t0_s + self.warmup * self.interval
        platform.submit(self.wf.name, offset + expand_arrivals(self.replay, mode="poisson", rng=rng))
        return self.warmup + int(self.replay.size)

    def _warm_up(self, controller: Controller, platform: Any) -> int:
        """The warm-up (:mod:`aquatope.experiments.warmup`): tick 0, wait until the pool's containers are ready, and
        take the lead from their start-up times (unless the spec fixes it); the first tick still to run."""
        if self.spec.warmup_intervals == 0:
            return 0
        self.progress("warming up", 0.0)
        controller.run(1)
        self.warmup = wait_until_ready(platform, controller.t0_s, self.interval, self.spec.warmup_intervals)
        if self.spec.lead_s is None:
            lead = observed_lead_s(platform.container_records(), controller.config.lead_s, self.interval)
            controller.config = replace(controller.config, lead_s=lead)
        return 1

    def _result(self, controller: Controller, platform: Any, horizon_s: float, note: str | None = None) -> RayRunResult:
        requests, containers = platform.request_records(), platform.container_records()
        obs = platform.observe()  # what the controller has not counted yet (an interrupted run)
        metrics = metrics_from_records(
            requests,
            containers,
            target_ms=self.wf.qos.latency_ms,
            quantile=self.wf.qos.quantile,
            invocations=controller.invocations + sum(o.invocations for o in obs.values()),
            cold_starts=controller.cold_starts + sum(o.cold_starts for o in obs.values()),
            pricing=self.prices,
            horizon_s=horizon_s,
            tuning_usd=controller.tuning_cost_usd,
            t0_s=controller.t0_s,
        )
        errors: dict[str, int] = {}
        for r in requests:
            if r.error:
                errors[r.error] = errors.get(r.error, 0) + 1
        lag: dict[str, Any] = {"max_lag_s": 0.0, "p95_lag_s": 0.0, "arrival_delay_ms": {"p95": 0.0, "max": 0.0}}
        if hasattr(platform, "lag_report"):
            lag = platform.lag_report().to_dict()
        lag["limit_s"] = self.limit_s
        lag["over_limit"] = lag["max_lag_s"] > self.limit_s
        estimate = self.estimate.to_dict() if self.estimate is not None else {}
        wall = time.perf_counter() - self.began
        setup = self._setup(controller)
        tuning = controller.tuning_cost_usd
        enforcement = platform.enforcement() if hasattr(platform, "enforcement") else {"cpu": [], "memory": []}
        return RayRunResult(metrics, wall, tuning, enforcement, errors, lag, estimate, setup, note)

    def _interrupted(self, controller: Controller | None, platform: Any) -> RunInterrupted:
        if controller is None or self.estimate is None:
            return RunInterrupted("interrupted before the replay started; nothing was left running", None)
        records = platform.request_records()
        failed = sum(r.failed for r in records)
        in_flight, pending = platform.in_flight(), platform.requests_pending()
        now = max(0.0, platform.now_s - controller.t0_s - self.warmup * self.interval)
        note = (
            f"interrupted at trace second {now:,.0f} of {self.replay.size * 60:,}: {len(records):,} requests "
            f"finished ({failed:,} failed); {in_flight:,} in flight and {pending:,} not yet arrived were abandoned "
            f"(of {int(self.replay.sum()):,} submitted)"
        )
        horizon = max(platform.now_s - controller.t0_s, 1e-9)
        return RunInterrupted(note, self._result(controller, platform, horizon, note))

    def _setup(self, controller: Controller) -> dict[str, Any]:
        spec, system = self.spec, run_system_spec(self.spec.system)
        return {
            "mode": self.mode,
            "workflow": self.wf.name,
            **{k: v for k, v in asdict(spec).items() if k not in ("minutes", "start_minute")},
            "prewarm": system.pool,
            "sizing": f"{system.sizer} on {spec.tune_on}" if system.measured else system.sizer,
            "trace": self.trace.source,
            "trace_function": self.trace.function_ids[self.row] if self.trace.function_ids else str(self.row),
            "minutes": int(self.replay.size),
            "start_minute": int(self.train.size),
            "max_lag_s": self.limit_s,
            "warmup_intervals": self.warmup,  # as run: until the pool was ready (warmup.py)
            "lead_s": controller.config.lead_s,
            "configs": {f: c.to_dict() for f, c in controller.configs.items()},
            "sizing_notes": [s.note for s in controller.sizings],
            "budgets": asdict(self.budgets),
            "ray_address": self.ray.address,
        }
