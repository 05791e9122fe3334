"""One run of the evaluation: a system on a workflow, in a scenario, for one seed and one replay window.

A run (:func:`run_one`) builds the world of the scenario (:mod:`aquatope.scenarios.world`: tenants from the trace,
the cluster sized from the training part) and a live simulator starting ``settle + warmup`` minutes before the
window (:class:`~aquatope.experiments.protocol.Protocol`): the tenants settle, then the
:class:`~aquatope.controller.Controller` right-sizes (measuring in the scenario's staging copy or, in production,
with shadow requests on the live simulator during the warm-up), deploys at the window's start, replays the window
with one pool decision per control interval, re-tunes when QoS or the rate drift, and drains. Figures come from the
platform's records of this workflow only (:mod:`aquatope.metrics`), over the window.

References: ``clairvoyant-interval`` gets the true per-interval peaks from a dry run of the same arrivals in the
same world without tenants, every container warm; ``clairvoyant-jit`` (the lower bound's pool) serves every
invocation at once with a container that costs only its busy time.

Everything a run needs is in its :class:`RunSpec` and the study's shared inputs, so runs are independent tasks
(parallel on Ray) and a run's result is the same wherever it runs.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.controller import Controller, ControllerConfig
from aquatope.experiments.bound import verified_bound
from aquatope.experiments.protocol import Protocol, Workload, make_workload
from aquatope.experiments.simulate import replay_arrivals, world_figures
from aquatope.experiments.systems import (
    JIT_POOL,
    Budgets,
    MeasuredResizer,
    MeasurementPlace,
    SystemSpec,
    make_pool_policy,
    make_resizer,
    make_system_forecaster,
    system_spec,
)
from aquatope.experiments.tuning import make_problem, world_effects
from aquatope.forecast import Forecaster
from aquatope.metrics import metrics_from_records
from aquatope.platform import PoolTarget
from aquatope.prewarm import make_policy, policy_with_knob
from aquatope.retune import RetuneRule, TunedResizer
from aquatope.scenarios import Scenario, load_scenario
from aquatope.scenarios.world import World, build_world
from aquatope.sim import Simulator
from aquatope.sizing.base import SizingProblem
from aquatope.sizing.load import LoadProfile
from aquatope.traces import InvocationTrace
from aquatope.workflow import Workflow, load_workflow


@dataclass(frozen=True)
class RunSpec:
    """What one run is: scenario (name or path), system (name or POOL+SIZER), workflow, seed, window, and the value
    of the system's knob (None: its default)."""

    scenario: str
    system: str
    workflow: str
    seed: int
    window: str
    knob: float | None = None

    @property
    def key(self) -> str:
        """A unique, stable identifier (for resuming a study)."""
        knob = "" if self.knob is None else f"@{self.knob:g}"
        return f"{self.scenario}|{self.system}{knob}|{self.workflow}|{self.seed}|{self.window}"

    @property
    def pair(self) -> tuple[str, str, int, str]:
        """Runs with the same pair key saw the same arrivals and random streams (paired comparisons)."""
        return (self.scenario, self.workflow, self.seed, self.window)


@dataclass(frozen=True)
class StudyInputs:
    """What every run of a study shares: the trace and its training classes, the protocol, budgets and re-tune
    rule. Recorded in the results' setup."""

    trace: InvocationTrace
    protocol: Protocol = field(default_factory=Protocol)
    budgets: Budgets = field(default_factory=Budgets)
    retune: RetuneRule = field(default_factory=RetuneRule)
    classes: tuple[str, ...] = ()


def pool_spec(system: SystemSpec, knob: float | None) -> str:
    """The system's pool at ``knob`` (its default when None; a reference's knob is its sizing target instead)."""
    if knob is None or system.reference:
        return system.pool
    return policy_with_knob(system.pool, knob)


def future_peaks(
    workflow: Workflow, configs: dict[str, Any], arrivals_s: np.ndarray, ticks_s: np.ndarray, world: World, seed: int
) -> np.ndarray:
    """True peak concurrency per function and tick window, shape (n_functions, n_ticks), from a dry run of the same
    arrivals in the same world without tenants, every container kept warm; tick k provisions windows k and k + 1
    (a container started at a tick is ready a cold start later)."""
    dry = Simulator(world.config, seed=seed, default_pool=PoolTarget(0, 10 * 86400.0))
    dry.deploy(workflow, configs)
    if arrivals_s.size:
        dry.submit(workflow.name, arrivals_s)
    fns = workflow.function_names
    n = ticks_s.size
    out = np.zeros((len(fns), n), dtype=np.int64)
    for k in range(n):
        dry.advance(float(ticks_s[k]))
        dry.observe()
        dry.advance(float(ticks_s[k + 1]) if k + 1 < n else float(ticks_s[k]) + 60.0)
        obs = dry.observe()
        out[:, k] = [obs[f].peak_concurrency for f in fns]
    return np.maximum(out, np.concatenate([out[:, 1:], out[:, -1:]], axis=1))


def _world(scenario: Scenario, inputs: StudyInputs, workload: Workload, seed: int) -> World:
    p = inputs.protocol
    return build_world(
        scenario,
        trace=inputs.trace,
        workflows=[workload.workflow],
        exclude_rows=workload.rows,
        sizing_minutes=(0, p.train_minutes),
        workflow_requests_per_minute=[workload.training],
        start_minute=workload.start_minute - p.lead_minutes,
        replay_start_s=p.lead_minutes * 60.0,
        replay_s=p.window_minutes * 60.0,
        seed=seed,
        step_workflow=workload.workflow,
    )


def _place(scenario: Scenario, world: World, live: Simulator, problem: SizingProblem) -> MeasurementPlace:
    if scenario.production:
        return MeasurementPlace(problem, live=live)
    return MeasurementPlace(problem, staging=world.staging)


def tuned(
    spec: RunSpec,
    system: SystemSpec,
    factor: float,
    inputs: StudyInputs,
    cache: dict[str, Any] | None,
    world: World,
    live: Simulator,
    problem: SizingProblem,
) -> tuple[TunedResizer, Simulator]:
    """The initial right-sizing of ``spec``'s pair with ``system``'s sizer, done on ``live`` (advancing it, when it
    measures in production), and the live simulator after it. Runs that differ only in their pool's knob share it:
    it happens before the pool acts, so the task sizes once, keeps a copy of the simulator after the sizing, and
    hands each run its own deep copy (the same state a fresh run would reach)."""
    load = problem.load.to_dict() if problem.load is not None else None
    key = f"tuned|{spec.pair}|{system.sizer}|{factor:g}|{load}"  # the objective depends on the pool's load model
    scenario = load_scenario(spec.scenario)
    if cache is not None and key in cache:
        outcome, snapshot, deployed, last = cache[key]
        live = copy.deepcopy(snapshot)
        place = _place(scenario, world, live, problem)
        place.mark_deployed(deployed)
        real = make_resizer(
            system, problem, inputs.budgets, place, spec.seed, factor, world_effects(world.config, problem.workflow)
        )
        if isinstance(real, MeasuredResizer):
            real.last = copy.deepcopy(last)  # the sizing's history, for live evidence
        return TunedResizer(outcome, real), live
    place = _place(scenario, world, live, problem)
    real = make_resizer(
        system, problem, inputs.budgets, place, spec.seed, factor, world_effects(world.config, problem.workflow)
    )
    outcome = real(0)
    if cache is not None:
        last = copy.deepcopy(real.last) if isinstance(real, MeasuredResizer) else None
        cache[key] = (outcome, copy.deepcopy(live), place.deployed, last)
    return TunedResizer(outcome, real), live


def settled_world(
    spec: RunSpec, inputs: StudyInputs, cache: dict[str, Any] | None
) -> tuple[Workload, World, Simulator]:
    """The workload, the world and a live simulator whose tenants have settled, for ``spec``'s pair. The settled
    simulator is the same for every system of a pair (nothing of the workflow has happened yet), so a task settles
    once and hands each run its own deep copy (identical state and random streams)."""
    key = f"settled|{spec.pair}"
    if cache is not None and key in cache:
        workload, world, snapshot = cache[key]
        return workload, world, copy.deepcopy(snapshot)
    p, seed = inputs.protocol, spec.seed
    workload = make_workload(inputs.trace, p, load_workflow(spec.workflow), seed, spec.window, list(inputs.classes))
    world = _world(load_scenario(spec.scenario), inputs, workload, seed)
    live = world.simulator(seed, p.lead_minutes + p.window_minutes)
    live.advance(p.settle_minutes * 60.0)  # the tenants settle before anything of ours happens
    if cache is not None:
        cache[key] = (workload, world, copy.deepcopy(live))
    return workload, world, live


def load_profile(workload: Workload, pool: str) -> LoadProfile | None:
    """The load a sizer's objective prices idle keep-warm time at (expected total cost, :mod:`aquatope.sizing.load`):
    the workflow's mean request rate over the training days (what the platform has seen) and the system's pool, with
    its own parameters (every pool a system can run is priced, so every system's sizer optimises the expected total
    cost of its own pool). The same for every sizer of a run. None only when the training days saw no request."""
    rate = float(workload.training.mean()) / 60.0 if workload.training.size else 0.0
    if not (math.isfinite(rate) and rate > 0):
        return None
    return LoadProfile(rate, pool)


def run_one(
    spec: RunSpec,
    inputs: StudyInputs,
    forecaster: Forecaster | None = None,
    sizing_cache: dict[str, Any] | None = None,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One run (module docstring); returns its figures as plain data (JSON-ready). ``sizing_cache``: shared by the
    runs of one task (:func:`settled_world`, :func:`tuned`). The lower bound at its default knob is verified in
    the run's world (:mod:`aquatope.experiments.bound`). ``keep`` receives the run's own records (``requests``,
    ``containers``, ``t0_s``: when the replay began) for analyses the figures do not cover."""
    system = system_spec(spec.system)
    if system.pool == JIT_POOL and system.sizer == "exhaustive" and spec.knob is None:
        cache = sizing_cache if sizing_cache is not None else {}
        began = time.perf_counter()
        rungs: dict[float, dict[str, Any]] = {}  # ``keep`` gets the chosen rung's records
        out = verified_bound(
            lambda f: _run_at(spec, inputs, forecaster, cache, f, None if keep is None else rungs.setdefault(f, {}))
        )
        if keep is not None:
            keep.update(rungs[out["lower_bound"]["target_factor"]])
        out["wall_s"] = time.perf_counter() - began
        return out
    factor = spec.knob if system.reference and spec.knob is not None else 1.0
    return _run_at(spec, inputs, forecaster, sizing_cache, factor, keep)


def _run_at(
    spec: RunSpec,
    inputs: StudyInputs,
    forecaster: Forecaster | None,
    sizing_cache: dict[str, Any] | None,
    factor: float,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One replay of ``spec`` (a reference sized for ``factor`` times the target)."""
    began = time.perf_counter()
    system = system_spec(spec.system)
    pool = pool_spec(system, spec.knob)
    p, seed = inputs.protocol, spec.seed
    workload, world, live = settled_world(spec, inputs, sizing_cache)
    wf = workload.workflow
    problem = make_problem(wf, "decoupled", inputs.budgets.tuning_budget, seed)
    problem = dataclasses.replace(problem, pricing=world.config.prices, load=load_profile(workload, pool))
    resizer, live = tuned(spec, system, factor, inputs, sizing_cache, world, live, problem)
    if forecaster is None and system.forecaster is not None:
        forecaster = make_system_forecaster(system, inputs.budgets, seed)
        assert forecaster is not None
        forecaster.fit(workload.function_history()[:, : p.train_minutes])
    policy = make_pool_policy(dataclasses.replace(system, pool=pool))
    controller = Controller(
        live,
        wf,
        policy,
        forecaster=forecaster,
        resizer=resizer,
        config=ControllerConfig(retune=inputs.retune, live_evidence=system.live),
        history=workload.function_history(),
    )
    controller.start(deploy_at_s=p.lead_minutes * 60.0)
    if system.pool == JIT_POOL:
        for f in wf.function_names:
            live.set_instant(f)
    t0 = controller.t0_s
    arrivals = t0 + replay_arrivals(workload.replay, world.config.arrival_mode, np.random.default_rng(seed))
    if arrivals.size:
        live.submit(wf.name, arrivals)
    n = workload.minutes
    ticks = np.array([controller.tick_time_s(k) for k in range(n)])
    peaks = None
    if controller.policy.needs_future:
        peaks = future_peaks(wf, controller.configs, arrivals - t0, ticks - t0, world, seed)
    controller.run(n, future_peak=peaks)
    controller.finish()
    late_s = max(0.0, t0 - p.lead_minutes * 60.0)
    out = _figures(spec, system, pool, workload, live, controller, late_s, began)
    if keep is not None:
        keep["requests"] = [r for r in live.request_records() if r.workflow == wf.name]
        keep["containers"] = [c for c in live.container_records() if c.function in wf.functions]
        keep["t0_s"] = t0
    first = int(t0 // 60)
    out["world"] = world_figures(live, (first, first + workload.minutes))
    out["sizing_load"] = None if problem.load is None else problem.load.to_dict()  # the objective its sizer priced
    return out


def _figures(
    spec: RunSpec,
    system: SystemSpec,
    pool: str,
    workload: Workload,
    live: Simulator,
    controller: Controller,
    late_s: float,
    began: float,
) -> dict[str, Any]:
    """The run's figures over its window: metrics of this workflow's records, what decided, and minute series."""
    wf = workload.workflow
    requests = [r for r in live.request_records() if r.workflow == wf.name]
    containers = [c for c in live.container_records() if c.function in wf.functions]
    m = metrics_from_records(
        requests,
        containers,
        target_ms=wf.qos.latency_ms,
        quantile=wf.qos.quantile,
        invocations=controller.invocations,
        cold_starts=controller.cold_starts,
        pricing=live.pricing,
        horizon_s=workload.minutes * 60.0,
        tuning_usd=controller.tuning_cost_usd,
        t0_s=controller.t0_s,
    )
    forecaster = controller.forecaster
    components = getattr(forecaster, "components_", None)
    return {
        "spec": asdict(spec),
        "pool": pool,
        "sizer": system.sizer,
        "metrics": m.to_dict(),
        "configs": {f: c.to_dict() for f, c in controller.configs.items()},
        "sizings": [
            {
                "note": s.note,
                "source": s.source,
                "evaluations": s.evaluations,
                "cost_usd": s.cost_usd,
                "found": s.config is not None,
            }
            for s in controller.sizings
        ],
        "tuning_evaluations": controller.tuning_evaluations,
        "retunes": sum(1 for t in controller.ticks if t.retune),
        "fallback_ticks": controller.fallback_ticks,
        "forecast_failures": controller.forecast_failures[:5],
        "forecaster_components": dict(_count(components)) if components is not None else None,
        "forecaster_interval_vetoed": getattr(getattr(forecaster, "validation_report", None), "interval_vetoed", None),
        "late_start_s": late_s,
        "workload": workload.mapping(),
        "series": _series(requests, containers, controller.t0_s, workload.minutes, wf.qos.latency_ms),
        "wall_s": time.perf_counter() - began,
    }


def _count(items: Any) -> dict[str, int]:
    return dict(Counter(str(kind) for kind in items))


def _series(
    requests: list[Any], containers: list[Any], t0: float, minutes: int, target_ms: float
) -> dict[str, list[float]]:
    """Per minute of the window: requests, p95 latency (ms, failures as inf) and containers alive at its start."""
    arrival = np.array([r.arrival_s - t0 for r in requests])
    lat = np.array([math.inf if r.failed else r.latency_ms for r in requests])
    minute = np.floor(arrival / 60.0).astype(int) if arrival.size else np.zeros(0, dtype=int)
    start = np.array([c.start_s - t0 for c in containers])
    end = np.array([c.end_s - t0 for c in containers])
    p95, count, warm = [], [], []
    for k in range(minutes):
        sel = lat[minute == k]
        count.append(float(sel.size))
        p95.append(float(np.quantile(sel, 0.95)) if sel.size else math.nan)
        t = 60.0 * k
        warm.append(float(np.sum((start <= t) & (end > t))) if start.size else 0.0)
    return {"requests": count, "p95_ms": p95, "warm": warm, "target_ms": [target_ms]}


__all__ = ["RunSpec", "StudyInputs", "future_peaks", "make_policy", "pool_spec", "run_one"]
