"""Systems: a pool (pre-warming) plus a sizer (right-sizing), run by the same :class:`Controller`, on equal terms.

``--systems`` takes named systems or any ``POOL+SIZER`` (e.g. ``reactive+model-based``): pools are the specs of
:func:`aquatope.prewarm.make_policy` plus ``clairvoyant-jit`` (the simulator's just-in-time containers, a reference);
sizers are ``defaults`` (the YAML's configuration), ``exhaustive`` (the optimum on the true performance models, a
reference) or a measured method of :mod:`aquatope.sizing.registry`. ``POOL+SIZER+live`` (a measured sizer only)
also re-judges the answer with the deployed configuration's warm live requests (:mod:`aquatope.sizing.live`,
the controller's ``live_evidence``): an option, measured against the same system without it, not a default.

=======================  ==========================  ================  =============================================
system                   pool                        sizer             what it stands for
=======================  ==========================  ================  =============================================
``openwhisk``            ``keepalive:600``           ``defaults``      the platform as deployed
``knative``              ``reactive``                ``defaults``      Knative's KPA autoscaler
``lambda-pc``            ``provisioned``             ``powertune-qos`` an operator on Lambda: Power Tuning + PC
``hist-powertune``       ``hybrid-histogram``        ``powertune-qos`` Serverless in the Wild + Power Tuning
``cherrypick``           ``keepalive:auto``          ``cherrypick``    CherryPick's BO with a tuned keep-alive
``jolteon``              ``keepalive:auto``          ``model-based``   Jolteon's model-based sizing, tuned keep-alive
``aquatope``             ``aquatope``                ``aquatope-bo``   Bayesian pre-warming + QoS-constrained BO
``lower-bound``          ``clairvoyant-jit``         ``exhaustive``    the least any policy could pay
``clairvoyant-interval`` ``clairvoyant-interval``    ``exhaustive``    each interval's true peak held all interval
=======================  ==========================  ================  =============================================

The baselines' measured sizers get a tuned keep-alive (``keepalive:auto``, fitted on training history) rather
than OpenWhisk's 600 s, so that their sizing is not billed through an oversized keep-alive.

**Equal terms.** Every measured sizer gets the same budget, the same samples per configuration, the same starting
design (``Budgets.start``: the YAML defaults and what a user would try first, or a cold random start for all), the
same answer rule (:mod:`aquatope.sizing`), and measures in the same place: the scenario's staging copy (a fresh
simulator with the same machines and physics, no tenants, per (re-)tune) or production (shadow requests of a renamed
copy of the workflow on the live simulator, next to live traffic and tenants). Every measurement's container time
and request fees are the run's tuning cost.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast import Forecaster, make_forecaster
from aquatope.platform import ContainerRecord, Platform, PoolTarget
from aquatope.prewarm import PoolPolicy, SafePolicy, make_policy
from aquatope.resources import Pricing, ResourceConfig
from aquatope.retune import SizingOutcome
from aquatope.sizing.base import History, SizingProblem, config_key
from aquatope.sizing.exhaustive import NO_EFFECTS, WorldEffects, exhaustive_search
from aquatope.sizing.live import rejudge
from aquatope.sizing.loop import SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import MEASURED_METHODS, make_sizer
from aquatope.workflow import QoS, Workflow

JIT_POOL = "clairvoyant-jit"
REFERENCE_SIZERS = ("exhaustive",)
SIZERS = ("defaults", "exhaustive", *MEASURED_METHODS)
SHADOW_PREFIX = "shadow-"


@dataclass(frozen=True)
class SystemSpec:
    """A system: its pool spec, its sizer, the forecaster its pool reads (if any) and a description."""

    name: str
    pool: str
    sizer: str
    description: str = ""
    live: bool = False
    """Re-judge the sizer's answer with live requests (``POOL+SIZER+live``, :mod:`aquatope.sizing.live`)."""

    @property
    def forecaster(self) -> str | None:
        return "bayes-lstm" if self.pool.split(":")[0] == "aquatope" else None

    @property
    def reference(self) -> bool:
        """References read the truth (clairvoyant pools, exhaustive sizing); their names say so."""
        return self.pool.startswith("clairvoyant") or self.sizer in REFERENCE_SIZERS

    @property
    def measured(self) -> bool:
        return self.sizer not in ("defaults", *REFERENCE_SIZERS)


NAMED: dict[str, SystemSpec] = {
    s.name: s
    for s in (
        SystemSpec("openwhisk", "keepalive:600", "defaults", "OpenWhisk: 10-min keep-alive, YAML configs"),
        SystemSpec("knative", "reactive", "defaults", "Knative KPA autoscaler, YAML configs"),
        SystemSpec("lambda-pc", "provisioned", "powertune-qos", "provisioned concurrency + Power Tuning (QoS)"),
        SystemSpec("hist-powertune", "hybrid-histogram", "powertune-qos", "hybrid histogram + Power Tuning (QoS)"),
        SystemSpec("cherrypick", "keepalive:auto", "cherrypick", "tuned keep-alive + CherryPick BO"),
        SystemSpec("jolteon", "keepalive:auto", "model-based", "tuned keep-alive + model-based sizing (Jolteon)"),
        SystemSpec("aquatope", "aquatope", "aquatope-bo", "Bayesian pre-warming + QoS-constrained BO"),
        SystemSpec("lower-bound", JIT_POOL, "exhaustive", "clairvoyant just-in-time pool + exhaustive sizing"),
        SystemSpec(
            "clairvoyant-interval", "clairvoyant-interval", "exhaustive", "true peaks per interval + exhaustive"
        ),
        # ablations, by name only: one half of aquatope, the other half a reference, or no model at all
        SystemSpec("aquatope-prewarm", "aquatope", "exhaustive", "aquatope's pool + exhaustive sizing"),
        SystemSpec("aquatope-sizing", JIT_POOL, "aquatope-bo", "just-in-time pool + aquatope-bo"),
        SystemSpec("aquatope-design", "aquatope", "aquatope-design", "aquatope's pool + its design, no model"),
    )
}
DEFAULT_SYSTEMS = ("openwhisk", "knative", "hist-powertune", "cherrypick", "jolteon", "aquatope", "lower-bound")
"""What ``all`` (and ``aquatope evaluate`` by default) runs."""


def system_spec(name: str) -> SystemSpec:
    """A named system or ``POOL+SIZER`` (validated: the pool must parse, the sizer must exist)."""
    if name in NAMED:
        spec = NAMED[name]
    else:
        pool, plus, sizer = name.partition("+")
        if not plus:
            known = ", ".join(NAMED)
            raise InputError(f"unknown system {name!r}; use one of {known} or POOL+SIZER[+live]", field="--systems")
        sizer, live = sizer.strip().removesuffix("+live"), sizer.strip().endswith("+live")
        spec = SystemSpec(name, pool.strip(), sizer, f"{pool.strip()} + {sizer}" + (" + live" if live else ""), live)
    if spec.pool != JIT_POOL:
        make_policy(spec.pool)
    if spec.sizer not in SIZERS and spec.sizer not in MEASURED_METHODS:
        raise InputError(f"unknown sizer {spec.sizer!r} in {name!r}; sizers: {', '.join(SIZERS)}", field="--systems")
    if spec.live and not spec.measured:
        raise InputError(f"+live needs a measured sizer, not {spec.sizer!r}, in {name!r}", field="--systems")
    return spec


def parse_systems(text: str | Sequence[str]) -> tuple[str, ...]:
    """``all`` or a comma-separated list of named systems and ``POOL+SIZER`` combinations (no duplicates)."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    if items == ["all"]:
        return DEFAULT_SYSTEMS
    if not items:
        raise InputError("no system given", field="--systems")
    for s in items:
        system_spec(s)
    if len(set(items)) != len(items):
        raise InputError(f"duplicate systems in {text!r}", field="--systems")
    return tuple(items)


@dataclass(frozen=True)
class Budgets:
    """Tuning and model budgets shared by every system (recorded in the results' setup).

    ``start``: ``design`` (every measured sizer starts from the same design: the YAML defaults and what a user would
    try first) or ``random`` (every one from a cold random start)."""

    tuning_budget: int = 20
    samples_per_config: int = 10
    start: str = "design"
    oracle_mc_samples: int = 5000
    oracle_candidate_samples: int = 300
    forecaster_params: dict[str, Any] = field(default_factory=lambda: {"n_windows": 6000, "epochs": 6, "mc_passes": 16})

    def __post_init__(self) -> None:
        if self.tuning_budget < 1:
            raise InputError(f"must be >= 1, got {self.tuning_budget}", field="--budget")
        if self.samples_per_config < 2:
            raise InputError(f"must be >= 2, got {self.samples_per_config}", field="samples_per_config")
        if self.start not in ("design", "random"):
            raise InputError(f"must be design or random, got {self.start!r}", field="--start")


def make_pool_policy(system: SystemSpec) -> PoolPolicy:
    """The system's pool, wrapped by the safety layer (the just-in-time reference is applied by the runner: its
    policy here keeps nothing warm)."""
    return SafePolicy(make_policy("keepalive:0" if system.pool == JIT_POOL else system.pool))


def make_system_forecaster(system: SystemSpec, budgets: Budgets, seed: int) -> Forecaster | None:
    if system.forecaster is None:
        return None
    return make_forecaster(system.forecaster, seed=seed, **budgets.forecaster_params)


class DefaultResizer:
    """The workflow's YAML configuration; measures nothing."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow

    def __call__(self, attempt: int) -> SizingOutcome:
        return SizingOutcome(self.workflow.default_configs(), 0, 0.0, "defaults", source="defaults")


REFERENCE_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6)
"""The knob of the references (exhaustive sizing): the latency target they size for, as a share of the workflow's.
Exhaustive sizing sits exactly on the percentile's boundary, so any slowdown the performance models do not know
(contention, transfers, queueing) violates; tightening the target buys margin. Swept a priori in steps of 10%."""


class OracleResizer:
    """The exhaustive optimum on the true performance models (a reference) for ``target_factor`` times the QoS
    target, in the run's world (``world``: transfers, heavy tails, an invocation's own contention; not the tenants'
    load, which it cannot know in advance); computed once, reused on re-tunes."""

    def __init__(
        self, problem: SizingProblem, budgets: Budgets, target_factor: float = 1.0, world: WorldEffects = NO_EFFECTS
    ) -> None:
        wf = problem.workflow
        if target_factor != 1.0:
            tighter = QoS(wf.qos.latency_ms * target_factor, wf.qos.percentile)
            wf = dataclasses.replace(wf, qos=tighter)
        self.problem = dataclasses.replace(problem, workflow=wf)
        self.budgets = budgets
        self.target_factor = target_factor
        self.world = world
        self._answer: SizingOutcome | None = None

    def __call__(self, attempt: int) -> SizingOutcome:
        if self._answer is None:
            b = self.budgets
            r = exhaustive_search(self.problem, b.oracle_mc_samples, b.oracle_candidate_samples, self.world)
            note = f"exhaustive ({r.method}) for {self.target_factor:g} x the target"
            if r.config is None:
                note += ": nothing in the space meets it on the models (the deployed sizes stay)"
            self._answer = SizingOutcome(r.config, 0, 0.0, note, source="exhaustive")
        return self._answer


def measurement_cost_usd(containers: Sequence[ContainerRecord], pricing: Pricing) -> float:
    """What measurements cost: every measuring container's whole life, plus request fees (USD)."""
    cost = sum(pricing.container_cost_usd(c.config, c.lifetime_s) for c in containers)
    return cost + pricing.requests_cost_usd(sum(c.invocations for c in containers))


def measured_outcome(
    label: str,
    result: SizingResult,
    cost_usd: float,
    workflow: Workflow | None = None,
    rename: dict[str, str] | None = None,
) -> SizingOutcome:
    """A measured sizer's answer (None when nothing was feasible) with its evaluations, cost, a note, where the
    answer came from, and the median execution time each function of ``workflow`` was measured at in the answer
    (over its stages); ``rename`` maps measured (shadow) function names back to the workflow's."""
    rename = rename or {}
    best = result.best
    note = f"{label}: {result.evaluations} evaluations" + ("" if best else ", nothing feasible")
    if best is None:
        return SizingOutcome(None, result.evaluations, cost_usd, note)
    config = {rename.get(f, f): c for f, c in best.config.items()}
    samples: dict[str, list[float]] = {}
    for stage, values in best.stage_latency_ms.items() if workflow is not None else ():
        assert workflow is not None
        ok = np.asarray(values, dtype=float)
        samples.setdefault(workflow.stage(stage).function, []).extend(ok[np.isfinite(ok)].tolist())
    durations = {f: float(np.median(v)) / 1000.0 for f, v in samples.items() if v}
    source = result.best_source
    return SizingOutcome(config, result.evaluations, cost_usd, note, source=source, durations_s=durations or None)


class MeasurementPlace:
    """Where a measured sizer measures: a fresh staging simulator per (re-)tune, or the live platform with a shadow
    copy of the workflow (see the module docstring). ``prepare(attempt)`` gives (platform, problem to measure,
    deploy it?) and ``cost(platform)`` what this attempt's measurements cost."""

    def __init__(self, problem: SizingProblem, staging: Any = None, live: Platform | None = None) -> None:
        if (staging is None) == (live is None):
            raise ValueError("give a staging factory or a live platform")
        self.problem = problem
        self.staging = staging
        self.live = live
        self.production = live is not None
        self.shadow = problem.workflow.renamed(SHADOW_PREFIX) if live is not None else None
        self._deployed = False
        self._spent_usd = 0.0

    @property
    def deployed(self) -> bool:
        """Whether the shadow copy is deployed on the live platform."""
        return self._deployed

    def mark_deployed(self, deployed: bool) -> None:
        """The live platform was restored from a copy on which the shadow was (or was not) deployed."""
        self._deployed = deployed

    def prepare(self, seed: int) -> tuple[Platform, SizingProblem, bool]:
        if self.live is None:
            return self.staging(seed), self.problem, True
        assert self.shadow is not None
        p = self.problem
        deploy = not self._deployed
        self._deployed = True
        return self.live, dataclasses.replace(p, workflow=self.shadow), deploy

    def cost(self, platform: Platform) -> float:
        """The cost of this attempt's measurements: everything on a staging simulator; on the live platform the
        shadow functions' containers since the previous attempt (their pools are released)."""
        containers = platform.container_records()
        if self.shadow is None:
            return measurement_cost_usd(containers, self.problem.pricing)
        names = set(self.shadow.function_names)
        for f in names:
            platform.set_pool(f, PoolTarget(0, 0.0))
        total = measurement_cost_usd([c for c in containers if c.function in names], self.problem.pricing)
        spent, self._spent_usd = total - self._spent_usd, total
        return spent

    def rename(self) -> dict[str, str]:
        if self.shadow is None:
            return {}
        return {SHADOW_PREFIX + f: f for f in self.problem.workflow.function_names}


class MeasuredResizer:
    """A measured sizer run with :func:`run_sizer` in its measurement place; cost of its measurements returned.
    :meth:`observe` re-judges the last run's history with live requests (:mod:`aquatope.sizing.live`), in batches
    of ``live_batch`` (one evaluation's requests)."""

    def __init__(self, problem: SizingProblem, method: str, budgets: Budgets, place: MeasurementPlace, seed: int):
        self.problem = problem
        self.method = method
        self.budgets = budgets
        self.place = place
        self.seed = seed
        self.live_batch = budgets.samples_per_config
        self._measurer: Measurer | None = None
        self.last: tuple[SizingProblem, History] | None = None

    def __call__(self, attempt: int) -> SizingOutcome:
        seed = self.seed + 1000 * attempt
        platform, problem, deploy = self.place.prepare(seed + 17)
        sizer = make_sizer(self.method, problem, seed)
        if deploy or self._measurer is None or not self.place.production:
            self._measurer = Measurer(platform, problem, k=self.budgets.samples_per_config, seed=seed, deploy=deploy)
        budget = max(self.budgets.tuning_budget, getattr(sizer, "required_evaluations", 0))
        with warnings.catch_warnings():  # GP fitting warnings (tiny noise, restarts) are expected at small budgets
            warnings.simplefilter("ignore")
            result = run_sizer(sizer, self._measurer, budget)
        history = History()
        for m, source in zip(result.history, result.sources or ("external",) * result.evaluations, strict=True):
            history.add(m, source)
        self.last = (problem, history)
        where = "production" if self.place.production else "staging"
        cost = self.place.cost(platform)
        return measured_outcome(f"{self.method} in {where}", result, cost, self.problem.workflow, self.place.rename())

    def observe(self, config: Mapping[str, ResourceConfig], latency_ms: np.ndarray) -> SizingOutcome | None:
        """Live warm latencies of the deployed ``config``: the answer rule's new answer when it differs (source
        ``live``, nothing measured or paid), else None (also when the last run did not measure ``config``)."""
        if self.last is None:
            return None
        problem, history = self.last
        measured = {v: k for k, v in self.place.rename().items()}  # workflow names -> the names it measured under
        as_measured = {measured.get(f, f): c for f, c in config.items()}
        if not history.seen(as_measured):
            return None
        best = rejudge(problem, history, as_measured, latency_ms)
        if best is None or config_key(best.config) == config_key(as_measured):
            return None
        back = self.place.rename()
        new = {back.get(f, f): c for f, c in best.config.items()}
        return SizingOutcome(new, 0, 0.0, f"{self.method}: live requests re-judged", source="live")


def make_resizer(
    system: SystemSpec,
    problem: SizingProblem,
    budgets: Budgets,
    place: MeasurementPlace,
    seed: int,
    target_factor: float = 1.0,
    world: WorldEffects = NO_EFFECTS,
) -> DefaultResizer | OracleResizer | MeasuredResizer:
    if system.sizer == "defaults":
        return DefaultResizer(problem.workflow)
    if system.sizer == "exhaustive":
        return OracleResizer(problem, budgets, target_factor, world)
    return MeasuredResizer(problem, system.sizer, budgets, place, seed)


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
