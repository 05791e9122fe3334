"""Surrogates of the Aquatope BO sizer: what is modelled, and how candidates are scored from posterior samples.

Inputs are log coordinates (:class:`aquatope.sizing.coords.LogCoords`).
Both model, per measured configuration, the *location* of its end-to-end latency (the mean log latency, what the
answer rule judges with the pooled noise shape, :mod:`aquatope.sizing.answer`) and its objective (log USD per
request, :meth:`SizingProblem.objective_usd`). Observations carry their measured noise: the variance of a mean of
``k`` log latencies is ``s**2 / k`` with ``s`` the evaluation's own spread (heteroscedastic) unless
``heteroscedastic=False`` (one learned noise level).

* :class:`EndToEndSurrogate` (the paper's shape): one GP of the end-to-end location and one of the log objective,
  each over every input dimension.
* :class:`DagSurrogate`: per stage, a GP of its location (mean log stage latency) over its own function's
  dimensions only (2-D in a decoupled space instead of 2 x functions), combined along the DAG's critical path
  (a stage starts when its slowest predecessor ends) request by request: the end-to-end location is the mean, over
  :data:`SPREAD_REQUESTS` requests drawn once from the measured requests, of the log critical path of the stage
  locations plus that request's stage residuals (:meth:`DagSurrogate.place`), plus a calibration offset, the mean
  over the training data of ``end-to-end location - placed location``. The location of a max of random branch
  times is above the max of their locations, the more so the closer the branches are; a constant offset (until
  2026-11-27) could not follow that, and the optimizer drives parallel branches close (it trims every branch off
  the critical path): on training seeds (100-102, ``calm``) the model's proposals then measured 0.066 slower in log
  than predicted on average, 0.051 with the placement (z-scores 1.46 and 1.10).
  The objective is built from per-function GPs of log busy seconds per request over the function's dimensions,
  priced per function (:func:`aquatope.sizing.load.function_cost_usd`: busy time, or the pool's expected
  containers at the forecast load).

*Failures* are not smoothed into a GP (a jump to a huge latency ruins a smooth model's scale and uncertainty
everywhere): failed observations stay out of the GPs, and :class:`FailureModel` learns which memory sizes fail per
function, assuming that less memory than a size that ran out of memory fails too (the platform's OOM limit is a
threshold in memory); candidates at or below a function's largest failed size are not proposed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aquatope.sizing.answer import log_samples
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig
from aquatope.sizing.coords import LogCoords
from aquatope.sizing.gp import AmdahlGP, fit_gp, posterior
from aquatope.sizing.load import expected_containers
from aquatope.workflow import Workflow

FAILED_LOG_SLACK = 5.0
"""Log-latency slack given to a failed measurement (matches :attr:`Measurement.slack`)."""


def location(values_ms: np.ndarray) -> tuple[float, float]:
    """Mean and variance of the mean of the log of the finite values (variance of one value when k = 1)."""
    x = np.log(np.maximum(values_ms[np.isfinite(values_ms)], 1e-6))
    if x.size == 0:
        return math.nan, math.nan
    var = float(x.var(ddof=1)) / x.size if x.size > 1 else 0.0
    return float(x.mean()), var


def e2e_observation(problem: SizingProblem, m: Measurement) -> tuple[float, float]:
    """(location, noise variance) of the end-to-end latency; ``log(QoS) + 5`` and unit variance for a failure."""
    if m.failed:
        return math.log(problem.qos_ms) + FAILED_LOG_SLACK, 1.0
    x = log_samples(m)
    return float(x.mean()), float(x.var(ddof=1)) / x.size if x.size > 1 else 0.0


def failed_stages(wf: Workflow, m: Measurement) -> list[bool]:
    """Per stage: it failed in a request where all its predecessors ran (it is to blame, not an earlier stage)."""
    out = []
    for s in wf.stages:
        lat = np.asarray(m.stage_latency_ms[s.name], dtype=float)
        ran = np.ones(lat.shape, dtype=bool)
        for p in s.after:
            ran &= np.isfinite(np.asarray(m.stage_latency_ms[p], dtype=float))
        out.append(bool(np.isnan(lat[ran]).any()))
    return out


def stage_observations(wf: Workflow, m: Measurement) -> tuple[np.ndarray, np.ndarray]:
    """Per stage (``wf.stages`` order): location and its noise variance, NaN for a stage that failed or never
    ran (left out of its GP)."""
    loc, var = np.full(len(wf.stages), np.nan), np.full(len(wf.stages), np.nan)
    failed = failed_stages(wf, m)
    for i, s in enumerate(wf.stages):
        lat = np.asarray(m.stage_latency_ms[s.name], dtype=float)
        if not failed[i] and np.isfinite(lat).any():
            loc[i], var[i] = location(lat)
    return loc, var


class FailureModel:
    """Per function, the largest memory size seen failing and the smallest seen running (module docstring).

    At or below the first, a configuration is known to fail; at or above the second it is taken to run; in
    between, the chance that it runs is the position of its memory between the two on a log scale (the space's
    smallest size stands in for the first when nothing failed yet): no evidence either way halfway. ``peaks``
    (:func:`memory_peaks`): a function that held at most ``p`` MB with more room runs at any size from ``p`` up.
    """

    def __init__(
        self, problem: SizingProblem, data: Sequence[Measurement], peaks: Mapping[str, float] | None = None
    ) -> None:
        wf = problem.workflow
        self.floor_mb: dict[str, int] = {}
        self.ok_mb: dict[str, int] = {}
        self.lowest_mb = float(problem.space.memory_values_mb[0]) / 2.0
        for m in data:
            for s, bad in zip(wf.stages, failed_stages(wf, m), strict=True):
                mem = m.config[s.function].memory_mb
                ran = np.isfinite(np.asarray(m.stage_latency_ms[s.name], dtype=float)).any()
                if bad:
                    self.floor_mb[s.function] = max(self.floor_mb.get(s.function, 0), mem)
                elif ran:
                    self.ok_mb[s.function] = min(self.ok_mb.get(s.function, mem), mem)
        for f, peak in (peaks or {}).items():
            if f in self.ok_mb:
                self.ok_mb[f] = min(self.ok_mb[f], max(math.ceil(peak), self.floor_mb.get(f, 0) + 1))

    def fails(self, config: WorkflowConfig) -> bool:
        return any(config[f].memory_mb <= mb for f, mb in self.floor_mb.items())

    def p_runs(self, configs: Sequence[WorkflowConfig]) -> np.ndarray:
        """Per configuration, the chance that no function runs out of memory."""
        out = np.ones(len(configs))
        for f, ok in self.ok_mb.items():
            floor = max(float(self.floor_mb.get(f, 0)), self.lowest_mb)
            if ok <= floor:
                continue
            mem = np.array([float(c[f].memory_mb) for c in configs])
            p = np.log(np.maximum(mem, floor) / floor) / math.log(ok / floor)
            out *= np.clip(np.where(mem <= self.floor_mb.get(f, 0), 0.0, p), 0.0, 1.0)
        return out


def memory_peaks(problem: SizingProblem, data: Sequence[Measurement]) -> dict[str, float]:
    """Per function of a decoupled space, the most memory it held in a measurement that left it room (its peak
    under its limit): its working set as the platform reports it. A peak at the limit only says it wanted at least
    that much, and says nothing here; in a coupled space memory also sets CPU, so nothing is said either."""
    if problem.space.kind == "coupled":
        return {}
    out: dict[str, float] = {}
    for m in data:
        for f, used in m.memory_used_mb.items():
            if math.isfinite(used) and used < m.config[f].memory_mb:
                out[f] = max(out.get(f, 0.0), float(used))
    return out


def clamp_memory(coords: LogCoords, x: np.ndarray, peaks: Mapping[str, float]) -> np.ndarray:
    """``x`` (log coordinates, rows) with each function's memory above its measured peak set to the peak: the
    models then take memory a function does not use to change neither its speed nor its busy time (its price still
    counts the memory it is given)."""
    if not peaks:
        return x
    out = x.copy()
    d = coords.per_function
    for i, f in enumerate(coords.problem.functions):
        if f in peaks:
            col = i * d + d - 1
            out[:, col] = np.minimum(out[:, col], coords.mem_coordinate(peaks[f]))
    return out


SPREAD_REQUESTS = 64
"""Requests drawn (once per surrogate, the same for every configuration) to place a configuration's end-to-end
location from its stage locations (:meth:`DagSurrogate.place`)."""


def stage_residual_rows(wf: Workflow, data: Sequence[Measurement]) -> np.ndarray | None:
    """Per request of every measurement in which every stage ran: each stage's log latency minus that stage's mean
    over its measurement, shape (requests, stages); None when there is no such request. A row keeps one request's
    stages together (a slow invoker slows them alike)."""
    rows = []
    for m in data:
        lat = np.stack([np.asarray(m.stage_latency_ms[s.name], dtype=float) for s in wf.stages], axis=1)
        if m.failed or lat.shape[0] < 2 or not np.isfinite(lat).all():
            continue
        x = np.log(np.maximum(lat, 1e-6))
        rows.append(x - x.mean(axis=0))
    return np.concatenate(rows) if rows else None


def critical_log(wf: Workflow, log_stage: np.ndarray) -> np.ndarray:
    """log critical-path latency from log stage latencies ``(..., stages)`` along the DAG -> ``(...)``."""
    lat = np.exp(log_stage)
    finish: dict[str, np.ndarray] = {}
    for i, s in enumerate(wf.stages):
        start = np.zeros(lat.shape[:-1])
        for p in s.after:
            start = np.maximum(start, finish[p])
        finish[s.name] = start + lat[..., i]
    return np.log(np.max(np.stack([finish[n] for n in wf.sinks()], axis=-1), axis=-1))


@dataclass
class Samples:
    """Posterior draws at candidates: ``loc`` and ``log_objective``, each shape (draws, candidates)."""

    loc: np.ndarray
    log_objective: np.ndarray


class EndToEndSurrogate:
    """GPs of the end-to-end location and of the log objective over all dimensions."""

    def __init__(
        self, problem: SizingProblem, x: np.ndarray, data: Sequence[Measurement], heteroscedastic: bool = True
    ) -> None:
        ok = [i for i, m in enumerate(data) if m.failed == 0]
        x = x[ok]
        obs = np.array([e2e_observation(problem, data[i]) for i in ok])
        objective = np.array([math.log(problem.objective_usd(data[i])) for i in ok])
        noise = obs[:, 1] if heteroscedastic else None
        self.loc_gp = fit_gp(x, obs[:, 0], noise_var=noise)
        self.obj_gp = fit_gp(x, objective, noise_var=noise)

    def predict_loc(self, configs: list[WorkflowConfig], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return posterior(self.loc_gp, x)

    def sample(self, configs: list[WorkflowConfig], x: np.ndarray, draws: int, rng: np.random.Generator) -> Samples:
        """Draws of location and log objective at ``configs`` (their coordinates ``x``), (draws, candidates)."""
        lm, ls = posterior(self.loc_gp, x)
        om, os_ = posterior(self.obj_gp, x)
        z = rng.standard_normal((2, draws, x.shape[0]))
        return Samples(lm + ls * z[0], om + os_ * z[1])


class DagSurrogate:
    """Per-stage location models combined along the DAG, per-function busy models priced per function (module
    doc). Each is an :class:`~aquatope.sizing.gp.AmdahlGP` over its function's own resources (``flat``: no
    speed-up beyond the largest CPU measured)."""

    def __init__(
        self,
        problem: SizingProblem,
        x: np.ndarray,
        data: Sequence[Measurement],
        heteroscedastic: bool = True,
        flat: bool = False,
    ) -> None:
        self.problem = problem
        wf = self.wf = problem.workflow
        d = problem.space.dims
        index = {f: i for i, f in enumerate(problem.functions)}
        self.dims = {f: list(range(index[f] * d, index[f] * d + d)) for f in problem.functions}
        cpu = {f: np.array([m.config[f].cpu for m in data]) for f in problem.functions}
        stages = [stage_observations(wf, m) for m in data]
        loc, var = np.array([s[0] for s in stages]), np.array([s[1] for s in stages])
        self.stage_models = []
        for i, s in enumerate(wf.stages):
            ok = np.isfinite(loc[:, i])
            noise = var[ok, i] if heteroscedastic else None
            f = s.function
            self.stage_models.append(AmdahlGP(x[ok][:, self.dims[f]], cpu[f][ok], loc[ok, i], noise, flat))
        self.busy_models = {}
        for f in problem.functions:
            cols = [i for i, s in enumerate(wf.stages) if s.function == f]
            ok = np.isfinite(loc[:, cols]).all(axis=1)  # the function ran and did not fail
            busy = np.array([math.log(max(m.busy_s.get(f, 0.0), 1e-9)) for m in data])
            noise = var[ok][:, cols].max(axis=1) if heteroscedastic else None
            self.busy_models[f] = AmdahlGP(x[ok][:, self.dims[f]], cpu[f][ok], busy[ok], noise, flat)
        rows = stage_residual_rows(wf, data)
        self.spread = None if rows is None else rows[np.random.default_rng(0).integers(len(rows), size=SPREAD_REQUESTS)]
        self.offset, self.offset_var = self._calibrate(problem, loc, data)
        self.held = {f: held_table(problem, f) for f in problem.functions} if problem.load is not None else {}

    def _calibrate(self, problem: SizingProblem, loc: np.ndarray, data: Sequence[Measurement]) -> tuple[float, float]:
        ok = [i for i, m in enumerate(data) if m.failed == 0 and np.isfinite(loc[i]).all()]
        if not ok:
            return 0.0, 0.0
        resid = np.array([e2e_observation(problem, data[i])[0] for i in ok]) - self.place(loc[ok])
        var = float(resid.var(ddof=1)) * (1.0 + 1.0 / len(ok)) if len(ok) > 2 else 0.0  # a new configuration's
        return float(resid.mean()), var

    def place(self, loc_stage: np.ndarray) -> np.ndarray:
        """End-to-end location (mean log latency) of stage locations ``(n, stages)`` -> ``(n,)``: the mean over the
        drawn requests of the log critical path of each request's stage latencies (its stage locations plus one
        measured row of residuals). The critical path of the locations alone understates it where parallel
        branches are close, which is where a sizer that trims the branches off the critical path drives them."""
        if self.spread is None:
            return critical_log(self.wf, loc_stage)
        return critical_log(self.wf, loc_stage[:, None, :] + self.spread[None, :, :]).mean(axis=1)

    def _location_draws(
        self, configs: list[WorkflowConfig], x: np.ndarray, draws: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Draws of the end-to-end location, (draws, candidates): each draw's critical path of stage locations,
        moved by how much the drawn requests' spread adds at the posterior mean (:meth:`place`)."""
        cols, means = [], []
        for s, model in zip(self.wf.stages, self.stage_models, strict=True):
            cpu = np.array([c[s.function].cpu for c in configs])
            mean, std = model.posterior(x[:, self.dims[s.function]], cpu)
            cols.append(mean + std * rng.standard_normal((draws, x.shape[0])))
            means.append(mean)
        centre = np.stack(means, axis=-1)
        spread = self.place(centre) - critical_log(self.wf, centre)
        return critical_log(self.wf, np.stack(cols, axis=-1)) + spread

    def predict_loc(self, configs: list[WorkflowConfig], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        e2e = self._location_draws(configs, x, 256, np.random.default_rng(0)) + self.offset
        return e2e.mean(axis=0), np.sqrt(e2e.var(axis=0) + self.offset_var)

    def sample(self, configs: list[WorkflowConfig], x: np.ndarray, draws: int, rng: np.random.Generator) -> Samples:
        loc = self._location_draws(configs, x, draws, rng) + self.offset
        loc = loc + math.sqrt(self.offset_var) * rng.standard_normal(loc.shape)
        return Samples(loc, self._log_objective(configs, x, draws, rng))

    def _log_objective(
        self, configs: list[WorkflowConfig], x: np.ndarray, draws: int, rng: np.random.Generator
    ) -> np.ndarray:
        problem = self.problem
        calls = problem.workflow.invocations_per_request()
        total = np.full((draws, x.shape[0]), problem.pricing.requests_cost_usd(sum(calls.values())))
        for f, model in self.busy_models.items():
            mean, std = model.posterior(x[:, self.dims[f]], np.array([c[f].cpu for c in configs]))
            busy = np.exp(mean + std * rng.standard_normal((draws, x.shape[0])))
            total += self._price(f, configs, busy)
        return np.log(total)

    def _price(self, f: str, configs: list[WorkflowConfig], busy: np.ndarray) -> np.ndarray:
        """USD per request of function ``f`` for busy-second draws ``busy`` (draws, candidates)."""
        problem = self.problem
        per_s = np.array([problem.pricing.usd_per_second(c[f]) for c in configs])
        if problem.load is None:
            return busy * per_s
        log_d, held = self.held[f]
        calls = problem.workflow.invocations_per_request()[f]
        containers = np.interp(np.log(busy / calls), log_d, held)
        return containers * per_s / problem.load.mean_rps


def held_table(problem: SizingProblem, f: str, points: int = 97) -> tuple[np.ndarray, np.ndarray]:
    """Expected containers of ``f`` held by the load's pool against log mean duration (1 ms .. 1000 s): the pool
    model depends on the configuration only through the duration, so one table serves every candidate."""
    load = problem.load
    assert load is not None
    rate = load.mean_rps * problem.workflow.invocations_per_request()[f]
    log_d = np.linspace(math.log(1e-3), math.log(1e3), points)
    held = np.array([expected_containers(load.pool, rate, math.exp(v), load.interval_s) for v in log_d])
    return log_d, held


Surrogate = EndToEndSurrogate | DagSurrogate
