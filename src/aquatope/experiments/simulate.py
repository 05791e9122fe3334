"""Run a replay on the simulator in a scenario: a workflow under one trace function, or a whole trace in
single-function mode. This is what ``aquatope simulate`` calls.

Arrivals come from per-minute trace counts expanded inside each minute (``SimConfig.arrival_mode``); the run covers
``hours`` of the trace from its start, then lets requests in flight finish. In a scenario with tenants
(:mod:`aquatope.scenarios.world`), the trace's other functions replay on the same invokers (in single-function mode
every function is already part of the workload, so there are none besides), and an ``auto`` cluster is sized from
the whole trace (the day an operator provisions for).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.jsonio import read_json
from aquatope.metrics import RequestColumns, RunMetrics, compute_metrics
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.scenarios import Scenario, load_scenario
from aquatope.scenarios.world import World, build_world, busy_vcpu_s_per_request, functions_busy_per_minute
from aquatope.sim import SimConfig, Simulator
from aquatope.sim.singlefn import single_function_workflows
from aquatope.traces import InvocationTrace, expand_arrivals
from aquatope.workflow import Workflow

ProgressFn = Callable[[float], None]


def parse_prewarm(spec: str) -> PoolTarget:
    """``none`` (evict as soon as idle) or ``keepalive:<seconds>`` (OpenWhisk's default is 600)."""
    if spec == "none":
        return PoolTarget(0, 0.0)
    if spec.startswith("keepalive:"):
        try:
            seconds = float(spec.split(":", 1)[1])
        except ValueError:
            seconds = -1.0
        if seconds >= 0 and math.isfinite(seconds):
            return PoolTarget(0, seconds)
    raise InputError(
        f"unknown pool policy {spec!r}; use none or keepalive:<seconds> (policies that decide every interval, e.g. "
        f"hybrid-histogram, reactive or aquatope, run under the controller: aquatope evaluate --systems POOL+defaults)",
        field="--prewarm",
    )


def load_configs(spec: str | None, workflow: Workflow) -> dict[str, ResourceConfig]:
    """``default`` (the YAML's) or a JSON file ``{function: {cpu, memory_mb}}`` (or a ``tune`` result with
    ``best.config``); every function must be known, missing ones keep their default."""
    configs = workflow.default_configs()
    if spec is None or spec == "default":
        return configs
    path = Path(spec)
    data = read_json(path, what="configuration file")
    if isinstance(data, dict) and isinstance(data.get("best"), dict) and "config" in data["best"]:
        data = data["best"]["config"]
    if not isinstance(data, dict):
        raise InputError("expected an object {function: {cpu, memory_mb}}", source=path)
    for name, value in data.items():
        if name not in configs:
            raise InputError(f"unknown function; {workflow.name} has {sorted(configs)}", source=path, field=name)
        try:
            configs[name] = ResourceConfig.from_dict(value, field=name)
        except InputError as exc:
            raise InputError(exc.message, source=path, field=exc.field) from None
    return configs


def pick_function(trace: InvocationTrace, spec: str | None) -> int:
    """A trace row by id or index; by default the function with the most invocations."""
    if spec is None:
        return int(np.argmax(trace.counts.sum(axis=1)))
    if spec.isdigit():
        index = int(spec)
        if index >= trace.n_functions:
            raise InputError(
                f"index {index} out of range: the trace has {trace.n_functions} functions", field="--function"
            )
        return index
    try:
        return trace.index_of(spec)
    except (KeyError, ValueError):
        raise InputError(f"unknown function id {spec!r}", field="--function") from None


def replay_arrivals(counts: np.ndarray, mode: str, rng: np.random.Generator, start_s: float = 0.0) -> np.ndarray:
    """Arrival times (s) of per-minute counts, shape ``(sum(counts),)``, per the simulator's arrival mode."""
    return expand_arrivals(
        np.asarray(counts).astype(np.int64),
        mode="uniform" if mode == "uniform" else "poisson",
        rng=rng,
        start_s=start_s,
    )


@dataclass(frozen=True)
class SimulationResult:
    """Metrics of a run plus how fast it went and everything needed to reproduce it."""

    metrics: RunMetrics
    wall_s: float
    setup: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics.to_dict()
        out["wall_s"] = self.wall_s
        out["invocations_per_s"] = self.metrics.invocations / self.wall_s if self.wall_s > 0 else math.inf
        out["setup"] = self.setup
        return out


def _scenario(scenario: Scenario | str | None, sim_config: SimConfig | None) -> Scenario:
    """The scenario of a run; explicit simulator parameters go with no scenario (they are a calm world of their
    own: no tenants, nothing sized or scheduled)."""
    if sim_config is not None and scenario is not None:
        raise InputError("give either a scenario or explicit simulator parameters, not both", field="--cluster")
    return load_scenario(scenario)


def replay_minutes(trace: InvocationTrace, hours: float | None) -> int:
    """Minutes to replay: ``hours`` of the trace (all of it by default)."""
    if hours is None:
        return trace.n_minutes
    if not (hours > 0 and math.isfinite(hours)):
        raise InputError(f"must be a finite number > 0, got {hours}", field="--hours")
    if hours * 60 > trace.n_minutes + 1e-9:
        raise InputError(f"the trace has only {trace.n_minutes / 60:g} hours, asked for {hours:g}", field="--hours")
    return max(1, round(hours * 60))


def _replay(sim: Simulator, horizon_s: float, progress: ProgressFn | None, steps: int = 100) -> float:
    start = time.perf_counter()
    for k in range(1, steps + 1):
        sim.advance(horizon_s * k / steps)
        if progress:
            progress(k / steps)
    sim.advance(math.inf)  # let requests in flight finish
    return time.perf_counter() - start


def summarize(sim: Simulator, horizon_s: float, per_workflow: bool = True) -> RunMetrics:
    """Metrics of every visible workflow the simulator has run (tenants excluded; :mod:`aquatope.metrics`). With
    one workflow, window SLO figures are included."""
    sim.expire_all()
    wfs = [wf for wf in sim.workflows if not wf.background]
    columns = [
        RequestColumns(
            np.asarray(wf.log_arrival, dtype=float),
            (np.asarray(wf.log_end, dtype=float) - np.asarray(wf.log_arrival, dtype=float)) * 1000.0,
            np.asarray(wf.log_failed, dtype=bool),
            np.full(len(wf.log_arrival), wf.workflow.qos.latency_ms),
        )
        for wf in wfs
    ]
    details: dict[str, dict[str, Any]] = {}
    if per_workflow:
        for wf, col in zip(wfs, columns, strict=True):
            viol = col.failed | (col.latency_ms > wf.workflow.qos.latency_ms)
            details[wf.name] = {
                "requests": int(col.arrival_s.size),
                "qos_violation_rate": float(viol.mean()) if viol.size else 0.0,
            }
    fns = [fn for fn in sim.functions if not fn.background]
    visible = np.array([not fn.background for fn in sim.functions], dtype=bool)
    lives = sim.c.lifetimes(sim.now_s)
    keep = visible[lives["fid"]] if lives["fid"].size else np.zeros(0, dtype=bool)
    merged = RequestColumns(
        *(
            np.concatenate([getattr(c, k) for c in columns] or [np.zeros(0)])
            for k in RequestColumns.__dataclass_fields__
        )
    )
    return compute_metrics(
        requests=merged,
        invocations=sum(fn.total_inv for fn in fns),
        cold_starts=sum(fn.total_cold for fn in fns),
        containers={k: v[keep] for k, v in lives.items()},
        pricing=sim.pricing,
        horizon_s=horizon_s,
        quantile=wfs[0].workflow.qos.quantile if len(wfs) == 1 else None,
        per_workflow=details,
    )


def world_figures(sim: Simulator, minutes: tuple[int, int] | None = None) -> dict[str, Any]:
    """What the world did besides our workflow: cluster CPU utilisation per minute (mean, p95, max; over the sim's
    ``minutes`` [a, b) when given, e.g. a replay window after a warm-up), tenants' figures and noisy-neighbour
    episodes."""
    out: dict[str, Any] = {"invokers": sim.config.invokers, "tenants": sim.tenant_figures()}
    if sim.utilisation is not None:
        u = sim.utilisation.per_bucket()
        if minutes is not None:
            u = u[minutes[0] : minutes[1]]
        if u.size:
            out["utilisation"] = {"mean": float(u.mean()), "p95": float(np.percentile(u, 95)), "max": float(u.max())}
    out["neighbour_episodes"] = len(sim.neighbours.episodes)
    return out


def simulate_workflow(
    workflow: Workflow,
    trace: InvocationTrace,
    *,
    function: str | None = None,
    scale: float = 1.0,
    hours: float | None = None,
    prewarm: str = "keepalive:600",
    configs: Mapping[str, ResourceConfig] | None = None,
    scenario: Scenario | str | None = None,
    sim_config: SimConfig | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Replay one trace function's arrivals (times ``scale``) as requests of ``workflow`` in ``scenario``, or on a
    cluster given as explicit simulator parameters (``sim_config``: no tenants, nothing derived)."""
    scenario = _scenario(scenario, sim_config)
    row = pick_function(trace, function)
    minutes = replay_minutes(trace, hours)
    if not (scale > 0 and math.isfinite(scale)):
        raise InputError(f"must be a finite number > 0, got {scale}", field="--scale")
    full = trace.select([row]).scale(scale, seed=seed).counts[0]
    counts = full[:minutes]
    if counts.sum() == 0:
        raise InputError(
            f"function {trace.function_ids[row]} has no invocations in the first {minutes} minutes",
            source=trace.source or None,
        )
    world = (
        World(scenario, sim_config, None, 0)
        if sim_config is not None
        else build_world(
            scenario,
            trace=trace,
            workflows=[workflow],
            exclude_rows=[row],
            sizing_minutes=(0, trace.n_minutes),
            workflow_requests_per_minute=[full],
            start_minute=0,
            replay_start_s=0.0,
            replay_s=minutes * 60.0,
            seed=seed,
            step_workflow=workflow,
        )
    )
    sim = world.simulator(seed, minutes)
    pool = parse_prewarm(prewarm)
    sim.deploy(workflow, configs)
    for name in workflow.function_names:
        sim.set_pool(name, pool)
    sim.submit(workflow.name, replay_arrivals(counts, world.config.arrival_mode, np.random.default_rng(seed)))
    wall = _replay(sim, minutes * 60.0, progress)
    setup = {
        "mode": "workflow",
        "workflow": workflow.name,
        "trace": trace.source,
        "function": trace.function_ids[row],
        "scale": scale,
        "minutes": minutes,
        "prewarm": prewarm,
        "configs": {k: v.to_dict() for k, v in (configs or workflow.default_configs()).items()},
        "scenario": scenario.to_dict(),
        "sim": world.config.to_dict(),
        "world": world_figures(sim),
        "seed": seed,
    }
    return SimulationResult(summarize(sim, minutes * 60.0), wall, setup)


def simulate_single_functions(
    trace: InvocationTrace,
    *,
    functions: int | None = None,
    hours: float | None = None,
    prewarm: str = "keepalive:600",
    scenario: Scenario | str | None = None,
    sim_config: SimConfig | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Replay every function (or the first ``functions``) of ``trace`` as its own one-stage workflow, in
    ``scenario`` or on explicit simulator parameters (``sim_config``)."""
    scenario = _scenario(scenario, sim_config)
    if functions is not None:
        if functions < 1:
            raise InputError(f"must be >= 1, got {functions}", field="--functions")
        trace = trace.select(list(range(min(functions, trace.n_functions))))
    minutes = replay_minutes(trace, hours)
    if not trace.counts[:, :minutes].any():
        raise InputError(
            f"no invocations in the first {minutes} minutes of its {trace.n_functions} functions: nothing to replay",
            source=trace.source or None,
        )
    fset = single_function_workflows(trace)
    invokers = scenario.cluster.invokers
    if invokers is None and sim_config is None:
        busy = functions_busy_per_minute(fset.workflows, trace.counts)
        invokers = max(
            1, math.ceil(float(busy.max()) / (scenario.cluster.peak_utilisation * scenario.cluster.invoker_cpu))
        )
    config = sim_config if sim_config is not None else scenario.sim_config(invokers=invokers)
    sim = Simulator(config, seed=seed, default_pool=parse_prewarm(prewarm), track_utilisation=True)
    rng = np.random.default_rng(seed)
    counts = trace.counts[:, :minutes]
    for i, wf in enumerate(fset.workflows):
        sim.deploy(wf)
        arrivals = replay_arrivals(counts[i], config.arrival_mode, rng)
        if arrivals.size:
            sim.submit(wf.name, arrivals)
    wall = _replay(sim, minutes * 60.0, progress)
    setup = {
        "mode": "single-function",
        "trace": trace.source,
        "functions": trace.n_functions,
        "missing_durations": fset.missing_durations,
        "missing_memory": fset.missing_memory,
        "minutes": minutes,
        "prewarm": prewarm,
        "scenario": scenario.to_dict(),
        "sim": config.to_dict(),
        "world": world_figures(sim),
        "per_function_p95_over_target": per_function_p95_over_target(sim, fset.workflows),
        "seed": seed,
    }
    return SimulationResult(summarize(sim, minutes * 60.0, per_workflow=False), wall, setup)


def per_function_p95_over_target(sim: Simulator, workflows: Sequence[Workflow]) -> dict[str, float | int | None]:
    """Each function's own p95 over its own QoS target, summarised over the functions with requests (median, 90th
    percentile, worst): a p95 pooled over unrelated functions means nothing, so single-function replays show this."""
    targets = {wf.name: wf.qos.latency_ms for wf in workflows}
    by_fn: dict[str, list[float]] = {}
    for r in sim.request_records():
        if r.workflow in targets:
            by_fn.setdefault(r.workflow, []).append(math.inf if r.failed else r.latency_ms)
    ratios = np.array([np.percentile(v, 95) / targets[f] for f, v in by_fn.items()]) if by_fn else np.array([])
    if not ratios.size:
        return {"functions": 0, "median": None, "p90": None, "worst": None, "over": 0}
    return {
        "functions": int(ratios.size),
        "median": float(np.median(ratios)),
        "p90": float(np.percentile(ratios, 90)),
        "worst": float(ratios.max()),
        "over": int((ratios > 1.0).sum()),
    }


__all__ = [
    "SimulationResult",
    "busy_vcpu_s_per_request",
    "load_configs",
    "parse_prewarm",
    "pick_function",
    "replay_arrivals",
    "simulate_single_functions",
    "simulate_workflow",
    "summarize",
]
