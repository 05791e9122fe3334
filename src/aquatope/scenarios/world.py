"""From a scenario to a simulator for one run: other tenants from the trace, the cluster's size, the drift schedule.

**Tenants.** The trace's other functions (those not driving the studied workflows; all of them, or ``functions: N``
drawn at random per seed) are replayed as one-stage workflows (:mod:`aquatope.sim.singlefn`: durations and memory
from the trace) on the same invokers, deployed with ``Simulator.deploy_background`` and kept warm
``tenants.keep_alive_s`` after use. Their counts are multiplied by ``tenants.scale`` (stochastic rounding).

**Cluster size** (``invokers: auto``). An operator sizes a cluster from what it has seen, not from the future: the
smallest number of invokers such that the busiest minute of the *sizing data* (the trace minutes given, e.g. the
training part) has a mean computing load of ``peak_utilisation`` of the cluster's cores. A minute's computing load
is, summed over tenants and studied workflows, invocations x mean execution time x vCPU limit x compute share
(:func:`aquatope.sim.contention.cpu_share`), over 60 s; workflows at their YAML defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aquatope.errors import InputError
from aquatope.perf import PerfModel
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.scenarios.model import Scenario
from aquatope.sim import SimConfig, Simulator
from aquatope.sim.contention import cpu_share
from aquatope.sim.singlefn import single_function_workflows
from aquatope.traces import InvocationTrace, expand_arrivals
from aquatope.traces.arrivals import ArrivalMode
from aquatope.workflow import Workflow

TENANT_PREFIX = "tenant-"
_LEVELS = (np.arange(40) + 0.5) / 40  # midpoints of 40 equal-probability bins


def mean_latency_s(perf: PerfModel, config: ResourceConfig) -> float:
    """Mean warm execution time (s) from the perf model's quantiles (inf when it always fails)."""
    values = [perf.latency_quantile_ms(config, float(q)) for q in _LEVELS]
    return float(np.mean(values)) / 1000.0


def busy_vcpu_s_per_request(workflow: Workflow) -> float:
    """Computing vCPU-seconds one request of ``workflow`` takes at its YAML defaults."""
    calls = workflow.invocations_per_request()
    total = 0.0
    for name, spec in workflow.functions.items():
        cfg = spec.resources
        mean_s = mean_latency_s(spec.perf, cfg)
        if math.isfinite(mean_s):
            total += calls.get(name, 0) * mean_s * cfg.cpu * cpu_share(spec.perf, cfg)
    return total


def heaviest_function(workflow: Workflow) -> str:
    """The function with the most busy vCPU-seconds per request at the defaults (where a slowdown hurts most)."""
    calls = workflow.invocations_per_request()

    def weight(name: str) -> float:
        spec = workflow.functions[name]
        mean_s = mean_latency_s(spec.perf, spec.resources)
        return calls.get(name, 0) * (mean_s if math.isfinite(mean_s) else 0.0) * spec.resources.cpu

    return max(workflow.function_names, key=weight)


def resolve_step_functions(scenario: Scenario, workflow: Workflow) -> tuple[str, ...]:
    """The function each drift step applies to in ``workflow`` (``heaviest`` resolved; an unknown name is an
    error naming the step)."""
    out = []
    for i, step in enumerate(scenario.steps):
        if step.function == "heaviest":
            out.append(heaviest_function(workflow))
        elif step.function in workflow.functions:
            out.append(step.function)
        else:
            raise InputError(
                f"{workflow.name} has no function {step.function!r}; use one of {list(workflow.functions)} or heaviest",
                source=scenario.source,
                field=f"drift.steps[{i}].function",
            )
    return tuple(out)


@dataclass(frozen=True)
class Tenants:
    """Other tenants' functions: one-stage workflows (names prefixed ``tenant-``), their per-minute counts over the
    whole trace (already scaled), computing vCPU-seconds per invocation, and their keep-alive."""

    workflows: tuple[Workflow, ...]
    counts: np.ndarray
    busy_vcpu_s: np.ndarray
    keep_alive_s: float
    rows: tuple[int, ...]

    def busy_per_minute(self, start: int, stop: int) -> np.ndarray:
        """Computing vCPU per minute (mean over the minute) of the minutes ``[start, stop)``."""
        return (self.counts[:, start:stop] * self.busy_vcpu_s[:, None]).sum(axis=0) / 60.0


def select_tenants(
    trace: InvocationTrace, scenario: Scenario, exclude_rows: Sequence[int], seed: int
) -> Tenants | None:
    """The tenants of ``scenario`` from ``trace`` (None when the scenario has none)."""
    spec = scenario.tenants
    if not spec.enabled:
        return None
    excluded = set(exclude_rows)
    totals = trace.counts.sum(axis=1)
    rows = [i for i in range(trace.n_functions) if i not in excluded and totals[i] > 0]
    if spec.functions is not None and spec.functions < len(rows):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7E4A,)))
        rows = sorted(rng.choice(rows, size=spec.functions, replace=False).tolist())
    if not rows:
        return None
    sub = trace.select(rows).scale(spec.scale, seed=seed + 0x7E4A)
    fset = single_function_workflows(sub)
    workflows = tuple(wf.renamed(TENANT_PREFIX) for wf in fset.workflows)
    return Tenants(workflows, np.asarray(sub.counts), busy_vcpu_s(workflows), spec.keep_alive_s, tuple(rows))


def busy_vcpu_s(single_function: Sequence[Workflow]) -> np.ndarray:
    """Computing vCPU-seconds of one invocation of each one-stage workflow, shape ``(n,)``."""
    return np.array(
        [
            mean_latency_s(f.perf, f.resources) * f.resources.cpu * cpu_share(f.perf, f.resources)
            for wf in single_function
            for f in wf.functions.values()
        ]
    )


def functions_busy_per_minute(single_function: Sequence[Workflow], counts: np.ndarray) -> np.ndarray:
    """Computing vCPU per minute of one-stage workflows given their per-minute counts ``(n, minutes)``."""
    return (np.asarray(counts, dtype=float) * busy_vcpu_s(single_function)[:, None]).sum(axis=0) / 60.0


def auto_invokers(scenario: Scenario, busy_per_minute: np.ndarray) -> int:
    """Invokers for ``invokers: auto`` (module docstring); ``busy_per_minute`` is the sizing data's computing vCPU
    per minute, tenants and workflows summed."""
    peak = float(np.max(busy_per_minute)) if busy_per_minute.size else 0.0
    per_invoker = scenario.cluster.peak_utilisation * scenario.cluster.invoker_cpu
    return max(1, math.ceil(peak / per_invoker))


@dataclass(frozen=True)
class World:
    """Everything needed to build the simulators of one run: the scenario, its concrete simulator parameters, the
    tenants, and the trace minute that sim time 0 corresponds to."""

    scenario: Scenario
    config: SimConfig
    tenants: Tenants | None
    start_minute: int

    def simulator(self, seed: int, minutes: int, *, tenants: bool = True, record_events: bool = False) -> Simulator:
        """A fresh simulator (utilisation tracked); with ``tenants``, the tenants' arrivals of trace minutes
        ``[start_minute, start_minute + minutes)`` are submitted at sim times ``[0, 60 * minutes)``."""
        sim = Simulator(self.config, seed=seed, record_events=record_events, track_utilisation=True)
        if tenants and self.tenants is not None:
            submit_tenants(sim, self.tenants, self.start_minute, minutes, seed)
        return sim

    def staging(self, seed: int) -> Simulator:
        """An isolated staging copy: the same machines and physics, no tenants."""
        return self.simulator(seed, 0, tenants=False)


def submit_tenants(sim: Simulator, tenants: Tenants, start_minute: int, minutes: int, seed: int) -> None:
    """Deploy every tenant in the background and submit its arrivals of the given trace minutes."""
    pool = PoolTarget(0, tenants.keep_alive_s)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xA441,)))
    stop = min(tenants.counts.shape[1], start_minute + minutes)
    for i, wf in enumerate(tenants.workflows):
        sim.deploy_background(wf, pool=pool)
        row = tenants.counts[i, start_minute:stop]
        if row.sum() > 0:
            mode: ArrivalMode = "uniform" if sim.config.arrival_mode == "uniform" else "poisson"
            sim.submit(wf.name, expand_arrivals(row, mode=mode, rng=rng))


def build_world(
    scenario: Scenario,
    *,
    trace: InvocationTrace | None,
    workflows: Sequence[Workflow],
    exclude_rows: Sequence[int],
    sizing_minutes: tuple[int, int],
    workflow_requests_per_minute: Sequence[np.ndarray],
    start_minute: int,
    replay_start_s: float,
    replay_s: float,
    seed: int,
    step_workflow: Workflow | None = None,
) -> World:
    """The world of one run (module docstring).

    ``sizing_minutes``: the trace minutes ``[a, b)`` the cluster is sized from; ``workflow_requests_per_minute``:
    each studied workflow's requests per minute over those minutes; ``start_minute``: the trace minute at sim time 0;
    the replay window (sim seconds) places drift steps, on the functions of ``step_workflow``.
    """
    tenants = select_tenants(trace, scenario, exclude_rows, seed) if trace is not None else None
    invokers = scenario.cluster.invokers
    if invokers is None:
        a, b = sizing_minutes
        busy = np.zeros(max(0, b - a))
        if tenants is not None:
            busy = busy + tenants.busy_per_minute(a, b)
        for wf, rpm in zip(workflows, workflow_requests_per_minute, strict=True):
            busy = busy + np.asarray(rpm, dtype=float)[: busy.size] * busy_vcpu_s_per_request(wf) / 60.0
        invokers = auto_invokers(scenario, busy)
    steps = resolve_step_functions(scenario, step_workflow) if step_workflow is not None else ()
    config = scenario.sim_config(
        invokers=invokers,
        replay_start_s=replay_start_s,
        replay_s=replay_s,
        step_functions=steps,
        trace_start_h=start_minute / 60.0,
    )
    return World(scenario, config, tenants, start_minute)
