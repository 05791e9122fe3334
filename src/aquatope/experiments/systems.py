"""Named systems: a pre-warming policy plus a right-sizing method, run by the same :class:`Controller`.

======================  =================================  =========================================
system                  pre-warming                        right-sizing
======================  =================================  =========================================
``openwhisk``           ``keepalive:600``                  every function at its YAML default
``hist-powertune``      ``hybrid-histogram``               ``grid`` (AWS Lambda Power Tuning, cost)
``cherrypick``          ``keepalive:600``                  ``cherrypick`` BO
``aquatope``            ``aquatope:q=0.9`` (bayes-lstm)    ``aquatope-bo``
``oracle``              clairvoyant (true future peaks)    exhaustive search on the perf models
``aquatope-prewarm``    ``aquatope:q=0.9`` (bayes-lstm)    exhaustive (the oracle's sizing)
``aquatope-sizing``     clairvoyant (the oracle's pool)    ``aquatope-bo``
======================  =================================  =========================================

The last two are ablations, not in ``all``: each pairs one half of aquatope with the oracle's other half, so a run
with ``--systems aquatope,aquatope-prewarm,aquatope-sizing,oracle`` says which half a gap to the oracle comes from.

Measured sizers run on a *staging* simulator (a fresh one per (re-)tune, seeded from the run's seed) with
:class:`~aquatope.sizing.Measurer`: the measurement requests never mix with live traffic, and the container cost of
every measurement (busy and idle time, and request fees) is returned in :class:`SizingOutcome` and added to the
run's cost. The oracle and the defaults measure nothing (0 evaluations, no cost).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aquatope.controller import SizingOutcome
from aquatope.errors import InputError
from aquatope.forecast import Forecaster, make_forecaster
from aquatope.platform import ContainerRecord
from aquatope.prewarm import PoolPolicy, SafePolicy, make_policy
from aquatope.resources import Pricing
from aquatope.sim import SimConfig, Simulator
from aquatope.sizing.base import SizingProblem
from aquatope.sizing.exhaustive import exhaustive_search
from aquatope.sizing.loop import SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import make_sizer
from aquatope.workflow import Workflow


@dataclass(frozen=True)
class SystemSpec:
    """A system by name: pool policy spec, sizing method (``default``, a measured method, or ``exhaustive``)."""

    name: str
    prewarm: str
    sizing: str
    forecaster: str | None = None
    description: str = ""


SYSTEMS: dict[str, SystemSpec] = {
    s.name: s
    for s in (
        SystemSpec("openwhisk", "keepalive:600", "default", None, "OpenWhisk: 10-min keep-alive, YAML configs"),
        SystemSpec("hist-powertune", "hybrid-histogram", "grid", None, "hybrid histogram + Power Tuning grid"),
        SystemSpec("cherrypick", "keepalive:600", "cherrypick", None, "10-min keep-alive + CherryPick BO"),
        SystemSpec("aquatope", "aquatope:q=0.9", "aquatope-bo", "bayes-lstm", "Bayesian pre-warming + QoS BO"),
        SystemSpec("oracle", "oracle", "exhaustive", None, "clairvoyant pool + exhaustive right-sizing"),
        # ablations: one half of aquatope, the other half from the oracle (which half costs what)
        SystemSpec("aquatope-prewarm", "aquatope:q=0.9", "exhaustive", "bayes-lstm", "aquatope pool + oracle sizing"),
        SystemSpec("aquatope-sizing", "oracle", "aquatope-bo", None, "oracle pool + aquatope-bo sizing"),
    )
}
SYSTEM_NAMES = ("openwhisk", "hist-powertune", "cherrypick", "aquatope", "oracle")
"""The systems ``all`` runs; the ablations ``aquatope-prewarm`` and ``aquatope-sizing`` are asked for by name."""


@dataclass(frozen=True)
class Budgets:
    """Tuning and model budgets shared by every system (recorded in the results' setup)."""

    tuning_budget: int = 20
    samples_per_config: int = 10
    oracle_mc_samples: int = 5000
    oracle_candidate_samples: int = 300
    forecaster_params: dict[str, Any] = field(default_factory=lambda: {"n_windows": 6000, "epochs": 6, "mc_passes": 16})

    def __post_init__(self) -> None:
        if self.tuning_budget < 1:
            raise InputError(f"must be >= 1, got {self.tuning_budget}", field="--budget")
        if self.samples_per_config < 2:
            raise InputError(f"must be >= 2, got {self.samples_per_config}", field="samples_per_config")


def parse_systems(text: str | Sequence[str]) -> tuple[str, ...]:
    """``all`` or a comma-separated list of known system names (no duplicates)."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if items == ["all"]:
        return SYSTEM_NAMES
    if not items:
        raise InputError("no system given", field="--systems")
    for s in items:
        if s not in SYSTEMS:
            raise InputError(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)} or all", field="--systems")
    if len(set(items)) != len(items):
        raise InputError(f"duplicate systems in {text!r}", field="--systems")
    return tuple(items)


def make_pool_policy(system: SystemSpec) -> PoolPolicy:
    return SafePolicy(make_policy(system.prewarm))


def make_system_forecaster(system: SystemSpec, budgets: Budgets, seed: int) -> Forecaster | None:
    if system.forecaster is None:
        return None
    if system.forecaster == "bayes-lstm":
        return make_forecaster("bayes-lstm", seed=seed, **budgets.forecaster_params)
    return make_forecaster(system.forecaster)


class DefaultResizer:
    """The workflow's YAML configuration; measures nothing."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

    def __call__(self, attempt: int) -> SizingOutcome:
        return SizingOutcome(self.workflow.default_configs(), 0, 0.0, "defaults")


class OracleResizer:
    """The exhaustive oracle (knows the perf models); measures nothing. Computed once, reused on re-tunes."""

    def __init__(self, problem: SizingProblem, budgets: Budgets) -> None:
        self.problem = problem
        self.budgets = budgets
        self._answer: SizingOutcome | None = None

    def __call__(self, attempt: int) -> SizingOutcome:
        if self._answer is None:
            r = exhaustive_search(self.problem, self.budgets.oracle_mc_samples, self.budgets.oracle_candidate_samples)
            self._answer = SizingOutcome(r.config, 0, 0.0, f"exhaustive ({r.method})")
        return self._answer


def measurement_cost_usd(containers: Sequence[ContainerRecord], pricing: Pricing) -> float:
    """What right-sizing measurements cost: every staging container's whole life, plus request fees (USD)."""
    cost = sum(pricing.container_cost_usd(c.config, c.lifetime_s) for c in containers)
    return cost + pricing.requests_cost_usd(sum(c.invocations for c in containers))


def measured_outcome(label: str, result: SizingResult, cost_usd: float) -> SizingOutcome:
    """A measured sizer's answer (None when nothing was feasible), evaluations, measurement cost and a note."""
    best = result.best
    note = f"{label}: {result.evaluations} evaluations" + ("" if best else ", nothing feasible")
    return SizingOutcome(None if best is None else best.config, result.evaluations, cost_usd, note)


class MeasuredResizer:
    """A measured sizer run with :func:`run_sizer` on a fresh staging simulator; cost of its measurements returned."""

    def __init__(self, problem: SizingProblem, method: str, budgets: Budgets, sim: SimConfig, seed: int) -> None:
        self.problem = problem
        self.method = method
        self.budgets = budgets
        self.sim = sim
        self.seed = seed

    def __call__(self, attempt: int) -> SizingOutcome:
        seed = self.seed + 1000 * attempt
        staging = Simulator(self.sim, seed=seed + 17)
        sizer = make_sizer(self.method, self.problem, seed)
        measurer = Measurer(staging, self.problem, k=self.budgets.samples_per_config, seed=seed)
        budget = max(self.budgets.tuning_budget, getattr(sizer, "required_evaluations", 0))
        with warnings.catch_warnings():  # GP fitting warnings (tiny noise, restarts) are expected at small budgets
            warnings.simplefilter("ignore")
            result = run_sizer(sizer, measurer, budget)
        return measured_outcome(
            self.method, result, measurement_cost_usd(staging.container_records(), self.problem.pricing)
        )


def make_resizer(
    system: SystemSpec, problem: SizingProblem, budgets: Budgets, sim: SimConfig, seed: int
) -> DefaultResizer | OracleResizer | MeasuredResizer:
    if system.sizing == "default":
        return DefaultResizer(problem.workflow)
    if system.sizing == "exhaustive":
        return OracleResizer(problem, budgets)
    return MeasuredResizer(problem, system.sizing, budgets, sim, seed)
