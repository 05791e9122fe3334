"""Replaying a trace on Ray under a named system (``aquatope run``), and right-sizing on real measurements.

The run mirrors one (workflow, system) run of ``aquatope evaluate``, on a :class:`RayPlatform` instead of the
simulator: the trace function's last ``minutes`` are replayed (the minutes before train the forecaster), the
:class:`~aquatope.controller.Controller` right-sizes, deploys, ticks once per trace minute and drains, and the
figures come from the platform's records with the definitions of :mod:`aquatope.metrics`.

Time: with ``time_scale`` S a trace minute lasts 60/S wall seconds. Cold starts do not shrink, so the controller
ticks ``lead_s`` trace seconds early (default: a wall second's worth, at most half an interval) to pre-warm
containers before their interval starts, as it does in the simulator with its 2 s lead. The replay starts
``warmup_intervals`` control intervals after deployment (default 1: a deployment precedes its traffic), so a
pre-warming policy can act before the first request; every system gets the same warm-up, and its container time is
counted in the cost.

Right-sizing (systems that measure): ``tune_on="sim"`` measures on a staging simulator over the workflow's
performance models (seconds); ``tune_on="ray"`` measures the real functions on a staging RayPlatform on the same
cluster at time scale 1 (minutes), in a space clamped to what the cluster's largest node offers.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.controller import Controller, ControllerConfig, SizingOutcome
from aquatope.errors import InputError
from aquatope.experiments.simulate import pick_function
from aquatope.experiments.systems import (
    SYSTEMS,
    Budgets,
    DefaultResizer,
    MeasuredResizer,
    make_pool_policy,
    make_system_forecaster,
    measured_outcome,
    measurement_cost_usd,
)
from aquatope.metrics import RequestColumns, RunMetrics, compute_metrics, container_columns
from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.resources import Pricing, ResourceSpace
from aquatope.runtime.platform import RayPlatform
from aquatope.sim import SimConfig
from aquatope.sizing.base import SizingProblem
from aquatope.sizing.loop import ProgressFn, SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import make_sizer
from aquatope.traces import InvocationTrace, expand_arrivals
from aquatope.workflow import Workflow

RUN_SYSTEMS = tuple(s for s in SYSTEMS if s != "oracle")
"""Systems ``aquatope run`` supports (the oracle needs the future, which a real run does not have)."""

RUN_BUDGETS = Budgets(
    tuning_budget=12,
    samples_per_config=10,
    forecaster_params={"n_windows": 1500, "epochs": 3, "mc_passes": 16},
)
"""Smaller than ``aquatope evaluate``'s, so that a run starts within a minute on a laptop."""


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray: ``address`` None starts a local Ray with ``num_cpus`` (unless one runs already)."""

    address: str | None = None
    num_cpus: int | None = None
    cpu_mode: str = "auto"

    def platform(self, time_scale: float, pricing: Pricing) -> RayPlatform:
        return RayPlatform(
            time_scale=time_scale, address=self.address, num_cpus=self.num_cpus, pricing=pricing, cpu_mode=self.cpu_mode
        )


@dataclass(frozen=True)
class RayRunResult:
    """Figures of a run (the simulator's), how long it took, how limits were enforced, and its full setup."""

    metrics: RunMetrics
    wall_s: float
    tuning_cost_usd: float
    enforcement: dict[str, list[str]]
    errors: dict[str, int]
    setup: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics.to_dict()
        out["wall_s"] = self.wall_s
        out["tuning_cost_usd"] = self.tuning_cost_usd
        out["enforcement"] = self.enforcement
        out["errors"] = self.errors
        out["setup"] = self.setup
        return out


def ray_space(platform: RayPlatform, base: str = "decoupled", workflow: Workflow | None = None) -> ResourceSpace:
    """The decoupled (or coupled) space clamped to the largest node of the platform's cluster and, given
    ``workflow``, to an even share of the cluster for each container a measurement keeps warm (one per invocation
    of a request), so that every measured configuration can be deployed warm at once."""
    node_cpu, node_mem_mb = platform.node_capacity()
    if workflow is not None:
        total_cpu, total_mem_mb = platform.cluster_capacity()
        containers = sum(workflow.invocations_per_request().values())
        node_cpu = min(node_cpu, total_cpu / containers)
        node_mem_mb = min(node_mem_mb, total_mem_mb / containers)
    if base == "coupled":
        sizes = [m for m in ResourceSpace.coupled().memory_values_mb if m <= node_mem_mb and m / 1769.0 <= node_cpu]
        return ResourceSpace.coupled(memory_sizes_mb=sizes or [128])
    if base != "decoupled":
        raise InputError(f"unknown resource space {base!r}; choose decoupled or coupled", field="--space")
    cpu_high = max(0.1, min(8.0, math.floor(node_cpu * 10) / 10))
    mem_high = max(128, min(10240, int(node_mem_mb // 64 * 64)))
    return ResourceSpace.decoupled(cpu_range=(0.1, cpu_high, 0.1), memory_range_mb=(128, mem_high, 64))


def tune_on_ray(
    problem: SizingProblem, method: str, platform: RayPlatform, samples_per_config: int, progress: ProgressFn | None
) -> SizingResult:
    """Run one measured sizer on ``platform`` (time scale 1): every measurement is real requests."""
    if platform.time_scale != 1.0:
        raise InputError("right-sizing measures real latencies: use a platform with time_scale=1", field="time_scale")
    sizer = make_sizer(method, problem, problem.seed)
    measurer = Measurer(platform, problem, k=samples_per_config, seed=problem.seed)
    budget = max(problem.budget, getattr(sizer, "required_evaluations", 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_sizer(sizer, measurer, budget, progress)


class RayResizer:
    """A measured sizer run on a staging RayPlatform (time scale 1) on the same cluster; its cost returned."""

    def __init__(self, problem: SizingProblem, method: str, budgets: Budgets, seed: int, ray: RayOptions) -> None:
        self.problem = problem
        self.method = method
        self.budgets = budgets
        self.seed = seed
        self.ray = ray

    def __call__(self, attempt: int) -> SizingOutcome:
        staging = self.ray.platform(1.0, self.problem.pricing)
        try:
            problem = SizingProblem(
                self.problem.workflow,
                ray_space(staging),
                self.problem.pricing,
                self.problem.budget,
                self.seed + attempt,
            )
            result = tune_on_ray(problem, self.method, staging, self.budgets.samples_per_config, None)
            cost = measurement_cost_usd(staging.container_records(), problem.pricing)
        finally:
            staging.shutdown()
        return measured_outcome(f"{self.method} on ray", result, cost)


def run_metrics(
    requests: list[RequestRecord],
    containers: list[ContainerRecord],
    qos_ms: float,
    invocations: int,
    cold_starts: int,
    pricing: Pricing,
    horizon_s: float,
) -> RunMetrics:
    """The run's figures (:func:`aquatope.metrics.compute_metrics`) from a platform's records."""
    return compute_metrics(
        requests=RequestColumns.from_records(requests, qos_ms),
        invocations=invocations,
        cold_starts=cold_starts,
        containers=container_columns(containers),
        pricing=pricing,
        horizon_s=horizon_s,
    )


def _split(
    trace: InvocationTrace, row: int, minutes: int | None, scale: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training counts, replay counts) of one trace row: the replay is the last ``minutes``."""
    if not (scale > 0 and math.isfinite(scale)):
        raise InputError(f"must be a finite number > 0, got {scale}", field="--scale")
    counts = trace.select([row]).scale(scale, seed=seed).counts[0] if scale != 1.0 else trace.counts[row]
    n = counts.size if minutes is None else minutes
    if not 1 <= n <= counts.size:
        raise InputError(f"must be between 1 and the trace's {counts.size} minutes, got {n}", field="--minutes")
    replay = counts[-n:]
    if replay.sum() == 0:
        raise InputError(f"the trace function has no invocations in its last {n} minutes", field="--trace")
    return counts[:-n].astype(float), replay.astype(np.int64)


def run_on_ray(
    workflow: Workflow,
    trace: InvocationTrace,
    *,
    system: str = "openwhisk",
    minutes: int | None = None,
    time_scale: float = 60.0,
    function: str | None = None,
    scale: float = 1.0,
    seed: int = 0,
    ray: RayOptions | None = None,
    budgets: Budgets = RUN_BUDGETS,
    tune_on: str = "sim",
    lead_s: float | None = None,
    warmup_intervals: int = 1,
    pricing: str = "cloud-run",
    progress: Callable[[str, float], None] | None = None,
) -> RayRunResult:
    """Replay ``trace`` on Ray under ``system`` (see the module docstring); returns the run's figures."""
    if system not in RUN_SYSTEMS:
        raise InputError(f"unknown system {system!r}; choose one of {', '.join(RUN_SYSTEMS)}", field="--system")
    if tune_on not in ("sim", "ray"):
        raise InputError(f"must be sim or ray, got {tune_on!r}", field="--tune-on")
    if warmup_intervals < 0:
        raise InputError(f"must be >= 0, got {warmup_intervals}", field="warmup_intervals")
    ray = ray or RayOptions()
    spec = SYSTEMS[system]
    row = pick_function(trace, function)
    train, replay = _split(trace, row, minutes, scale, seed)
    prices = Pricing.named(pricing)
    problem = SizingProblem(workflow, ResourceSpace.decoupled(), prices, budgets.tuning_budget, seed)
    calls = workflow.invocations_per_request()
    history = np.stack([train * calls[f] for f in workflow.function_names])
    began = time.perf_counter()
    forecaster = make_system_forecaster(spec, budgets, seed)
    if forecaster is not None:
        if progress:
            progress("training the forecaster", 0.0)
        forecaster.fit(history)
    interval = ControllerConfig().interval_s
    lead = min(interval / 2, max(2.0, time_scale)) if lead_s is None else lead_s
    platform = ray.platform(time_scale, prices)
    try:
        resizer: Any = DefaultResizer(workflow)
        if spec.sizing != "default":
            sim = SimConfig(pricing=pricing)
            resizer = (
                RayResizer(problem, spec.sizing, budgets, seed, ray)
                if tune_on == "ray"
                else MeasuredResizer(problem, spec.sizing, budgets, sim, seed)
            )
        controller = Controller(
            platform,
            workflow,
            make_pool_policy(spec),
            forecaster=forecaster,
            resizer=resizer,
            config=ControllerConfig(lead_s=lead),
            history=history,
        )
        if progress:
            progress("right-sizing" if spec.sizing != "default" else "deploying", 0.0)
        controller.start()
        offset = controller.t0_s + warmup_intervals * interval
        arrivals = offset + expand_arrivals(replay, mode="poisson", rng=np.random.default_rng(seed))
        platform.submit(workflow.name, arrivals)
        n_ticks = warmup_intervals + replay.size
        controller.run(n_ticks, progress=(lambda f: progress("replaying", f)) if progress else None)
        controller.finish()
        requests, containers = platform.request_records(), platform.container_records()
        metrics = run_metrics(
            requests,
            containers,
            workflow.qos.latency_ms,
            controller.invocations,
            controller.cold_starts,
            prices,
            n_ticks * interval,
        )
        enforcement = platform.enforcement()
    finally:
        platform.shutdown()
    errors: dict[str, int] = {}
    for r in requests:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    setup = {
        "mode": "ray",
        "workflow": workflow.name,
        "system": system,
        "prewarm": spec.prewarm,
        "sizing": spec.sizing if spec.sizing == "default" else f"{spec.sizing} on {tune_on}",
        "trace": trace.source,
        "function": trace.function_ids[row] if trace.function_ids else str(row),
        "scale": scale,
        "minutes": int(replay.size),
        "train_minutes": int(train.size),
        "time_scale": time_scale,
        "lead_s": lead,
        "warmup_intervals": warmup_intervals,
        "pricing": pricing,
        "configs": {f: c.to_dict() for f, c in controller.configs.items()},
        "sizing_notes": [s.note for s in controller.sizings],
        "budgets": asdict(budgets),
        "ray_address": ray.address,
        "seed": seed,
    }
    return RayRunResult(metrics, time.perf_counter() - began, controller.tuning_cost_usd, enforcement, errors, setup)
