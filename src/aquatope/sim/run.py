"""Run a replay on the simulator: a workflow under one trace function, or a whole trace in single-function mode.

This is what ``aquatope simulate`` calls. Arrivals come from per-minute trace counts expanded inside each minute
(``SimConfig.arrival_mode``); the run covers ``hours`` of the trace, then lets requests in flight finish.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.sim.config import SimConfig
from aquatope.sim.engine import Simulator
from aquatope.sim.metrics import RunMetrics, compute_metrics
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
    raise InputError(f"unknown pool policy {spec!r}; use none or keepalive:<seconds>", field="--prewarm")


def load_configs(spec: str | None, workflow: Workflow) -> dict[str, ResourceConfig]:
    """``default`` (the YAML's) or a JSON file ``{function: {cpu, memory_mb}}`` (or a ``tune`` result with
    ``best.config``); every function must be known, missing ones keep their default."""
    configs = workflow.default_configs()
    if spec is None or spec == "default":
        return configs
    path = Path(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read configuration: {exc.strerror or exc}", source=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", source=path, line=exc.lineno) from None
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


def _minutes(trace: InvocationTrace, hours: float | None) -> int:
    if hours is None:
        return trace.n_minutes
    if not (hours > 0 and math.isfinite(hours)):
        raise InputError(f"must be a finite number > 0, got {hours}", field="--hours")
    return min(trace.n_minutes, max(1, round(hours * 60)))


def _arrivals(counts: np.ndarray, mode: str, rng: np.random.Generator) -> np.ndarray:
    return expand_arrivals(counts, mode="uniform" if mode == "uniform" else "poisson", rng=rng)


def _replay(sim: Simulator, horizon_s: float, progress: ProgressFn | None, steps: int = 100) -> float:
    start = time.perf_counter()
    for k in range(1, steps + 1):
        sim.advance(horizon_s * k / steps)
        if progress:
            progress(k / steps)
    sim.advance(math.inf)  # let requests in flight finish
    return time.perf_counter() - start


def summarize(sim: Simulator, horizon_s: float, per_workflow: bool = True) -> RunMetrics:
    """Metrics of everything the simulator has recorded (see :mod:`aquatope.sim.metrics`)."""
    sim.expire_all()
    lat, failed, target = [], [], []
    details: dict[str, dict[str, Any]] = {}
    for wf in sim.workflows:
        arrival = np.asarray(wf.log_arrival, dtype=float)
        wl = (np.asarray(wf.log_end, dtype=float) - arrival) * 1000.0
        wfail = np.asarray(wf.log_failed, dtype=bool)
        lat.append(wl)
        failed.append(wfail)
        target.append(np.full(wl.size, wf.workflow.qos.latency_ms))
        if per_workflow:
            viol = wfail | (wl > wf.workflow.qos.latency_ms)
            details[wf.name] = {"requests": int(wl.size), "qos_violation_rate": float(viol.mean()) if wl.size else 0.0}
    containers = sim.c.lifetimes(sim.now_s)
    return compute_metrics(
        latency_ms=np.concatenate(lat) if lat else np.zeros(0),
        failed=np.concatenate(failed) if failed else np.zeros(0, dtype=bool),
        targets_ms=np.concatenate(target) if target else np.zeros(0),
        invocations=sum(fn.total_inv for fn in sim.functions),
        cold_starts=sum(fn.total_cold for fn in sim.functions),
        containers=containers,
        pricing=sim.pricing,
        horizon_s=horizon_s,
        per_workflow=details,
    )


def simulate_workflow(
    workflow: Workflow,
    trace: InvocationTrace,
    *,
    function: str | None = None,
    scale: float = 1.0,
    hours: float | None = None,
    prewarm: str = "keepalive:600",
    configs: Mapping[str, ResourceConfig] | None = None,
    sim_config: SimConfig | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Replay one trace function's arrivals (times ``scale``) as requests of ``workflow``."""
    sim_config = sim_config or SimConfig()
    row = pick_function(trace, function)
    minutes = _minutes(trace, hours)
    if not scale > 0:
        raise InputError(f"must be > 0, got {scale}", field="--scale")
    counts = trace.select([row]).slice_minutes(0, minutes).scale(scale, seed=seed).counts[0]
    if counts.sum() == 0:
        raise InputError(f"function {trace.function_ids[row]} has no invocations in the first {minutes} minutes")
    pool = parse_prewarm(prewarm)
    sim = Simulator(sim_config, seed=seed, default_pool=pool)
    sim.deploy(workflow, configs)
    sim.submit(workflow.name, _arrivals(counts, sim_config.arrival_mode, np.random.default_rng(seed)))
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
        "sim": sim_config.to_dict(),
        "seed": seed,
    }
    return SimulationResult(summarize(sim, minutes * 60.0), wall, setup)


def simulate_single_functions(
    trace: InvocationTrace,
    *,
    functions: int | None = None,
    hours: float | None = None,
    prewarm: str = "keepalive:600",
    sim_config: SimConfig | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Replay every function (or the first ``functions``) of ``trace`` as its own one-stage workflow."""
    sim_config = sim_config or SimConfig()
    if functions is not None:
        if functions < 1:
            raise InputError(f"must be >= 1, got {functions}", field="--functions")
        trace = trace.select(list(range(min(functions, trace.n_functions))))
    minutes = _minutes(trace, hours)
    trace = trace.slice_minutes(0, minutes)
    fset = single_function_workflows(trace)
    sim = Simulator(sim_config, seed=seed, default_pool=parse_prewarm(prewarm))
    rng = np.random.default_rng(seed)
    for i, wf in enumerate(fset.workflows):
        sim.deploy(wf)
        arrivals = _arrivals(trace.counts[i], sim_config.arrival_mode, rng)
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
        "sim": sim_config.to_dict(),
        "seed": seed,
    }
    return SimulationResult(summarize(sim, minutes * 60.0, per_workflow=False), wall, setup)
