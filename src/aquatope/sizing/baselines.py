"""Baseline sizers: uniform random search and AWS Lambda Power Tuning's per-function grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import History, Measurement, SizingProblem, WorkflowConfig

POWER_TUNING_MEMORY_MB = (128, 256, 512, 1024, 1536, 2048, 3008)
"""The memory sizes AWS Lambda Power Tuning tests by default (its ``powerValues``)."""


class RandomSizer:
    """Uniformly random configurations of the space (each function independently), one at a time, until the
    budget is spent. Its answer is the cheapest configuration measured feasible."""

    name = "random"

    def __init__(self, problem: SizingProblem, seed: int = 0) -> None:
        self.problem = problem
        self.rng = np.random.default_rng([seed, 17])
        self.history = History()

    def suggest(self) -> list[WorkflowConfig]:
        if len(self.history) >= self.problem.budget:
            return []
        for _ in range(100):
            config = self.problem.from_unit(self.rng.random(self.problem.dims))
            if not self.history.seen(config):
                return [config]
        return [config]

    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        self.history.add(measurement)

    def best(self) -> Measurement | None:
        return self.history.best()


class PowerTuningGrid:
    """AWS Lambda Power Tuning, "cost" strategy, applied per function and then combined (QoS-agnostic).

    Each function is tuned on its own: its memory walks through ``memory_sizes_mb`` (CPU follows memory as on
    Lambda, 1769 MB per vCPU, also in a decoupled space) while the others stay at their defaults; the size with the
    lowest measured cost per request wins. The winners are combined and measured once more; that final
    measurement is the answer, feasible or not: Power Tuning does not look at the latency target. It needs
    ``functions x sizes + 1`` evaluations whatever the budget.
    """

    name = "grid"

    def __init__(self, problem: SizingProblem, memory_sizes_mb: Sequence[int] = POWER_TUNING_MEMORY_MB) -> None:
        self.problem = problem
        space = problem.space
        self.sizes = [space.nearest(self._lambda_config(m)) for m in memory_sizes_mb]
        self.sizes = list(dict.fromkeys(self.sizes))  # distinct after rounding, order kept
        self.base = problem.workflow.default_configs()
        self.plan = [(f, c) for f in problem.functions for c in self.sizes]
        self.results: dict[str, list[tuple[float, ResourceConfig]]] = {f: [] for f in problem.functions}
        self.final: Measurement | None = None
        self.history = History()

    @staticmethod
    def _lambda_config(memory_mb: int) -> ResourceConfig:
        return ResourceConfig(round(memory_mb / 1769.0, 1) or 0.1, memory_mb)

    @property
    def required_evaluations(self) -> int:
        return len(self.plan) + 1

    def suggest(self) -> list[WorkflowConfig]:
        step = len(self.history)
        if step < len(self.plan):
            f, c = self.plan[step]
            return [{**self.base, f: c}]
        if self.final is None:
            return [self.combined()]
        return []

    def combined(self) -> WorkflowConfig:
        """Every function at its cheapest measured size."""
        return {f: min(self.results[f], key=lambda r: r[0])[1] for f in self.problem.functions}

    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        step = len(self.history)
        self.history.add(measurement)
        if step < len(self.plan):
            f, c = self.plan[step]
            cost = measurement.cost_per_request_usd if measurement.failed == 0 else float("inf")
            self.results[f].append((cost, c))
        else:
            self.final = measurement

    def best(self) -> Measurement | None:
        return self.final
