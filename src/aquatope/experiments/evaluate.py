"""End-to-end evaluation: every workflow under every named system, on arrivals taken from a trace.

Protocol (``evaluate``):

1. **Arrivals.** The trace is classified (:func:`aquatope.traces.classify.classify`). Workflow ``j`` takes ``K``
   trace functions, round-robin over the classes ``sporadic, periodic, bursty, steady`` (rank ``j`` by total
   invocations within each class, so workflows get different functions); its requests per minute are the sum of
   their counts. The replay window is the last ``hours`` of the trace; the minutes before it train the forecaster.
2. **Scaling rule.** The summed counts are scaled down (never up) so that the replay window's mean rate is at most
   ``max_rps`` requests/s and the workflow's mean busy vCPU (rate x sum over functions of invocations per request
   x mean execution time x vCPU, at the YAML defaults) is at most ``cluster_share`` of the simulated cluster.
3. **Per (workflow, system, seed)**: a fresh simulator (seed); the :class:`~aquatope.controller.Controller`
   right-sizes (measured sizers on a staging simulator, their cost counted), deploys, then the window is replayed
   with one control tick per minute, and the platform drains. The oracle pool gets the true per-interval peak
   concurrency from a dry run of the same arrivals with every container warm.
4. **Figures** from the Platform's records only: QoS violation rate (requests over the workflow's latency target,
   failures included), p99 latency, cold-start rate (invocations that waited on a cold start), cost = execution +
   idle container time + request fees + right-sizing measurements. Seeds are averaged.
5. **Summary** per system: mean violation rate and total cost over workflows, and geometric means over workflows
   of the ratios to aquatope and to the oracle (violation rates floored at ``RATE_FLOOR`` so a zero is a ratio).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.controller import Controller, ControllerConfig, RetuneRule
from aquatope.errors import InputError
from aquatope.experiments.simulate import replay_arrivals
from aquatope.experiments.systems import (
    SYSTEM_NAMES,
    SYSTEMS,
    Budgets,
    make_pool_policy,
    make_resizer,
    make_system_forecaster,
)
from aquatope.experiments.tuning import make_problem
from aquatope.forecast import BayesLSTMForecaster, Forecaster
from aquatope.platform import Platform, PoolTarget
from aquatope.sim import SimConfig, Simulator
from aquatope.traces import InvocationTrace
from aquatope.traces.classify import classify
from aquatope.workflow import Workflow, load_workflow

MAIN_WORKFLOWS = ("chatbot", "map-reduce", "ml-pipeline", "social-network", "trip-booking", "video-processing")
CLASS_ORDER = ("sporadic", "periodic", "bursty", "steady")
RATE_FLOOR = 1e-4
FIGURES = ("qos_violation_rate", "cost_usd", "cold_start_rate", "p99_latency_ms", "tuning_evaluations")
ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class EvaluateConfig:
    """What to run; every field is recorded in the results' ``setup``."""

    workflows: tuple[str, ...] = MAIN_WORKFLOWS
    systems: tuple[str, ...] = SYSTEM_NAMES
    functions_per_workflow: int = 3
    hours: float = 2.0
    seeds: int = 1
    max_rps: float = 2.0
    cluster_share: float = 0.25
    budgets: Budgets = field(default_factory=Budgets)
    sim: SimConfig = field(default_factory=SimConfig)
    retune: RetuneRule = field(default_factory=RetuneRule)

    def __post_init__(self) -> None:
        if not self.workflows:
            raise InputError("no workflow given", field="--workflows")
        if self.functions_per_workflow < 1:
            raise InputError(f"must be >= 1, got {self.functions_per_workflow}", field="--functions-per-workflow")
        if not (self.hours > 0 and math.isfinite(self.hours)):
            raise InputError(f"must be a finite number > 0, got {self.hours}", field="--hours")
        if self.seeds < 1:
            raise InputError(f"must be >= 1, got {self.seeds}", field="--seeds")
        for s in self.systems:
            if s not in SYSTEMS:
                raise InputError(f"unknown system {s!r}", field="--systems")


@dataclass(frozen=True)
class Scenario:
    """One workflow's arrivals: trace rows and classes, the scale factor and per-minute request counts."""

    workflow: Workflow
    rows: tuple[int, ...]
    function_ids: tuple[str, ...]
    classes: tuple[str, ...]
    scale: float
    train_counts: np.ndarray
    replay_counts: np.ndarray

    def mapping(self) -> dict[str, Any]:
        return {
            "trace_functions": list(self.function_ids),
            "classes": list(self.classes),
            "scale": self.scale,
            "replay_requests": int(self.replay_counts.sum()),
            "mean_rps": float(self.replay_counts.mean() / 60.0),
        }


def pick_rows(classes: Sequence[str], totals: np.ndarray, k: int, offset: int) -> list[int]:
    """``k`` rows round-robin over :data:`CLASS_ORDER` (rank ``offset`` by ``totals`` within each class first);
    rows without invocations are skipped; classes that run out are passed over."""
    ranked = {
        c: [int(i) for i in np.argsort(-totals, kind="stable") if classes[i] == c and totals[i] > 0]
        for c in CLASS_ORDER
    }
    out: list[int] = []
    rank = offset
    while len(out) < k and any(len(r) > 0 for r in ranked.values()):
        progressed = False
        for c in CLASS_ORDER:
            pool = ranked[c]
            if pool and len(out) < k:
                row = pool[rank % len(pool)]
                if row not in out:
                    out.append(row)
                    progressed = True
                else:
                    pool.remove(row)
        rank += 1
        if not progressed and rank > offset + len(totals):
            break
    return out


def busy_vcpu_s_per_request(workflow: Workflow) -> float:
    """vCPU-seconds one request keeps containers busy at the YAML defaults (mean execution times)."""
    calls = workflow.invocations_per_request()
    total = 0.0
    for name, spec in workflow.functions.items():
        cfg = spec.resources
        mean_ms = float(np.mean([spec.perf.latency_quantile_ms(cfg, q) for q in np.linspace(0.01, 0.99, 50)]))
        total += calls.get(name, 0) * mean_ms / 1000.0 * cfg.cpu
    return total


def _thin(counts: np.ndarray, x: float, rng: np.random.Generator) -> np.ndarray:
    """``counts * x`` with stochastic rounding (expected totals scale exactly)."""
    scaled = counts.astype(float) * x
    base = np.floor(scaled)
    return (base + (rng.random(scaled.shape) < scaled - base)).astype(np.int64)


def make_scenarios(trace: InvocationTrace, config: EvaluateConfig) -> list[Scenario]:
    """Arrivals per workflow (module docstring, steps 1 and 2)."""
    minutes = min(trace.n_minutes - 1, max(1, round(config.hours * 60)))
    if trace.n_minutes < 2:
        raise InputError("the trace needs at least 2 minutes", field="--trace")
    classes = [str(c) for c in classify(trace)]
    totals = trace.counts.sum(axis=1).astype(float)
    cluster_vcpu = config.sim.invokers * config.sim.invoker_cpu
    out = []
    for j, name in enumerate(config.workflows):
        wf = load_workflow(name)
        rows = pick_rows(classes, totals, config.functions_per_workflow, j)
        if not rows:
            raise InputError("the trace has no invocations", field="--trace")
        counts = trace.counts[rows].sum(axis=0)
        replay = counts[-minutes:]
        mean_rps = float(replay.mean()) / 60.0
        cap = min(config.max_rps, config.cluster_share * cluster_vcpu / max(busy_vcpu_s_per_request(wf), 1e-9))
        scale = min(1.0, cap / mean_rps) if mean_rps > 0 else 1.0
        scaled = _thin(counts, scale, np.random.default_rng(j))
        out.append(
            Scenario(
                wf,
                tuple(rows),
                tuple(trace.function_ids[r] if trace.function_ids else str(r) for r in rows),
                tuple(classes[r] for r in rows),
                scale,
                scaled[:-minutes].astype(float),
                scaled[-minutes:].astype(float),
            )
        )
    return out


def future_peaks(
    workflow: Workflow, configs: dict[str, Any], arrivals_s: np.ndarray, ticks_s: np.ndarray, sim: SimConfig, seed: int
) -> np.ndarray:
    """True peak concurrency per function and tick window, shape (n_functions, n_ticks), from a dry run where every
    container stays warm; tick k provisions windows k and k + 1 (a started container is ready a cold start later)."""
    dry = Simulator(sim, seed=seed, default_pool=PoolTarget(0, 10 * 86400.0))
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


def run_figures(platform: Platform, controller: Controller, pricing_name: str) -> dict[str, Any]:
    """Figures of one run from the Platform's records (module docstring, step 4)."""
    from aquatope.resources import Pricing

    pricing = Pricing.named(pricing_name)
    records = platform.request_records()
    qos = controller.workflow.qos.latency_ms
    lat = np.array([math.inf if r.failed else r.latency_ms for r in records])
    containers = platform.container_records()
    execution = sum(pricing.container_cost_usd(c.config, min(c.busy_s, c.lifetime_s)) for c in containers)
    idle = sum(pricing.container_cost_usd(c.config, max(0.0, c.lifetime_s - c.busy_s)) for c in containers)
    fees = pricing.requests_cost_usd(controller.invocations)
    finite = lat[np.isfinite(lat)]
    return {
        "requests": int(lat.size),
        "qos_violation_rate": float(np.mean(lat > qos)) if lat.size else 0.0,
        "p99_latency_ms": float(np.percentile(finite, 99)) if finite.size else math.nan,
        "qos_ms": qos,
        "cold_start_rate": controller.cold_starts / controller.invocations if controller.invocations else 0.0,
        "cost_usd": execution + idle + fees + controller.tuning_cost_usd,
        "execution_usd": execution,
        "idle_usd": idle,
        "tuning_cost_usd": controller.tuning_cost_usd,
        "tuning_evaluations": controller.tuning_evaluations,
        "retunes": sum(1 for t in controller.ticks if t.retune),
        "_latency_ms": lat,
    }


def warm_series(platform: Platform, ticks_s: np.ndarray) -> list[int]:
    """Containers alive (starting, idle or busy) at each tick time."""
    cs = platform.container_records()
    start = np.array([c.start_s for c in cs])
    end = np.array([c.end_s for c in cs])
    return [int(np.sum((start <= t) & (end > t))) for t in ticks_s]


def training_history(scenario: Scenario) -> np.ndarray:
    """Per-function invocation counts of the training minutes, ``(n_functions, n_minutes)``: requests per minute
    times the function's invocations per request."""
    calls = scenario.workflow.invocations_per_request()
    return np.stack([scenario.train_counts * calls[f] for f in scenario.workflow.function_names])


def fit_forecasters(scenarios: Sequence[Scenario], config: EvaluateConfig, seed: int) -> dict[str, dict[str, Any]]:
    """Per forecaster the systems use, per workflow: a fitted forecaster for that workflow's functions.

    A model that can be restricted to some of its functions (``selectable``: the global bayes-lstm) is fitted ONCE on
    the training histories of all workflows stacked (one global model across functions, as in production, and one
    training instead of one per workflow); others are fitted per workflow.
    """
    names = {SYSTEMS[s].forecaster for s in config.systems} - {None}
    histories = [training_history(sc) for sc in scenarios]
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(n for n in names if n is not None):
        spec = next(SYSTEMS[s] for s in config.systems if SYSTEMS[s].forecaster == name)
        pooled = make_system_forecaster(spec, config.budgets, seed)
        assert pooled is not None
        out[name] = {}
        if isinstance(pooled, BayesLSTMForecaster) and pooled.selectable:
            pooled.fit(np.concatenate(histories, axis=0))
            offsets = np.cumsum([0] + [h.shape[0] for h in histories])
            for i, sc in enumerate(scenarios):
                out[name][sc.workflow.name] = pooled.select(list(range(offsets[i], offsets[i + 1])))
        else:
            for sc, h in zip(scenarios, histories, strict=True):
                model = make_system_forecaster(spec, config.budgets, seed)
                assert model is not None
                out[name][sc.workflow.name] = model.fit(h)
    return out


def run_one(
    scenario: Scenario, system: str, config: EvaluateConfig, seed: int, forecaster: Forecaster | None = None
) -> dict[str, Any]:
    """One (workflow, system, seed) run: right-size, deploy, replay, drain; its figures and time series.

    ``forecaster``: already fitted for this workflow's functions (see :func:`fit_forecasters`); when None and
    the system needs one, it is fitted here on the workflow's training history.
    """
    spec = SYSTEMS[system]
    wf = scenario.workflow
    problem = make_problem(wf, "decoupled", config.budgets.tuning_budget, seed)
    platform = Simulator(config.sim, seed=seed)
    history = training_history(scenario)
    if forecaster is None and spec.forecaster is not None:
        forecaster = make_system_forecaster(spec, config.budgets, seed)
        assert forecaster is not None
        forecaster.fit(history)
    controller = Controller(
        platform,
        wf,
        make_pool_policy(spec),
        forecaster=forecaster,
        resizer=make_resizer(spec, problem, config.budgets, config.sim, seed),
        config=ControllerConfig(retune=config.retune),
        history=history,
    )
    controller.start()
    n = scenario.replay_counts.size
    arrivals = controller.t0_s + replay_arrivals(
        scenario.replay_counts.astype(np.int64), config.sim.arrival_mode, np.random.default_rng(seed)
    )
    if arrivals.size:
        platform.submit(wf.name, arrivals)
    ticks = np.array([controller.tick_time_s(k) for k in range(n)])
    peaks = (
        future_peaks(wf, controller.configs, arrivals, ticks, config.sim, seed)
        if controller.policy.needs_future
        else None
    )
    controller.run(n, future_peak=peaks)
    controller.finish()
    out = run_figures(platform, controller, config.sim.pricing)
    out["_warm"] = warm_series(platform, ticks)
    out["configs"] = {f: c.to_dict() for f, c in controller.configs.items()}
    out["sizing_notes"] = [s.note for s in controller.sizings]
    return out


def _mean_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    out: dict[str, Any] = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    out["configs"] = runs[0]["configs"]
    out["sizing_notes"] = runs[0]["sizing_notes"]
    return out


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else math.nan


def summarize_systems(per_workflow: dict[str, dict[str, dict[str, Any]]], systems: Sequence[str]) -> dict[str, Any]:
    """Per system: mean rates and total cost over workflows, and geometric-mean ratios to aquatope and oracle."""
    out: dict[str, Any] = {}
    for s in systems:
        rows = [per_workflow[w][s] for w in per_workflow]
        entry: dict[str, Any] = {
            "qos_violation_rate": float(np.mean([r["qos_violation_rate"] for r in rows])),
            "cost_usd": float(np.sum([r["cost_usd"] for r in rows])),
            "cold_start_rate": float(np.mean([r["cold_start_rate"] for r in rows])),
            "p99_latency_ms": float(np.mean([r["p99_latency_ms"] for r in rows])),
            "p99_over_target": _geomean([r["p99_latency_ms"] / r["qos_ms"] for r in rows]),
            "tuning_evaluations": float(np.sum([r["tuning_evaluations"] for r in rows])),
            "workflows_meeting_qos": sum(1 for w in per_workflow if meets_qos(per_workflow[w][s], w)),
        }
        for ref in ("aquatope", "oracle"):
            if ref in systems:
                refs = [per_workflow[w][ref] for w in per_workflow]
                entry[f"violations_vs_{ref}"] = _geomean(
                    [
                        max(r["qos_violation_rate"], RATE_FLOOR) / max(b["qos_violation_rate"], RATE_FLOOR)
                        for r, b in zip(rows, refs, strict=True)
                    ]
                )
                entry[f"cost_vs_{ref}"] = _geomean(
                    [r["cost_usd"] / b["cost_usd"] for r, b in zip(rows, refs, strict=True)]
                )
        out[s] = entry
    return out


def meets_qos(figures: dict[str, Any], workflow: str) -> bool:
    """The QoS is a percentile target: met when at most ``1 - quantile`` of requests exceed the latency target."""
    return bool(figures["qos_violation_rate"] <= 1 - load_workflow(workflow).qos.quantile)


def evaluate(
    trace: InvocationTrace, config: EvaluateConfig | None = None, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Run the protocol of the module docstring; returns the JSON-ready results (plus ``_series`` for plots)."""
    config = config or EvaluateConfig()
    began = time.perf_counter()
    scenarios = make_scenarios(trace, config)
    per_workflow: dict[str, dict[str, dict[str, Any]]] = {}
    series: dict[str, Any] = {}
    total = len(scenarios) * len(config.systems) * config.seeds
    done = 0
    if progress:
        progress("fitting forecasters", 0.0)
    models = {seed: fit_forecasters(scenarios, config, seed) for seed in range(config.seeds)}
    for sc in scenarios:
        name = sc.workflow.name
        per_workflow[name] = {}
        series[name] = {"requests_per_minute": sc.replay_counts.tolist(), "warm": {}, "latency_ms": {}}
        for system in config.systems:
            runs = []
            for seed in range(config.seeds):
                if progress:
                    progress(f"{name} / {system} / seed {seed}", done / total)
                fc = SYSTEMS[system].forecaster
                runs.append(run_one(sc, system, config, seed, models[seed][fc][name] if fc else None))
                done += 1
            series[name]["warm"][system] = runs[0].pop("_warm")
            series[name]["latency_ms"][system] = runs[0].pop("_latency_ms")
            for r in runs[1:]:
                r.pop("_warm")
                r.pop("_latency_ms")
            per_workflow[name][system] = _mean_runs(runs)
    if progress:
        progress("done", 1.0)
    setup = {
        "trace": trace.source,
        "config": {k: v for k, v in asdict(config).items() if k not in ("budgets", "sim", "retune")},
        "budgets": asdict(config.budgets),
        "sim": config.sim.to_dict(),
        "retune": asdict(config.retune),
        "seeds": list(range(config.seeds)),
        "mapping": {sc.workflow.name: sc.mapping() for sc in scenarios},
        "wall_s": time.perf_counter() - began,
    }
    return {
        "systems": summarize_systems(per_workflow, config.systems),
        "per_workflow": per_workflow,
        "setup": setup,
        "_series": series,
    }
