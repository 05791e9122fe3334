"""The exhaustive oracle: the cheapest configuration that truly meets the QoS, from the performance models.

It knows the performance models (which no real sizer does) and is used to score the others.

* **Small spaces** (the product of per-function configuration counts <= ``ENUMERATION_LIMIT``): plain
  enumeration. Every combination's end-to-end percentile is estimated by Monte Carlo with common random numbers;
  the cheapest feasible one wins.
* **Large spaces** (the default decoupled space has 12,720 configurations per function): exploit the structure.
  Cost adds up over functions, and end-to-end latency follows the DAG's critical path. (1) Per function, estimate
  every configuration's mean latency (hence cost per request) and its stage latency at the QoS level (for a
  fan-out of N copies, the per-copy quantile at level q^(1/N), i.e. the quantile of the slowest copy); keep the
  Pareto front of (latency, cost). (2) Branch and bound over the fronts finds the cheapest combination whose
  critical path of stage latencies is <= a budget L. (3) The winner's true end-to-end percentile is verified by
  Monte Carlo (``mc_samples`` requests); L is searched by bisection between 0.5x and 2x the target, keeping the
  cheapest verified winner.

*World effects* (:class:`WorldEffects`, from a scenario's simulator parameters): per-edge transfer delays, heavy
tails (a Pareto multiple of an invocation's time with some probability) and contention among the workflow's own
concurrent invocations on one invoker (the simulator's slope below the cores and processor sharing above them,
applied to the compute share of an invocation; stages that may run at the same time, the copies of a fan-out and
parallel branches, are taken to overlap fully and share one invoker: slightly pessimistic). Noisy neighbours are
left out: they are episodes of bad measurements, not the performance being sized for.

*Objective.* Costs per function are :func:`aquatope.sizing.load.function_cost_usd` (busy time, or the pool's
expected containers at the problem's load): they add up over functions, so the structured search applies to
the expected-total-cost objective as well.

*Reuse.* The per-function tables do not depend on the latency target, so a reference that sizes the same problem
for several targets (the lower bound's verification ladder) computes them once: the last few are memoised by the
problem's identity and everything else they depend on.

Exactness: within the sampled models, enumeration is exact up to Monte Carlo error (about +-1% on a p95 with
20k samples). The structured search is exact for the critical-path-of-quantiles model; the true percentile of a
sum is usually below the sum of percentiles, and the bisection on L recovers most of that slack, but a
combination that spends the slack unevenly across stages may be missed: the oracle can be slightly pessimistic
(a few percent of cost), never infeasible (every answer is Monte Carlo verified).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import SizingProblem, WorkflowConfig, config_to_dict
from aquatope.sizing.load import function_cost_usd


@dataclass(frozen=True)
class WorldEffects:
    """What a scenario's world adds to the performance models (module docstring); all zero: the models alone."""

    transfer_ms: float = 0.0
    tail_prob: float = 0.0
    tail_alpha: float = 2.0
    slope_cpu: float = 0.0
    slope_memory: float = 0.0
    invoker_cpu: float = 64.0

    def slowdown(self, demand_cpu: float, memory_bound: bool) -> float:
        """Compute-time multiplier at ``demand_cpu`` vCPU computing on one invoker."""
        u = demand_cpu / self.invoker_cpu
        slope = self.slope_memory if memory_bound else self.slope_cpu
        return (1.0 + slope * min(u, 1.0)) * max(1.0, u)


NO_EFFECTS = WorldEffects()
ENUMERATION_LIMIT = 3000
CANDIDATE_SAMPLES = 1000
NODE_LIMIT = 2_000_000


@dataclass(frozen=True)
class OracleResult:
    """The oracle's answer: ``config`` is None when nothing in the space meets the QoS."""

    config: WorkflowConfig | None
    latency_pctl_ms: float
    cost_per_request_usd: float
    method: str
    candidates: int
    wall_s: float

    @property
    def feasible(self) -> bool:
        return self.config is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": None if self.config is None else config_to_dict(self.config),
            "latency_pctl_ms": self.latency_pctl_ms,
            "cost_per_request_usd": self.cost_per_request_usd,
            "feasible": self.feasible,
            "method": self.method,
            "candidates": self.candidates,
            "wall_s": self.wall_s,
        }


@dataclass
class _FunctionTable:
    """Per function: candidate configs (Pareto front), their stage latency at the QoS level, cost per request."""

    configs: list[ResourceConfig]
    latency_ms: np.ndarray
    cost_usd: np.ndarray


def _fn_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, 7919])


def _concurrent(problem: SizingProblem, stage: str) -> list[str]:
    """Stages that may compute at the same time as ``stage`` (itself included): neither ancestor nor descendant."""
    wf = problem.workflow
    before: dict[str, set[str]] = {}
    for s in wf.stages:
        before[s.name] = set(s.after).union(*(before[p] for p in s.after)) if s.after else set()
    return [
        s.name for s in wf.stages if s.name == stage or (s.name not in before[stage] and stage not in before[s.name])
    ]


def sample_function_ms(
    problem: SizingProblem, name: str, config: Mapping[str, ResourceConfig], n: int, rng: np.random.Generator,
    world: WorldEffects = NO_EFFECTS,
) -> np.ndarray:  # fmt: skip
    """``n`` latencies (ms) of one invocation of ``name`` at ``config[name]`` in ``world`` (module docstring):
    contention from the stages that may run with it (at their sizes in ``config``) and heavy tails."""
    wf = problem.workflow
    spec = wf.functions[name]
    c = config[name]
    x = spec.perf.sample_latency_ms(c, n, rng)
    stage = next(s for s in wf.stages if s.function == name)
    demand = sum(wf.stage(o).fanout * config[wf.stage(o).function].cpu for o in _concurrent(problem, stage.name))
    factor = world.slowdown(demand, getattr(spec, "bound", "cpu") == "memory")
    if factor != 1.0:
        x = x * (compute_share(spec.perf, c) * (factor - 1.0) + 1.0)
    if world.tail_prob > 0:
        u = rng.random((2, n))
        x = np.where(u[0] < world.tail_prob, x * (1.0 - u[1]) ** (-1.0 / world.tail_alpha), x)
    return x


def compute_share(perf: Any, config: ResourceConfig) -> float:
    """The compute (non-I/O) share of an invocation's time: exact for a parametric model, half otherwise (the
    simulator's assumption, ``sim.contention.DEFAULT_CPU_SHARE``)."""
    base = getattr(perf, "base_latency_ms", None)
    if base is None:
        return 0.5
    total = float(base(config))
    return max(0.0, min(1.0, (total - perf.io_ms) / total)) if math.isfinite(total) and total > 0 else 0.5


def _function_table(
    problem: SizingProblem, index: int, name: str, samples: int, pareto: bool, world: WorldEffects = NO_EFFECTS
) -> _FunctionTable:
    wf = problem.workflow
    perf = wf.functions[name].perf
    fanout = max(s.fanout for s in wf.stages if s.function == name)
    calls = wf.invocations_per_request()[name]
    level = problem.quantile ** (1.0 / fanout)
    configs, lat, cost = [], [], []
    defaults = wf.default_configs()
    for c in problem.space.configs():
        if perf.fails(c):
            continue
        x = sample_function_ms(problem, name, {**defaults, name: c}, samples, _fn_rng(problem.seed, index), world)
        if np.isnan(x).any():
            continue
        configs.append(c)
        lat.append(float(np.quantile(x, level)))
        cost.append(function_cost_usd(problem, name, c, calls * float(x.mean()) / 1000.0))
    table = _FunctionTable(configs, np.asarray(lat), np.asarray(cost))
    return _pareto(table) if pareto else table


def _pareto(t: _FunctionTable) -> _FunctionTable:
    """Keep configurations that no other is both faster and cheaper than; sorted by cost ascending."""
    order = np.lexsort((t.latency_ms, t.cost_usd))
    keep, best_lat = [], math.inf
    for i in order:
        if t.latency_ms[i] < best_lat:
            keep.append(int(i))
            best_lat = t.latency_ms[i]
    return _FunctionTable([t.configs[i] for i in keep], t.latency_ms[keep], t.cost_usd[keep])


def _critical_path(problem: SizingProblem, stage_lat: dict[str, float]) -> float:
    return problem.workflow.critical_path(stage_lat)[1]


def _branch_and_bound(
    problem: SizingProblem, tables: dict[str, _FunctionTable], budget_ms: float
) -> WorkflowConfig | None:
    """Cheapest combination whose critical path of stage latencies (per-function table values) is <= budget."""
    names = list(problem.functions)
    stage_fn = {s.name: s.function for s in problem.workflow.stages}
    min_lat = {f: float(tables[f].latency_ms.min()) for f in names}
    min_cost_rest = [sum(float(tables[f].cost_usd.min()) for f in names[i:]) for i in range(len(names) + 1)]
    best: tuple[float, list[int]] | None = None
    chosen: list[int] = []
    nodes = 0

    def path_lb(k: int) -> float:
        lat = {f: (float(tables[f].latency_ms[chosen[i]]) if i < k else min_lat[f]) for i, f in enumerate(names)}
        return _critical_path(problem, {s: lat[fn] for s, fn in stage_fn.items()})

    def dfs(k: int, cost: float) -> None:
        nonlocal best, nodes
        nodes += 1
        if nodes > NODE_LIMIT:
            return
        if best is not None and cost + min_cost_rest[k] >= best[0]:
            return
        if path_lb(k) > budget_ms:
            return
        if k == len(names):
            best = (cost, list(chosen))
            return
        table = tables[names[k]]
        for j in range(len(table.configs)):  # cheapest first
            chosen.append(j)
            dfs(k + 1, cost + float(table.cost_usd[j]))
            chosen.pop()

    dfs(0, 0.0)
    if best is None:
        return None
    return {f: tables[f].configs[j] for f, j in zip(names, best[1], strict=True)}


def sample_end_to_end_ms(
    problem: SizingProblem, config: WorkflowConfig, n: int, rng: np.random.Generator, world: WorldEffects = NO_EFFECTS
) -> np.ndarray:
    """``n`` end-to-end latencies (ms) of requests at ``config`` in ``world``, NaN for a failed request."""
    wf = problem.workflow
    stages = {}
    for s in wf.stages:
        x = sample_function_ms(problem, s.function, config, n * s.fanout, rng, world)
        stages[s.name] = x.reshape(n, s.fanout)
    return wf.end_to_end_ms(stages, world.transfer_ms)


def _verify(
    problem: SizingProblem, config: WorkflowConfig, samples: int, seed: int, world: WorldEffects = NO_EFFECTS
) -> float:
    """Monte Carlo end-to-end percentile at the QoS level (inf when any request fails)."""
    e2e = sample_end_to_end_ms(problem, config, samples, np.random.default_rng([seed, 104729]), world)
    return math.inf if np.isnan(e2e).any() else float(np.quantile(e2e, problem.quantile))


def expected_cost_usd(
    problem: SizingProblem, config: WorkflowConfig, samples: int = CANDIDATE_SAMPLES, world: WorldEffects = NO_EFFECTS
) -> float:
    """Expected objective of ``config`` (USD per request): per function its mean busy time (mean latency x calls)
    priced by :func:`~aquatope.sizing.load.function_cost_usd` (busy time, or expected containers at the load),
    plus request fees."""
    calls = problem.workflow.invocations_per_request()
    total = problem.pricing.requests_cost_usd(sum(calls.values()))
    for i, f in enumerate(problem.functions):
        x = sample_function_ms(problem, f, config, samples, _fn_rng(problem.seed, i), world)
        total += function_cost_usd(problem, f, config[f], calls[f] * float(np.nanmean(x)) / 1000.0)
    return total


_MEMO: OrderedDict[tuple[Any, ...], tuple[Any, dict[str, _FunctionTable]]] = OrderedDict()
MEMO_SIZE = 8


def _tables(problem: SizingProblem, samples: int, world: WorldEffects) -> dict[str, _FunctionTable]:
    """The per-function Pareto tables (memoised, module docstring). The key holds the functions' identity; the
    entry keeps a reference to them, so the identity cannot be reused while the entry lives."""
    wf = problem.workflow
    load = None if problem.load is None else repr(problem.load.to_dict())
    key = (id(wf.functions), wf.name, wf.qos.quantile, repr(problem.space), repr(problem.pricing), load,
           problem.seed, samples, world)  # fmt: skip
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key][1]
    tables = {f: _function_table(problem, i, f, samples, True, world) for i, f in enumerate(problem.functions)}
    _MEMO[key] = (wf.functions, tables)
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return tables


def _structured(
    problem: SizingProblem, samples: int, mc_samples: int, world: WorldEffects = NO_EFFECTS
) -> tuple[WorkflowConfig | None, float, int]:
    tables = _tables(problem, samples, world)
    if any(not t.configs for t in tables.values()):
        return None, math.inf, 0
    best: tuple[float, WorkflowConfig, float] | None = None
    lo, hi, tried = 0.5, 2.0, 0
    for _ in range(14):
        scale = (lo + hi) / 2.0
        config = _branch_and_bound(problem, tables, scale * problem.qos_ms)
        tried += 1
        if config is None:
            lo = scale
            continue
        pctl = _verify(problem, config, mc_samples, problem.seed, world)
        if pctl <= problem.qos_ms:
            cost = expected_cost_usd(problem, config, samples, world)
            if best is None or cost < best[0]:
                best = (cost, config, pctl)
            lo = scale
        else:
            hi = scale
    if best is None:
        return None, math.inf, tried
    return best[1], best[2], tried


def _enumerate(
    problem: SizingProblem, samples: int, mc_samples: int, world: WorldEffects
) -> tuple[WorkflowConfig | None, float, int]:
    tables = {f: _function_table(problem, i, f, samples, False, world) for i, f in enumerate(problem.functions)}
    names = list(problem.functions)
    combos = sorted(
        itertools.product(*(range(len(tables[f].configs)) for f in names)),
        key=lambda js: sum(float(tables[f].cost_usd[j]) for f, j in zip(names, js, strict=True)),
    )
    for n, js in enumerate(combos, start=1):  # cheapest first: the first that verifies is the optimum
        config = {f: tables[f].configs[j] for f, j in zip(names, js, strict=True)}
        pctl = _verify(problem, config, mc_samples, problem.seed, world)
        if pctl <= problem.qos_ms:
            return config, pctl, n
    return None, math.inf, len(combos)


def exhaustive_search(
    problem: SizingProblem,
    mc_samples: int = 20_000,
    samples: int = CANDIDATE_SAMPLES,
    world: WorldEffects = NO_EFFECTS,
) -> OracleResult:
    """The oracle (see the module docstring): enumeration when the space is small, structured search otherwise."""
    start = time.perf_counter()
    size = math.prod(problem.space.size() for _ in problem.functions)
    if size <= ENUMERATION_LIMIT:
        config, pctl, n = _enumerate(problem, samples, mc_samples, world)
        method = "enumeration"
    else:
        config, pctl, n = _structured(problem, samples, mc_samples, world)
        method = "pareto+branch-and-bound"
    cost = math.inf if config is None else expected_cost_usd(problem, config, samples, world)
    return OracleResult(config, pctl, cost, method, n, time.perf_counter() - start)
