"""Right-sizing experiments on the simulator: one tuning run (in a scenario's staging world), its baseline and
report, and every method compared against the exhaustive optimum.

*Where measurements happen.* ``aquatope tune`` measures on a staging copy of the scenario's world (no tenants:
:meth:`Scenario.staging`) of :data:`STAGING_INVOKERS` invokers when the scenario sizes its cluster automatically
(from a trace, which a standalone tune does not have). A fresh re-measurement (:func:`remeasure`, the check an
answer must pass) runs in the same world with another seed and *without* noisy-neighbour episodes: those are the
bad measurements a sizer must survive, not the performance it is sizing for.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.resources import Pricing, ResourceSpace
from aquatope.scenarios import Scenario, load_scenario
from aquatope.sim import SimConfig, Simulator
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import History, Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.design import defaults
from aquatope.sizing.exhaustive import OracleResult, WorldEffects, exhaustive_search, expected_cost_usd
from aquatope.sizing.load import LoadProfile
from aquatope.sizing.loop import ProgressFn, SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import MEASURED_METHODS, make_sizer
from aquatope.workflow import Workflow

FRESH_SAMPLES = 200
"""Requests used to re-measure a sizer's answer on a fresh simulator (a different seed)."""
STAGING_INVOKERS = 2
"""Invokers of a standalone tune's staging world when the scenario sizes its cluster from a trace (``auto``)."""


def make_problem(
    workflow: Workflow, space: str, budget: int, seed: int, load: LoadProfile | None = None
) -> SizingProblem:
    """A sizing problem with the space's natural pricing (Lambda prices for the coupled space)."""
    pricing = Pricing.aws_lambda() if space == "coupled" else Pricing.cloud_run()
    return SizingProblem(workflow, ResourceSpace.named(space), pricing, budget, seed, load)


def staging_config(problem: SizingProblem, scenario: Scenario | str | None = None) -> SimConfig:
    """The simulator parameters of a staging world of ``scenario`` (default: calm) at the problem's pricing."""
    world = load_scenario(scenario if scenario is not None else "calm").staging()
    invokers = world.cluster.invokers if world.cluster.invokers is not None else STAGING_INVOKERS
    pricing = "aws-lambda" if problem.pricing.name == "aws-lambda" else "cloud-run"
    return dataclasses.replace(world.sim_config(invokers=invokers), pricing=pricing)


def world_effects(config: SimConfig, workflow: Workflow) -> WorldEffects:
    """What the exhaustive oracle must add to the performance models in a world (see ``WorldEffects``); the
    per-edge delay is the largest of the workflow's functions' (they differ only with ``output_mb``)."""
    payload_mb = max((f.output_mb for f in workflow.functions.values()), default=0.0)
    size_ms = 1000.0 * payload_mb / config.transfer_mb_per_s if config.transfer_mb_per_s > 0 else 0.0
    out_ms = config.transfer_ms + size_ms
    return WorldEffects(
        transfer_ms=out_ms,
        tail_prob=config.heavy_tail_prob,
        tail_alpha=config.heavy_tail_alpha,
        slope_cpu=config.interference,
        slope_memory=config.interference_memory,
        invoker_cpu=config.invoker_cpu,
    )


TRUTH_SAMPLES, TRUTH_SEED = 20_000, 0
"""A configuration's *true* expected cost, which answers are scored by (:func:`true_cost_usd`): a Monte Carlo mean
over 20,000 requests drawn with one fixed seed, the same for every configuration and run (common random numbers:
a configuration always scores the same). Until 2026-11-27 answers were scored over 500-1,000 requests drawn with
the run's seed: one configuration scored 1.045-1.072x the optimum from one seed to the next, and the optimum's own
cost, the sample it was chosen on, read up to 1% low."""


def true_cost_usd(problem: SizingProblem, config: WorkflowConfig, scenario: Scenario | str | None = None) -> float:
    """The true expected cost of ``config`` (USD per request, the sizing objective) in the scenario's world, by the
    perf models: :data:`TRUTH_SAMPLES` requests, seed :data:`TRUTH_SEED` whatever ``problem.seed`` is."""
    q = problem.with_seed(TRUTH_SEED)
    return expected_cost_usd(q, config, TRUTH_SAMPLES, world_effects(staging_config(q, scenario), q.workflow))


def tune(
    problem: SizingProblem,
    method: str,
    samples_per_config: int = 20,
    progress: ProgressFn | None = None,
    *,
    start: str = "design",
    scenario: Scenario | str | None = None,
    sizer_seed: int | None = None,
) -> SizingResult:
    """Run one measured sizer on a staging simulator of ``scenario`` seeded with ``problem.seed``. The sizer's own
    randomness (its candidates, random proposals and model fits) is seeded with ``sizer_seed``, ``problem.seed``
    when None: another ``sizer_seed`` shows how much of a result is the sizer's luck on the same measurements."""
    sizer = make_sizer(method, problem, problem.seed if sizer_seed is None else sizer_seed, start)
    platform = Simulator(staging_config(problem, scenario), seed=problem.seed)
    measurer = Measurer(platform, problem, k=samples_per_config, seed=problem.seed)
    budget = max(problem.budget, getattr(sizer, "required_evaluations", 0))
    return run_sizer(sizer, measurer, budget, progress)


def remeasure(
    problem: SizingProblem,
    config: WorkflowConfig,
    seed: int,
    k: int = FRESH_SAMPLES,
    scenario: Scenario | str | None = None,
) -> Measurement:
    """Measure ``config`` again on a fresh simulator of the scenario's world with another seed, no neighbours
    (does the answer really meet the QoS?)."""
    sim = dataclasses.replace(staging_config(problem, scenario), neighbour_rate_per_h=0.0)
    return Measurer(Simulator(sim, seed=seed + 7_654_321), problem, k=k, seed=seed + 1).measure(config)


@dataclass(frozen=True)
class Saving:
    """The answer against the deployed (default) configuration, both judged by the answer rule's objective."""

    default_usd: float
    answer_usd: float
    default_measured: bool

    @property
    def fraction(self) -> float:
        return 1.0 - self.answer_usd / self.default_usd if self.default_usd > 0 else math.nan


def saving(problem: SizingProblem, result: SizingResult, measure_default: Callable[[], Measurement]) -> Saving | None:
    """The saving of ``result``'s answer over the YAML defaults; the defaults are taken from the run when it
    measured them, else measured once more (``measure_default``, source ``baseline``, outside the budget)."""
    if result.best is None:
        return None
    history = History()
    for m, s in zip(result.history, result.sources or ("external",) * result.evaluations, strict=True):
        history.add(m, s)
    base = defaults(problem)
    measured = any(config_key(m.config) == config_key(base) for m in result.history)
    if not measured:
        history.add(measure_default(), "baseline")
    judged = judge_all(problem, history)
    return Saving(
        judged[config_key(base)].objective_usd, judged[config_key(result.best.config)].objective_usd, measured
    )


@contextmanager
def numerical_warnings() -> Iterator[Counter[str]]:
    """Collect the numerical warnings GPyTorch/BoTorch raise while fitting tiny noisy data sets (jitter added,
    optimiser stopped early), counted by category, instead of printing each; the caller reports them once."""
    counts: Counter[str] = Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield counts
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning):
            continue  # library deprecations, hidden by Python's defaults anyway
        counts[w.category.__name__] += 1


def truth_curve(
    problem: SizingProblem, result: SizingResult, optimum_usd: float, scenario: Scenario | str | None = None
) -> list[float | None]:
    """The answer's true cost (:func:`true_cost_usd`) over ``optimum_usd`` after each evaluation (None while there is
    no answer)."""
    truth: dict[int, float] = {}
    curve: list[float | None] = []
    for i in result.answer_index:
        if i is not None and i not in truth:
            truth[i] = true_cost_usd(problem, result.history[i].config, scenario)
        curve.append(None if i is None else truth[i] / optimum_usd)
    return curve


def first_within(curve: Sequence[float | None], tolerance: float) -> int | None:
    """First evaluation (1-based) whose ratio in ``curve`` is within ``tolerance`` of 1 or under (None: never)."""
    return next((n for n, r in enumerate(curve, start=1) if r is not None and r <= 1.0 + tolerance), None)


def evaluations_to_within(
    problem: SizingProblem, result: SizingResult, optimum_usd: float, tolerance: float = 0.10
) -> int | None:
    """First evaluation after which the answer's true cost is within ``tolerance`` of the optimum (None: never).
    Until 2026-11-27 it read the answer's measured cost, so it could report an early hit for a run whose final answer
    sat far above the optimum."""
    return first_within(truth_curve(problem, result, optimum_usd), tolerance)


@dataclass(frozen=True)
class MethodSummary:
    """One method over several seeds, scored against the oracle."""

    method: str
    runs: int
    cost_ratio_median: float
    fresh_qos_met: float
    evals_to_10pct_median: float
    never_within_10pct: int
    evaluations_median: float
    answer_sources: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def compare_methods(
    problem: SizingProblem,
    seeds: Sequence[int],
    methods: Sequence[str] = MEASURED_METHODS,
    samples_per_config: int = 20,
    on_run: Callable[[str, int], None] | None = None,
) -> tuple[OracleResult, list[MethodSummary]]:
    """Every method on every seed; costs relative to the exhaustive oracle, both at the truth
    (:func:`true_cost_usd`)."""
    oracle = exhaustive_search(problem)
    optimum = math.inf if oracle.config is None else true_cost_usd(problem, oracle.config)
    summaries = []
    for method in methods:
        ratios: list[float] = []
        fresh: list[bool] = []
        evals: list[float] = []
        used: list[int] = []
        sources: Counter[str] = Counter()
        never = 0
        for seed in seeds:
            p = problem.with_seed(seed)
            result = tune(p, method, samples_per_config)
            used.append(result.evaluations)
            sources[result.best_source or "none"] += 1
            if result.best is not None and oracle.feasible:
                ratios.append(true_cost_usd(p, result.best.config) / optimum)
                fresh.append(remeasure(p, result.best.config, seed).feasible)
            else:
                fresh.append(False)
            hit = evaluations_to_within(p, result, optimum) if oracle.feasible else None
            never += hit is None
            evals.append(math.inf if hit is None else hit)  # a run that never got there counts as infinitely slow
            if on_run:
                on_run(method, seed)
        summaries.append(
            MethodSummary(
                method,
                len(seeds),
                float(np.median(ratios)) if ratios else math.nan,
                float(np.mean(fresh)),
                float(np.median(evals)),
                never,
                float(np.median(used)),
                dict(sources),
            )
        )
    return oracle, summaries
