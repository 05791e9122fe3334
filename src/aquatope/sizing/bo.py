"""Aquatope's QoS-constrained Bayesian optimization of per-function resources (ASPLOS '23, section 5).

Search space: per function (cpu, memory) in the unit cube (memory only in a coupled space), rounded to the
space's steps by :meth:`SizingProblem.from_unit`. Surrogates (:mod:`aquatope.sizing.bo_models`): GPs of log cost
(the objective) and of log latency percentile (the constraint, ``slack = log(pctl / QoS) <= 0``) in a
ModelListGP. Acquisition: ``qLogNoisyExpectedImprovement`` with the latency constraint as a constraint callable,
maximized over the unit cube by ``optimize_acqf``; one configuration is proposed at a time.

Variants (``variant=``):

* ``"paper"``: Sobol initial design, end-to-end latency GP.
* ``"warm"`` (default): initial design = the workflow's YAML defaults, then all functions scaled together (three
  diagonal probes: shrinking if the defaults met the QoS, growing if not), then the defaults with one function halved (cpu and
  memory) at a time: a cheap per-function sensitivity probe around a configuration that is usually feasible.
* ``"dag"``: the warm start plus per-stage latency GPs combined along the DAG (:class:`DagSurrogate`).

Rules:

* *No duplicates*: a candidate that rounds to an already measured configuration is replaced by the next best
  restart of the acquisition optimizer, then by random perturbations of the best one.
* *Outliers*: after the initial design, a new measurement whose log latency percentile lies outside the 95%
  predictive interval (mean +- 1.96 predictive STANDARD DEVIATIONS, observation noise included, never narrower
  than +-log(1.3), see ``MIN_OUTLIER_LOG``) of the surrogate fitted without it (leave-one-out) is measured again
  once (``suggest`` returns the same configuration). The repetition enters the GP training data if it lies in
  that interval *or agrees with the suspect* within the same half-width (two agreeing measurements mean the
  surrogate was wrong, not the measurement; dropping them would hide a real cliff, e.g. a memory limit, and
  BO would keep proposing it); otherwise the configuration is dropped from the training data. Failed
  measurements are failures, never outliers. Every measurement stays in the history.
* *Stop*: ``suggest`` returns ``[]`` once the budget is spent, or once a feasible configuration was measured,
  the initial design is done and the best expected improvement is below ``ei_stop`` (default 1e-3: the next
  evaluation is expected to lower the log cost by less than 0.001, i.e. cost by less than 0.1%).
* *Answer*: :meth:`AquatopeBO.best` is the cheapest configuration whose *latest* measurement is feasible (a
  repeated configuration is judged by its latest measurement); never an unmeasured guess; None if none is.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import History, Measurement, Sizer, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.bo_models import DagSurrogate, EndToEndSurrogate, Surrogate, log_latency
from aquatope.sizing.gp import Z_95, single_thread, sobol_points, to_tensor, unit_bounds

Variant = Literal["paper", "warm", "dag"]
VARIANTS: tuple[str, ...] = ("paper", "warm", "dag")
DEFAULT_VARIANT = "warm"
"""bench/tune_bo_variants.py (3 workflows x 1-2 seeds so far): warm and dag reach the same answers (within 10%
of the oracle after 3-5 evaluations on ml-pipeline and video-processing), dag costs 1.5-2x the suggest time;
paper (Sobol start) stays 30-115% above the oracle after 30 evaluations."""
ConfigKey = tuple[tuple[str, float, int], ...]
MIN_OUTLIER_LOG = math.log(1.3)
"""A measurement within 30% of the prediction is never an outlier: with a handful of points in up to 12
dimensions the GP's hyperparameters are poorly identified and its intervals overconfident; without this floor
about one evaluation in five was re-measured for nothing (smooth synthetic functions, bench runs)."""


def default_n_init(dims: int) -> int:
    """Sobol points of the paper's initial design: d/2 + 2, between 4 and 10."""
    return min(10, max(4, dims // 2 + 2))


CONFIDENCE_Z = 0.674
"""How far above the QoS level the pooled samples are judged: the level is raised by ``CONFIDENCE_Z`` standard
errors of a sample quantile, sqrt(q (1 - q) / n) (z = 0.674: a 75% one-sided bound). An answer that meets its p95
on 20-40 noisy samples only by luck then rarely survives; with more samples the margin shrinks."""


def judged_level(quantile: float, n: int) -> float:
    """The quantile level at which ``n`` pooled samples are compared with the target."""
    return min(1.0, quantile + CONFIDENCE_Z * math.sqrt(quantile * (1.0 - quantile) / max(1, n)))


def pooled_best(history: History) -> Measurement | None:
    """The cheapest configuration whose measurements, pooled, meet the QoS (no failure, and the pooled samples'
    :func:`judged_level` quantile <= target); the returned measurement is that configuration's latest."""
    groups: dict[ConfigKey, list[Measurement]] = {}
    for m in history.items:
        groups.setdefault(config_key(m.config), []).append(m)
    best: Measurement | None = None
    for ms in groups.values():
        latest = ms[-1]
        samples = np.concatenate([m.latency_ms for m in ms])
        level = judged_level(latest.quantile, samples.size)
        if np.isnan(samples).any() or np.quantile(samples, level) > latest.qos_ms:
            continue
        if best is None or latest.cost_per_request_usd < best.cost_per_request_usd:
            best = latest
    return best


def latest_best(history: History) -> Measurement | None:
    """The cheapest configuration whose latest measurement is feasible (None if there is none)."""
    latest: dict[ConfigKey, Measurement] = {config_key(m.config): m for m in history.items}
    feasible = [m for m in latest.values() if m.feasible]
    return min(feasible, key=lambda m: m.cost_per_request_usd) if feasible else None


SHRINK_SCALES = (0.7, 0.5, 0.35)
GROW_SCALES = (1.5, 2.0, 3.0)
"""Diagonal warm-start probes, chosen once the defaults are measured: every function's cpu and memory scaled
together, a line search along the diagonal (cost adds up over functions, and defaults are usually over- or
under-provisioned everywhere at once). Shrink when the defaults meet the QoS, grow when they miss it."""


def diagonal_probes(problem: SizingProblem, base: WorkflowConfig, feasible: bool) -> list[WorkflowConfig]:
    """``base`` with every function scaled by each of ``SHRINK_SCALES`` (feasible) or ``GROW_SCALES``."""
    space = problem.space
    scales = SHRINK_SCALES if feasible else GROW_SCALES
    return [
        {f: space.nearest(ResourceConfig(c.cpu * k, max(1, round(c.memory_mb * k)))) for f, c in base.items()}
        for k in scales
    ]


def warm_design(problem: SizingProblem) -> list[WorkflowConfig]:
    """The YAML defaults, then the defaults with one function's cpu and memory halved at a time (the diagonal
    probes are inserted after the defaults have been measured, see :func:`diagonal_probes`)."""
    space = problem.space
    base = {f: space.nearest(c) for f, c in problem.workflow.default_configs().items()}
    design = [base]
    for f in problem.functions:
        c = base[f]
        design.append({**base, f: space.nearest(ResourceConfig(c.cpu / 2, max(1, c.memory_mb // 2)))})
    return design


class AquatopeBO:
    """Constrained BO sizer (module docstring): ask with :meth:`suggest`, tell with :meth:`observe`."""

    name = "aquatope-bo"

    def __init__(
        self,
        problem: SizingProblem,
        *,
        variant: str = DEFAULT_VARIANT,
        n_init: int | None = None,
        seed: int | None = None,
        ei_stop: float = 1e-3,
        num_restarts: int = 3,
        raw_samples: int = 128,
        mc_samples: int = 64,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
        self.problem = problem
        self.variant = variant
        self.seed = problem.seed if seed is None else seed
        self.rng = np.random.default_rng(self.seed)
        self.ei_stop = ei_stop
        self.num_restarts, self.raw_samples, self.mc_samples = num_restarts, raw_samples, mc_samples
        self.history = History()
        self.train: dict[ConfigKey, Measurement] = {}
        self.dropped: set[ConfigKey] = set()
        self.recheck: Measurement | None = None
        self.stopped = False
        self.last_log_ei: float | None = None
        self.rechecks = 0
        self.outliers = 0
        self._surrogate: tuple[int, Surrogate] | None = None
        self._version = 0
        self.design = self._initial_design(n_init)
        self._confirmed = False
        self.confirmations = 0

    # ---- ask -------------------------------------------------------------------------------------------------
    def suggest(self) -> list[WorkflowConfig]:
        """The next configuration to measure (one), the suspect again to recheck it, or [] when done."""
        with single_thread():
            return self._suggest()

    def _suggest(self) -> list[WorkflowConfig]:
        if len(self.history) >= self.problem.budget:
            return []
        if self.stopped:
            return self._confirmation()
        if self.recheck is not None:
            return [dict(self.recheck.config)]
        if self.problem.budget - len(self.history) == 1 and (confirm := self._confirmation()):
            return confirm
        while self.design:
            config = self.design.pop(0)
            if not self._measured(config):
                return [config]
        if len(self.train) < 2:
            return [self._random_unseen()]
        return self._bo_step()

    def _bo_step(self) -> list[WorkflowConfig]:
        surrogate = self._fit()
        candidates, log_ei = self._optimize(surrogate)
        self.last_log_ei = log_ei
        if self.ei_stop > 0 and self.history.best() is not None and log_ei < math.log(self.ei_stop):
            self.stopped = True
            return self._confirmation()
        for x in candidates:
            config = self.problem.from_unit(x)
            if not self._measured(config):
                return [config]
        return [self._perturb(candidates[0])]

    def _optimize(self, surrogate: Surrogate) -> tuple[list[np.ndarray], float]:
        """Restart candidates of qLogNEI, best first, and the best log expected improvement."""
        x_train = to_tensor(np.array([self.problem.to_unit(m.config) for m in self.train.values()]))
        acq = qLogNoisyExpectedImprovement(
            model=surrogate.model,
            X_baseline=x_train,
            sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=self.seed + self._version),
            objective=surrogate.objective,
            constraints=surrogate.constraints,
        )
        torch.manual_seed(self.seed * 7919 + len(self.history))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BadInitialCandidatesWarning)
            warnings.simplefilter("ignore", OptimizationWarning)
            x, values = optimize_acqf(
                acq,
                bounds=unit_bounds(self.problem.dims),
                q=1,
                num_restarts=self.num_restarts,
                raw_samples=self.raw_samples,
                return_best_only=False,
                options={"maxiter": 40},
            )
        assert values is not None
        order = torch.argsort(values.reshape(-1), descending=True)
        cands = [x.reshape(len(order), -1)[i].detach().numpy() for i in order]
        return cands, float(values.reshape(-1)[order[0]])

    def _perturb(self, x: np.ndarray, tries: int = 50) -> WorkflowConfig:
        for scale in np.linspace(0.02, 0.3, tries):
            config = self.problem.from_unit(np.clip(x + self.rng.normal(0.0, scale, x.shape), 0.0, 1.0))
            if not self._measured(config):
                return config
        return self._random_unseen()

    def _random_unseen(self, tries: int = 100) -> WorkflowConfig:
        for _ in range(tries):
            config = self.problem.from_unit(self.rng.random(self.problem.dims))
            if not self._measured(config):
                return config
        return self.problem.from_unit(self.rng.random(self.problem.dims))

    # ---- tell ------------------------------------------------------------------------------------------------
    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        """Record a measurement; check it against the leave-one-out surrogate (module docstring, *Outliers*)."""
        with single_thread():
            self._observe(config, measurement)

    def _observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        self.history.add(measurement)
        if self.variant != "paper" and len(self.history) == 1:
            self.design[:0] = diagonal_probes(self.problem, config, measurement.feasible)
        key = config_key(config)
        if self.recheck is not None and config_key(self.recheck.config) == key:
            suspect, self.recheck = self.recheck, None
            if self._consistent(measurement, agrees_with=suspect):
                self._train_add(key, measurement)
            else:
                self.dropped.add(key)
                self.outliers += 1
            return
        if self._can_check() and not self._consistent(measurement):
            self.recheck = measurement
            if self.train.pop(key, None) is not None:
                self._version += 1
            self.rechecks += 1
            return
        self._train_add(key, measurement)

    def _train_add(self, key: ConfigKey, m: Measurement) -> None:
        self.train[key] = m
        self.dropped.discard(key)
        self._version += 1

    def _can_check(self) -> bool:
        return not self.design and len(self.train) >= 3

    def _consistent(self, m: Measurement, agrees_with: Measurement | None = None) -> bool:
        """Whether the log latency percentile lies in the 95% predictive interval (mean +- 1.96 standard
        deviations) of the surrogate fitted without it; a repetition is also consistent when it agrees with the
        suspect within the same half-width (then the surrogate, not the measurement, was wrong). A failed
        measurement is a failure, not an outlier."""
        if len(self.train) < 3 or m.failed:
            return True
        mean, std = self._fit().latency_predictive(self.problem.to_unit(m.config))
        y, half_width = log_latency(m), max(Z_95 * std, MIN_OUTLIER_LOG)
        if abs(y - mean) <= half_width:
            return True
        return agrees_with is not None and abs(y - log_latency(agrees_with)) <= half_width

    # ---- models ----------------------------------------------------------------------------------------------
    def _fit(self) -> Surrogate:
        """The surrogate on the current training data (cached until the training data change)."""
        if self._surrogate is not None and self._surrogate[0] == self._version:
            return self._surrogate[1]
        data = list(self.train.values())
        x = np.array([self.problem.to_unit(m.config) for m in data])
        torch.manual_seed(self.seed + self._version)
        surrogate: Surrogate
        if self.variant == "dag":
            surrogate = DagSurrogate(self.problem, x, data)
        else:
            surrogate = EndToEndSurrogate(self.problem, x, data)
        self._surrogate = (self._version, surrogate)
        return surrogate

    def _initial_design(self, n_init: int | None) -> list[WorkflowConfig]:
        if self.variant == "paper":
            n = default_n_init(self.problem.dims) if n_init is None else n_init
            design = [self.problem.from_unit(x) for x in sobol_points(n, self.problem.dims, self.seed)]
        else:
            design = warm_design(self.problem)
            if n_init is not None and n_init > len(design):
                extra = sobol_points(n_init - len(design), self.problem.dims, self.seed)
                design += [self.problem.from_unit(x) for x in extra]
            design = design if n_init is None else design[:n_init]
        unique: dict[ConfigKey, WorkflowConfig] = {}
        for c in design:
            unique.setdefault(config_key(c), c)
        return list(unique.values())

    def _measured(self, config: WorkflowConfig) -> bool:
        return self.history.seen(config)

    # ---- answer ----------------------------------------------------------------------------------------------
    def best(self) -> Measurement | None:
        """The cheapest configuration measured feasible, judged on all its measurements pooled (a confirmed answer
        must stay feasible with twice the samples); None when nothing measured feasible."""
        return pooled_best(self.history)

    def _confirmation(self) -> list[WorkflowConfig]:
        """Measure the current answer once more before finishing (once per run): a configuration that was feasible
        on k noisy samples by luck is then caught, and the next best takes its place."""
        best = self.best()
        if best is None or self._confirmed:
            return []
        self._confirmed = True
        key = config_key(best.config)
        if sum(config_key(m.config) == key for m in self.history.items) >= 2:
            return []
        self.confirmations += 1
        return [dict(best.config)]


def make_bo_sizer(method: str, problem: SizingProblem, seed: int | None = None) -> Sizer:
    """A BO sizer by name: ``aquatope-bo`` (default variant), ``aquatope-bo:<variant>`` or ``cherrypick``."""
    from aquatope.sizing.cherrypick import CherryPick

    if method == "cherrypick":
        return CherryPick(problem, seed=seed)
    if method == "aquatope-bo":
        return AquatopeBO(problem, seed=seed)
    if method.startswith("aquatope-bo:"):
        return AquatopeBO(problem, variant=method.split(":", 1)[1], seed=seed)
    raise ValueError(f"unknown BO method {method!r}; choose aquatope-bo, aquatope-bo:<variant> or cherrypick")
