"""Baseline sizers: random search and AWS Lambda Power Tuning's per-function grid (QoS-agnostic, "cost")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aquatope.resources import LAMBDA_MB_PER_VCPU, ResourceConfig
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.sizer import BaseSizer, Proposal

POWER_TUNING_MEMORY_MB = (128, 256, 512, 1024, 1536, 2048, 3008)
"""The memory sizes AWS Lambda Power Tuning tests by default (its ``powerValues``)."""


def lambda_config(memory_mb: int) -> ResourceConfig:
    """A Lambda-style configuration: CPU in proportion to memory, 1769 MB per vCPU."""
    return ResourceConfig(round(memory_mb / LAMBDA_MB_PER_VCPU, 1) or 0.1, memory_mb)


class RandomSizer(BaseSizer):
    """Uniformly random configurations of the space (each function independently), one at a time, after the
    starting design (``start="design"``) or from the first evaluation (``start="random"``: pure random search).
    The answer is the shared rule, confirmed before finishing."""

    name = "random"

    def __init__(self, problem: SizingProblem, seed: int | None = None, start: str = "design") -> None:
        super().__init__(problem, seed, start)
        self.rng = np.random.default_rng([self.seed, 17])

    def propose(self) -> Proposal | None:
        if self.start == "design" and (point := self.design_point()) is not None:
            return point
        measured = self.measured_keys()
        for _ in range(100):
            config = self.problem.from_unit(self.rng.random(self.problem.dims))
            if config_key(config) not in measured:
                return config, "random"
        return None


class PowerTuningGrid(BaseSizer):
    """AWS Lambda Power Tuning, "cost" strategy, applied per function and then combined (QoS-agnostic).

    Each function is tuned on its own: its memory walks through ``memory_sizes_mb`` (CPU follows memory as on
    Lambda, 1769 MB per vCPU, also in a decoupled space) while the others stay at their defaults; the size with the
    lowest measured cost per request wins. The winners are combined and measured once more; that final
    measurement is the answer, feasible or not: Power Tuning does not look at the latency target. It needs
    ``functions x sizes + 1`` evaluations whatever the budget.
    """

    name = "grid"
    confirms = False

    def __init__(self, problem: SizingProblem, memory_sizes_mb: Sequence[int] = POWER_TUNING_MEMORY_MB) -> None:
        super().__init__(problem, None, "design")
        space = problem.space
        self.sizes = list(dict.fromkeys(space.nearest(lambda_config(m)) for m in memory_sizes_mb))
        self.base = problem.workflow.default_configs()
        self.plan = [(f, c) for f in problem.functions for c in self.sizes]
        self.results: dict[str, list[tuple[float, ResourceConfig]]] = {f: [] for f in problem.functions}
        self.final: Measurement | None = None

    @property
    def required_evaluations(self) -> int:
        return len(self.plan) + 1

    def suggest(self) -> list[WorkflowConfig]:
        if self._pending is None and len(self.history) < self.required_evaluations:
            self._pending = self.propose()
        return [] if self._pending is None else [dict(self._pending[0])]

    def propose(self) -> Proposal | None:
        step = len(self.history)
        if step < len(self.plan):
            f, c = self.plan[step]
            return {**self.base, f: c}, "profile"
        return (self.combined(), "search") if self.final is None else None

    def combined(self) -> WorkflowConfig:
        """Every function at its cheapest measured size."""
        return {f: min(self.results[f], key=lambda r: r[0])[1] for f in self.problem.functions}

    def observed(self, config: WorkflowConfig, measurement: Measurement, source: str) -> None:
        step = len(self.history) - 1
        if step < len(self.plan):
            f, c = self.plan[step]
            cost = measurement.cost_per_request_usd if measurement.failed == 0 else float("inf")
            self.results[f].append((cost, c))
        else:
            self.final = measurement

    def best(self) -> Measurement | None:
        return self.final
