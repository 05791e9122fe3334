"""Right-sizing experiments on the simulator: one tuning run, and every method compared against the oracle."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.resources import Pricing, ResourceSpace
from aquatope.sim import SimConfig, Simulator
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig
from aquatope.sizing.exhaustive import OracleResult, exhaustive_search
from aquatope.sizing.loop import ProgressFn, SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import MEASURED_METHODS, make_sizer
from aquatope.workflow import Workflow

FRESH_SAMPLES = 200
"""Requests used to re-measure a sizer's answer on a fresh simulator (a different seed)."""


def make_problem(workflow: Workflow, space: str, budget: int, seed: int) -> SizingProblem:
    """A sizing problem with the space's natural pricing (Lambda prices for the coupled space)."""
    pricing = Pricing.aws_lambda() if space == "coupled" else Pricing.cloud_run()
    return SizingProblem(workflow, ResourceSpace.named(space), pricing, budget, seed)


def _platform(problem: SizingProblem, seed: int) -> Simulator:
    pricing = "aws-lambda" if problem.pricing.name == "aws-lambda" else "cloud-run"
    return Simulator(SimConfig(pricing=pricing), seed=seed)


def tune(
    problem: SizingProblem,
    method: str,
    samples_per_config: int = 20,
    progress: ProgressFn | None = None,
) -> SizingResult:
    """Run one measured sizer on a simulator seeded with ``problem.seed``."""
    sizer = make_sizer(method, problem, problem.seed)
    measurer = Measurer(_platform(problem, problem.seed), problem, k=samples_per_config, seed=problem.seed)
    budget = max(problem.budget, getattr(sizer, "required_evaluations", 0))
    return run_sizer(sizer, measurer, budget, progress)


def remeasure(problem: SizingProblem, config: WorkflowConfig, seed: int, k: int = FRESH_SAMPLES) -> Measurement:
    """Measure ``config`` again on a fresh simulator with another seed (does the answer really meet the QoS?)."""
    return Measurer(_platform(problem, seed + 7_654_321), problem, k=k, seed=seed + 1).measure(config)


def evaluations_to_within(result: SizingResult, optimum_usd: float, tolerance: float = 0.10) -> int | None:
    """First evaluation after which the best feasible cost is within ``tolerance`` of the optimum (None: never)."""
    for i, best in enumerate(result.best_cost_curve(), start=1):
        if best is not None and best <= optimum_usd * (1.0 + tolerance):
            return i
    return None


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

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def compare_methods(
    problem: SizingProblem,
    seeds: Sequence[int],
    methods: Sequence[str] = MEASURED_METHODS,
    samples_per_config: int = 20,
    on_run: Callable[[str, int], None] | None = None,
) -> tuple[OracleResult, list[MethodSummary]]:
    """Every method on every seed; costs relative to the exhaustive oracle (true expected cost of the answer)."""
    oracle = exhaustive_search(problem)
    summaries = []
    for method in methods:
        ratios: list[float] = []
        fresh: list[bool] = []
        evals: list[float] = []
        used: list[int] = []
        never = 0
        for seed in seeds:
            p = SizingProblem(problem.workflow, problem.space, problem.pricing, problem.budget, seed)
            result = tune(p, method, samples_per_config)
            used.append(result.evaluations)
            if result.best is not None and oracle.feasible:
                ratios.append(result.best.cost_per_request_usd / oracle.cost_per_request_usd)
                fresh.append(remeasure(p, result.best.config, seed).feasible)
            else:
                fresh.append(False)
            hit = evaluations_to_within(result, oracle.cost_per_request_usd) if oracle.feasible else None
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
            )
        )
    return oracle, summaries
