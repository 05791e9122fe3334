"""CherryPick (NSDI '17) as a baseline: one GP and plain expected improvement, QoS as a penalty.

What distinguishes it from :class:`aquatope.sizing.bo.AquatopeBO` (deliberately, it is the baseline):

* one GP of a penalized objective ``log(cost) + PENALTY`` when the measured latency percentile misses QoS
  (``slack > 0``), ``log(cost)`` otherwise; no constraint model;
* no noise model: a fixed tiny observation noise (``FIXED_NOISE`` in standardized units), so noisy
  measurements are interpolated; no outlier handling;
* ``LogExpectedImprovement`` on that GP against the best penalized value measured;
* Sobol initial design; stop when EI < ``ei_stop`` (default 0.1 in log cost, CherryPick's "EI below 10%") after
  at least ``min_evals`` (default 6) evaluations, or when the budget is spent.

The answer is the same rule as every sizer: the cheapest configuration measured feasible (latest measurement).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.optim import optimize_acqf

from aquatope.sizing.base import History, Measurement, SizingProblem, WorkflowConfig
from aquatope.sizing.bo import default_n_init, latest_best
from aquatope.sizing.gp import fit_gp, single_thread, sobol_points, unit_bounds

PENALTY = 5.0
"""Added to log cost when QoS is missed (e^5 ~ 150x the cost)."""
FIXED_NOISE = 1e-6


def penalized(m: Measurement) -> float:
    return math.log(m.cost_per_request_usd) + (PENALTY if m.slack > 0 else 0.0)


class CherryPick:
    """GP + EI sizer with infeasibility as a penalty (module docstring)."""

    name = "cherrypick"

    def __init__(
        self,
        problem: SizingProblem,
        seed: int | None = None,
        *,
        n_init: int | None = None,
        ei_stop: float = 0.1,
        min_evals: int = 6,
    ) -> None:
        self.problem = problem
        self.seed = problem.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.ei_stop, self.min_evals = ei_stop, min_evals
        self.history = History()
        self.stopped = False
        n = default_n_init(problem.dims) if n_init is None else n_init
        self.design = [problem.from_unit(x) for x in sobol_points(n, problem.dims, self.seed)]

    def suggest(self) -> list[WorkflowConfig]:
        with single_thread():
            return self._suggest()

    def _suggest(self) -> list[WorkflowConfig]:
        if self.stopped or len(self.history) >= self.problem.budget:
            return []
        while self.design:
            config = self.design.pop(0)
            if not self.history.seen(config):
                return [config]
        x = np.array([self.problem.to_unit(m.config) for m in self.history.items])
        y = np.array([penalized(m) for m in self.history.items])
        model = fit_gp(x, -y, fixed_noise=FIXED_NOISE)
        acq = LogExpectedImprovement(model, best_f=float((-y).max()))
        torch.manual_seed(self.seed * 7919 + len(self.history))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BadInitialCandidatesWarning)
            warnings.simplefilter("ignore", OptimizationWarning)
            cand, value = optimize_acqf(
                acq, bounds=unit_bounds(self.problem.dims), q=1, num_restarts=4, raw_samples=128
            )
        if value is not None and len(self.history) >= self.min_evals and float(value) < math.log(self.ei_stop):
            self.stopped = True
            return []
        config = self.problem.from_unit(cand.reshape(-1).detach().numpy())
        for scale in np.linspace(0.02, 0.3, 50):
            if not self.history.seen(config):
                break
            x0 = cand.reshape(-1).detach().numpy()
            config = self.problem.from_unit(np.clip(x0 + self.rng.normal(0.0, scale, x0.shape), 0.0, 1.0))
        return [config]

    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        self.history.add(measurement)

    def best(self) -> Measurement | None:
        return latest_best(self.history)
