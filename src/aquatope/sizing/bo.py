"""Aquatope's QoS-constrained Bayesian optimization of per-function resources (ASPLOS '23, section 5).

Search space: per function (cpu, memory) in the unit cube (memory only in a coupled space), rounded to the space's
steps. After the shared starting design (:mod:`aquatope.sizing.design`), each step fits a surrogate
(:mod:`aquatope.sizing.bo_models`) on the measurements the answer rule keeps and scores candidates by Monte Carlo
*constrained expected improvement* on posterior draws:

    acq(x) = mean over draws of  max(0, log objective(answer) - log objective(x)) * [judged(x) <= threshold(n_x)]

``threshold(n)`` is the largest end-to-end location the shared answer rule (:mod:`aquatope.sizing.answer`) accepts
from ``n`` requests: the model aims at configurations that will *pass the rule* once measured, not at ones that
merely sit under the target. ``judged(x)`` is what the rule will see (:func:`judged_draws`): the posterior draw of
the true location plus the noise of the next evaluation's mean, pooled with what was measured there before. Until
2026-11-27 the true location was compared with the threshold; on training seeds (100-102, ``calm``) the model's
proposals it gave 0.95 or more to pass (0.99 on average) then passed the rule 70% of the time, those at 0.8-0.95
39%. Candidates are unmeasured configurations and already measured ones (re-measuring adds
requests, which lowers the margin: the model decides when more samples of a near-miss are worth an evaluation).
Until an answer exists (after the design, or when new measurements widen the margin and the answer falls) the
incumbent in ``acq`` is the space's largest configuration, the safest one there is, priced by the surrogate: the
expected saving over it, among draws that pass. Maximizing the probability of passing alone, as before, paid for
certainty at any price: in map-reduce (``noisy``, seed 3) it chose a candidate at 2.0x the cost of the cheapest
one 90% likely to pass (its true cost 2.9x the optimum), and such proposals then stayed the answer. Only where no
candidate cheaper than the largest can pass is the acquisition the probability of passing. One configuration is
proposed at a time.

Variants (``variant=``, dash-separated: surrogate, region, noise, memory, trend, look; :data:`DEFAULT_VARIANT` won on training
seeds, ``bench/tune_bo_variants.py``):

* surrogate ``dag`` (per-stage GPs combined along the critical path) or ``e2e`` (one GP over all dimensions);
* region ``trust`` (candidates in a trust region around the answer with TuRBO's update rule, Eriksson et al.,
  NeurIPS '19, :class:`aquatope.sizing.candidates.TrustRegion`) or ``global`` (Sobol points over the whole
  cube); both then polish locally around their best candidates; ``lean`` is ``trust`` centred, before any answer
  exists, on the cheapest configuration whose own measurements met the target instead of the fastest one (not
  adopted: no difference shown by session 37's test on fresh seeds, ``bench/results/lean_centre/``);
* noise ``het`` (each observation's measured variance) or ``homo`` (one learned noise level);
* memory ``pin`` (the default since session 36, by its test on fresh seeds, ``bench/results/memory_pin/``),
  ``trim`` (the default in session 35, ``bench/results/memory_trim/``), ``used`` (session 34,
  ``bench/results/memory_used/``) or ``blind``: with ``used``, the measured peak memory of each function
  (:attr:`Measurement.memory_used_mb`, what a platform reports as maximum memory used) tells the models that memory
  above a function's unconstrained peak neither speeds it up nor runs out
  (:func:`~aquatope.sizing.bo_models.memory_peaks`); ``trim`` also cuts every candidate's memory (and the
  answer's, as one more candidate) to the smallest step that holds each function's measured peak: the trust
  region's moves (a factor of sqrt(2) at first) cannot reach a peak at half the memory given, so a starting probe's
  surplus memory stayed in the answer; ``pin`` sets it to exactly that step (raised to it too), so where a peak is
  known the search is over CPU only: under ``trim`` half the trust region's memory moves went below the peak, where
  nothing had run and the stage GPs extrapolated a speed the function does not have; ``blind`` reads no peaks;
* trend ``amdahl`` (the stage and busy models' trend extrapolated to any CPU) or ``flat`` (no speed-up beyond the
  largest CPU measured of each function, :class:`~aquatope.sizing.gp.AmdahlGP`): it halves the model's optimism
  at its proposals and changes nothing in the answers (session 37's test on fresh seeds, ``bench/results/cpu_flat/``);
* look ``known`` (the default since session 39: proposals judged against a one-level bootstrap of today's pooled
  residuals, the shape taken as known, the check's own chance only), ``now`` (the default until session 38:
  against the margin the rule would give with today's pooled residuals) or ``end`` (against the margin of the pool
  the rule will have when the budget is spent: the shared rule's two-level bootstrap resamples a pool of that many
  residuals of today's shape, :func:`~aquatope.sizing.answer.noise_model`'s ``pool``). A few rare slow requests
  among today's residuals make the rule's margin large while the pool is small (on a noisy video-processing
  training run, 0.80 in log after the design, 0.17 six evaluations later), and proposals judged against it buy
  near-certain passes at several times the optimum's cost. Session 38's test on fresh seeds
  (``bench/results/look_ahead/``): ``end`` no difference shown; ``known`` better by the rule written before it
  (pooled one-sided p 0.0246 against 0.025; a small effect, paired mean log cost -0.002). The rule judging answers
  is unchanged.

Rules:

* *Recheck*: a measurement whose end-to-end location is slower than the surrogate fitted without it predicts by
  more than :data:`aquatope.sizing.answer.DISPUTE_Z` predictive standard deviations (observation noise included)
  is a suspect: it leaves the training data and is measured again (source ``recheck``) once an evaluation came
  back clean (a noisy neighbour that spoiled one measurement likely spoils the next). Both measurements stay in
  the history; the answer rule drops the slower if they disagree beyond noise, keeps both if they agree (then the
  surrogate, not the measurement, was wrong, and every pending suspect rejoins the training data unchecked: they
  were doubted by the same wrong model). A second suspect while one is pending triggers the recheck without
  waiting for a clean evaluation: otherwise a surrogate that is wrong over a whole region (it extrapolates a speed-up
  that the function does not have) keeps proposing there, every proposal is doubted and left out of the training
  data, so the model never learns; chatbot in ``calm`` spent 5 of its 20 evaluations on such proposals and 5 on
  their rechecks, all of which agreed. Failed measurements are failures, never suspects.
* *Stop*: once an answer exists and the best acquisition is below ``ei_stop`` (default 1e-3 in log objective: the
  next evaluation is expected to lower the cost by less than 0.1%); then the shared confirmation runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from aquatope.sizing.answer import (
    DISPUTE_Z,
    Judgement,
    NoiseModel,
    judge_all,
    noise_model,
    residuals,
    robust_spread,
    rule_pool,
    rule_tau,
)
from aquatope.sizing.base import ConfigKey, Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.bo_models import (
    DagSurrogate,
    EndToEndSurrogate,
    FailureModel,
    Surrogate,
    clamp_memory,
    e2e_observation,
    memory_peaks,
)
from aquatope.sizing.candidates import TrustRegion, global_candidates, polish, snap, trim_memory, trust_candidates
from aquatope.sizing.coords import LogCoords
from aquatope.sizing.gp import torch_local
from aquatope.sizing.sizer import CONFIRM_RESERVE, BaseSizer, Proposal

SURROGATES, REGIONS, NOISES, MEMORIES, TRENDS, LOOKS = (
    ("dag", "e2e"),
    ("trust", "global", "lean"),
    ("het", "homo"),
    ("pin", "trim", "used", "blind"),
    ("amdahl", "flat"),
    ("now", "end", "known"),
)
DEFAULT_VARIANT = "dag-trust-het"
MIN_TRAIN = 3
"""Measurements needed before a surrogate is fitted (and outliers can be judged against it)."""


@dataclass(frozen=True)
class Variant:
    surrogate: str = "dag"
    region: str = "trust"
    noise: str = "het"
    memory: str = "pin"
    trend: str = "amdahl"
    look: str = "known"

    @classmethod
    def parse(cls, text: str) -> Variant:
        fields = ("surrogate", "region", "noise", "memory", "trend", "look")
        parts = dict(zip(fields, text.split("-"), strict=False))
        v = cls(**parts)
        known = v.surrogate in SURROGATES and v.region in REGIONS and v.noise in NOISES and v.memory in MEMORIES
        known = known and v.trend in TRENDS and v.look in LOOKS and text.count("-") < len(fields)
        if not known or (v.trend == "flat" and v.surrogate != "dag"):
            raise ValueError(
                f"unknown variant {text!r}: <{'|'.join(SURROGATES)}>-<{'|'.join(REGIONS)}>-<het|homo>"
                f"[-<{'|'.join(MEMORIES)}>[-<{'|'.join(TRENDS)}>[-<{'|'.join(LOOKS)}>]]]"
            )
        return v

    def __str__(self) -> str:
        tail = [self.memory, self.trend, self.look]
        defaults = [f.default for f in dataclasses.fields(self)[-len(tail) :]]  # the optional fields' defaults
        while tail and tail[-1] == defaults[len(tail) - 1]:
            tail.pop()
        return "-".join([self.surrogate, self.region, self.noise, *tail])


def judged_draws(
    loc: np.ndarray, noise: NoiseModel, n_seen: np.ndarray, loc_seen: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws of the location the answer rule will judge after one more evaluation of ``k`` requests, from draws of
    the true location ``loc`` (draws, candidates): the rule sees the measured mean, the true location plus the noise
    of ``k`` requests and the evaluation's shift (``noise.sd``, ``noise.tau``), pooled with the ``n_seen`` requests
    already measured at ``loc_seen`` (0 for a configuration not measured yet). Comparing the true location with the
    rule's threshold instead made the model sure of configurations at the threshold that pass half the time."""
    measured = loc + math.sqrt(noise.sd**2 / k + noise.tau**2) * rng.standard_normal(loc.shape)
    return (n_seen * loc_seen + k * measured) / (n_seen + k)


class AquatopeBO(BaseSizer):
    """Constrained BO sizer (module docstring): ask with :meth:`suggest`, tell with :meth:`observe`."""

    name = "aquatope-bo"

    def __init__(
        self,
        problem: SizingProblem,
        seed: int | None = None,
        start: str = "design",
        *,
        variant: str = DEFAULT_VARIANT,
        ei_stop: float = 1e-3,
        candidates: int = 1536,
        draws: int = 128,
    ) -> None:
        super().__init__(problem, seed, start)
        self.variant = Variant.parse(variant)
        self.ei_stop, self.n_candidates, self.draws = ei_stop, candidates, draws
        self.trust = TrustRegion(problem.dims)
        self.coords = LogCoords(problem)
        self.suspects: list[ConfigKey] = []
        self.rechecks = 0
        self.last_clean = True
        self.last_acq: float | None = None
        self._surrogate: tuple[tuple[int, frozenset[ConfigKey]], Surrogate] | None = None

    # ---- ask -------------------------------------------------------------------------------------------------
    def propose(self) -> Proposal | None:
        recheck = self._recheck()
        if recheck is not None:
            return recheck
        point = self.design_point()
        if point is not None:
            return point
        if len(self._training()) < MIN_TRAIN:
            return self._any_unseen()
        return self._model_step()

    def _recheck(self) -> Proposal | None:
        if not self.suspects:
            return None
        last_chance = self.problem.budget - len(self.history) <= CONFIRM_RESERVE + len(self.suspects)
        if not (self.last_clean or last_chance or len(self.suspects) >= 2):
            return None
        key = self.suspects.pop(0)
        config = next(m.config for m in self.history.items if config_key(m.config) == key)
        self.rechecks += 1
        return dict(config), "recheck"

    def _any_unseen(self) -> Proposal:
        rng = np.random.default_rng([self.seed, len(self.history), 5])
        measured = self.measured_keys()
        for _ in range(100):
            config = self.coords.from_x(rng.random(self.problem.dims))
            if config_key(config) not in measured:
                break
        return config, "random"

    def _model_step(self) -> Proposal | None:
        with torch_local(self.seed * 7919 + len(self.history)):
            surrogate = self._fit()
        judged = judge_all(self.problem, self.history)
        noise = self.noise(judged)
        if noise is None:
            return self._any_unseen()
        rng = np.random.default_rng([self.seed, len(self.history), 11])
        k = self.history.items[-1].k
        fails = FailureModel(self.problem, self.history.items)
        best = self.best()
        new = self._candidates(self._region(judged, rng), set(judged), [] if best is None else [best.config])
        new = [c for c in new if not fails.fails(c)]
        again = [
            j for key, j in judged.items()
            if not j.failed and key not in self.suspects and (best is None or key != config_key(best.config))
        ]  # fmt: skip
        configs = new + [dict(j.config) for j in again]
        seen = [(0, 0.0)] * len(new) + [(j.requests, j.loc) for j in again]
        if not configs:
            return None
        acq = self._score(surrogate, noise, configs, seen, k, rng)
        if new:  # local polish around the best new candidates
            top = np.array([self.coords.to_x(c) for c in new])
            known = set(judged) | {config_key(c) for c in configs}
            more = self._candidates(polish(top, acq[: len(new)], self.n_candidates // 2, rng), known)
            more = [c for c in more if not fails.fails(c)]
            if more:
                configs += more
                acq = np.concatenate([acq, self._score(surrogate, noise, more, [(0, 0.0)] * len(more), k, rng)])
        i = int(np.argmax(acq))
        self.last_acq = float(acq[i])
        if best is not None and self.ei_stop > 0 and acq[i] < self.ei_stop:
            return None
        return configs[i], "model"

    def _candidates(
        self, points: np.ndarray, exclude: set[ConfigKey], extra: list[WorkflowConfig] | None = None
    ) -> list[WorkflowConfig]:
        """Unmeasured configurations from ``points`` (and ``extra``); with memory ``trim``, each function's memory
        cut to the smallest step that holds its measured peak (the model sees no difference above the peak, and
        the price does), with ``pin`` set to that step; deduplicated after the change."""
        configs = snap(self.coords, points, exclude=exclude)
        if self.variant.memory not in ("trim", "pin"):
            return configs
        peaks, values = self._peaks(), self.problem.space.memory_values_mb
        out, seen = [], set(exclude)
        for config in [*configs, *(extra or [])]:
            cut = trim_memory(config, peaks, values, pin=self.variant.memory == "pin")
            key = config_key(cut)
            if key not in seen:
                seen.add(key)
                out.append(cut)
        return out

    def noise(self, judged: dict[ConfigKey, Judgement]) -> NoiseModel | None:
        """The noise the rule will judge the next evaluation with: the training data's pooled shape and the spread
        between evaluations of the configurations ``judged`` (None before any measurement has two requests). With
        look ``end``, the margin's uncertainty about the shape is that of the pool the rule will have once the
        budget is spent (the evaluations left, each adding its requests' residuals), not of today's; with
        ``known``, none (a one-level bootstrap: the check's own chance only)."""
        data = self._training()
        pool = rule_pool(self.problem)  # look ``now``: as the rule judges
        if self.variant.look == "end" and pool is None:  # the residuals the rule will pool once the budget is spent
            left = max(self.problem.budget - len(self.history), 0) * (self.history.items[-1].k if self.history else 0)
            pool = sum(residuals(m).size for m in data) + left
        elif self.variant.look == "known":  # the shape taken as known: only the check's own chance
            pool = math.inf
        noise = noise_model(data, self.problem.quantile, pool)
        if noise is None:
            return None
        kept = [j.kept for j in judged.values()]
        return dataclasses.replace(noise, tau=rule_tau(self.problem, kept, robust_spread(self.history.items)))

    def _region(self, judged: dict[ConfigKey, Judgement], rng: np.random.Generator) -> np.ndarray:
        if self.variant.region in ("trust", "lean"):
            center = self._center(judged)
            half = self.trust.half_width / self.coords.spans()
            return trust_candidates(center, half, self.n_candidates, self.problem.space.dims, rng)
        return global_candidates(self.problem.dims, self.n_candidates, self.seed + len(self.history), rng)

    def _score(
        self,
        surrogate: Surrogate,
        noise: NoiseModel,
        configs: list[WorkflowConfig],
        seen: list[tuple[int, float]],
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Acquisition of ``configs``; ``seen`` gives each one's requests so far and their mean log latency (0 and 0
        for a configuration not measured yet), ``k`` the requests of the next evaluation."""
        x = self._model_x(configs)
        n_seen = np.array([n for n, _ in seen], dtype=float)
        loc_seen = np.array([loc for _, loc in seen], dtype=float)
        return self._acquisition(surrogate, noise, configs, x, n_seen, loc_seen, k, rng)

    def _center(self, judged: dict[ConfigKey, Judgement]) -> np.ndarray:
        best = self.best()
        if best is not None:
            return self.coords.to_x(best.config)
        ok = [j for j in judged.values() if not j.failed]
        if self.variant.region == "lean":  # before an answer: the cheapest whose own measurements met the target
            met = [j for j in ok if config_key(j.config) not in self.suspects and all(m.feasible for m in j.kept)]
            if met:
                return self.coords.to_x(min(met, key=lambda j: j.objective_usd).config)
        pick = min(ok, key=lambda j: j.loc) if ok else next(iter(judged.values()))
        return self.coords.to_x(pick.config)

    def _acquisition(
        self,
        surrogate: Surrogate,
        noise: NoiseModel,
        configs: list[WorkflowConfig],
        x: np.ndarray,
        n_seen: np.ndarray,
        loc_seen: np.ndarray,
        k: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        draws = surrogate.sample(configs, x, self.draws, rng)
        log_qos = math.log(self.problem.qos_ms)
        n_after = n_seen + k
        threshold = noise.threshold(log_qos, n_after)
        runs = FailureModel(self.problem, self.history.items, self._peaks()).p_runs(configs)
        passes = (judged_draws(draws.loc, noise, n_seen, loc_seen, k, rng) <= threshold) * runs
        best = self.best()
        if best is None:  # no answer yet: the saving over the space's largest configuration, where it passes
            top = self.coords.from_x(np.ones(self.problem.dims))
            reference = float(surrogate.sample([top], self._model_x([top]), self.draws, rng).log_objective.mean())
        else:
            reference = math.log(judge_all(self.problem, self.history)[config_key(best.config)].objective_usd)
        gain = np.maximum(0.0, reference - draws.log_objective)
        value = (gain * passes).mean(axis=0)
        if best is None and not value.max() > 0:  # nothing cheaper than the largest passes: the likeliest to pass
            tie = -draws.log_objective.mean(axis=0)
            return passes.mean(axis=0) + 1e-6 * (tie - tie.min())
        return value

    # ---- tell ------------------------------------------------------------------------------------------------
    def observed(self, config: WorkflowConfig, measurement: Measurement, source: str) -> None:
        """Judge a new measurement against the surrogate fitted without it; update the trust region."""
        key = config_key(config)
        self.last_clean = True
        if source == "recheck" and not judge_all(self.problem, self.history)[key].dropped:
            self.suspects.clear()  # the repeat agrees: the surrogate was wrong, not the measurements it doubted
        if source in ("recheck", "confirm") or measurement.failed:
            return
        before = self._cached()
        if before is not None and key not in self.suspects:
            mean, std = before.predict_loc([config], self._model_x([config]))
            y, var = e2e_observation(self.problem, measurement)
            if (y - mean[0]) > DISPUTE_Z * math.sqrt(std[0] ** 2 + var):
                self.suspects.append(key)
                self.last_clean = False
        if source == "model":
            best = self.best()
            self.trust.update(best is not None and config_key(best.config) == key)

    # ---- models ----------------------------------------------------------------------------------------------
    def _training(self) -> list[Measurement]:
        """Measurements the answer rule keeps, minus suspects awaiting their recheck."""
        kept = [m for j in judge_all(self.problem, self.history).values() for m in j.kept]
        suspects = set(self.suspects)
        return [m for m in kept if config_key(m.config) not in suspects]

    def _peaks(self) -> dict[str, float]:
        """Per function, its unconstrained peak memory as measured (``pin``, ``trim`` and ``used``; none when ``blind``)."""
        return memory_peaks(self.problem, self.history.items) if self.variant.memory != "blind" else {}

    def _model_x(self, configs: list[WorkflowConfig]) -> np.ndarray:
        """The models' inputs: log coordinates, memory above a function's measured peak taken as the peak."""
        return clamp_memory(self.coords, self.coords.many(configs), self._peaks())

    def _version(self) -> tuple[int, frozenset[ConfigKey]]:
        return len(self.history), frozenset(self.suspects)

    def _cached(self) -> Surrogate | None:
        """The surrogate fitted before the latest measurement, if one was fitted (never fits)."""
        return None if self._surrogate is None else self._surrogate[1]

    def _fit(self) -> Surrogate:
        """The surrogate on the current training data (cached until the history or the suspects change)."""
        version = self._version()
        if self._surrogate is not None and self._surrogate[0] == version:
            return self._surrogate[1]
        data = self._training()
        x = self._model_x([m.config for m in data])
        het = self.variant.noise == "het"
        surrogate: Surrogate
        if self.variant.surrogate == "dag":
            surrogate = DagSurrogate(self.problem, x, data, heteroscedastic=het, flat=self.variant.trend == "flat")
        else:
            surrogate = EndToEndSurrogate(self.problem, x, data, heteroscedastic=het)
        self._surrogate = (version, surrogate)
        return surrogate
