"""Fit a :class:`~aquatope.perf.ParametricPerf` to a measurement set.

1. Noise, pooled over configurations from the log-residuals ``r = log(latency / median at its config)``:
   ``sigma = IQR(r) / 1.349`` (robust to the tail), ``cv = sqrt(exp(sigma^2) - 1)``. Residuals beyond
   ``3 sigma`` are stragglers: ``straggler_prob`` is their fraction in excess of what the lognormal itself
   puts there, ``straggler_factor = exp(median r of them)``.
2. The deterministic curve, by least squares on log warm medians per measured configuration. The noise
   multiplies every latency by the same distribution, so the model's median is ``base_ms * k`` with
   ``k = noise_quantile(0.5)``; the fit matches ``base_ms`` to ``median / k``. A grid over
   ``max_parallelism``, ``working_set_mb`` and ``memory_slowdown`` solves ``serial_ms, parallel_ms, io_ms``
   by non-negative least squares on relative errors (the model is linear in them), and the best grid points
   are refined by ``scipy.optimize.least_squares`` on log residuals over every continuous parameter.
   When no configuration has more than 1 vCPU the serial and parallel parts are indistinguishable and the
   fit reports all CPU work as serial (no speed-up assumed beyond 1 vCPU); likewise ``max_parallelism`` is
   never fitted above the largest measured cpu (no extrapolated speed-up).
3. Cold start from ``median(cold) - median(warm)`` per size: non-negative least squares of
   ``A / min(cpu, 1) + B`` (CPU-bound and fixed parts), spread from the pooled cold residuals.
4. ``min_memory_mb``: the largest ``mem_used`` observed (capped at the smallest measured size), else 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares, nnls

from aquatope.perf.base import cv_from_sigma, noise_quantile
from aquatope.perf.measurements import ConfigSamples, Measurements
from aquatope.perf.parametric import ParametricPerf, deterministic_latency_ms
from aquatope.resources import LAMBDA_MB_PER_VCPU, ResourceConfig

_PARALLELISM_GRID = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 32.0, 64.0)
_SLOWDOWN_GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_N_WORKING_SET = 25
_N_REFINE = 8
_STRAGGLER_SIGMAS = 3.0
_IQR_PER_SIGMA = 1.349


class ConfigFit(NamedTuple):
    """One measured configuration: measured and fitted warm medians (ms), signed relative error."""

    config: ResourceConfig
    measured_median_ms: float
    fitted_median_ms: float
    rel_error: float


@dataclass(frozen=True)
class FitResult:
    """The fitted model and how well its warm medians match the measured ones.

    ``rel_error = (fitted - measured) / measured`` per configuration; ``max_rel_error`` and
    ``median_rel_error`` summarise its absolute value.
    """

    model: ParametricPerf
    per_config: list[ConfigFit]
    max_rel_error: float
    median_rel_error: float

    def table(self) -> str:
        """Per-configuration errors, one line each, for printing."""
        lines = [
            f"{c.config!s:>22}: measured {c.measured_median_ms:9.1f} ms, fitted {c.fitted_median_ms:9.1f} ms, "
            f"error {c.rel_error:+7.2%}"
            for c in self.per_config
        ]
        lines.append(f"max |error| {self.max_rel_error:.2%}, median |error| {self.median_rel_error:.2%}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Curve:
    """Deterministic-curve parameters (times in ms at 1 vCPU, memory in MB)."""

    serial_ms: float
    parallel_ms: float
    max_parallelism: float
    io_ms: float
    working_set_mb: float
    memory_slowdown: float

    def latency_ms(self, cpu: np.ndarray, memory_mb: np.ndarray) -> np.ndarray:
        return deterministic_latency_ms(
            cpu,
            memory_mb,
            serial_ms=self.serial_ms,
            parallel_ms=self.parallel_ms,
            max_parallelism=self.max_parallelism,
            io_ms=self.io_ms,
            working_set_mb=self.working_set_mb,
            memory_slowdown=self.memory_slowdown,
        )

    def log_sse(self, cpu: np.ndarray, memory_mb: np.ndarray, target_ms: np.ndarray) -> float:
        pred = np.maximum(self.latency_ms(cpu, memory_mb), 1e-12)
        return float(np.sum(np.log(pred / target_ms) ** 2))


def _fit_noise(groups: list[ConfigSamples]) -> tuple[float, float, float]:
    """(cv, straggler_prob, straggler_factor) from pooled warm log-residuals (module docstring, step 1)."""
    r = np.concatenate([np.log(g.warm_ms / np.median(g.warm_ms)) for g in groups])
    q25, q75 = np.percentile(r, [25, 75])
    sigma = float(q75 - q25) / _IQR_PER_SIGMA
    if sigma <= 0:
        return 0.0, 0.0, 1.0
    tail = r[r > _STRAGGLER_SIGMAS * sigma]
    lognormal_tail = 0.5 * math.erfc(_STRAGGLER_SIGMAS / math.sqrt(2.0))
    prob = min(tail.size / r.size - lognormal_tail, 0.5)
    if prob <= 0 or tail.size < 3:
        return cv_from_sigma(sigma), 0.0, 1.0
    return cv_from_sigma(sigma), float(prob), float(math.exp(np.median(tail)))


def _solve_linear(
    cpu: np.ndarray, mem: np.ndarray, target: np.ndarray, parallelism: float, ws: float, slow: float
) -> _Curve:
    """Best (io, serial, parallel) >= 0 for fixed parallelism / working set / slowdown (relative errors)."""
    factor = 1.0 + slow * np.maximum(ws / mem - 1.0, 0.0)
    columns = [np.ones_like(mem), factor / np.minimum(cpu, 1.0)]
    if cpu.max() > 1.0:
        columns.append(factor / np.minimum(cpu, parallelism))
    coef, _ = nnls(np.column_stack(columns) / target[:, None], np.ones_like(target))
    parallel = float(coef[2]) if len(coef) > 2 else 0.0
    return _Curve(float(coef[1]), parallel, parallelism, float(coef[0]), ws, slow)


def _grid(cpu: np.ndarray, mem: np.ndarray, target: np.ndarray) -> list[_Curve]:
    """Every grid point's linear solution, best (lowest log SSE) first."""
    max_cpu = float(cpu.max())
    parallelisms = sorted({min(p, max(max_cpu, 1.0)) for p in _PARALLELISM_GRID})
    working_sets = np.geomspace(mem.min(), 2.0 * mem.max(), _N_WORKING_SET)
    curves = [
        _solve_linear(cpu, mem, target, p, float(ws), s)
        for p in parallelisms
        for ws in working_sets
        for s in _SLOWDOWN_GRID
    ]
    return sorted(curves, key=lambda c: c.log_sse(cpu, mem, target))


def _refine(curve: _Curve, cpu: np.ndarray, mem: np.ndarray, target: np.ndarray) -> _Curve:
    """Local least squares on log residuals over every parameter but max_parallelism."""
    scale = float(np.exp(np.mean(np.log(target))))

    def unpack(x: np.ndarray) -> _Curve:
        return _Curve(x[0] * scale, x[1] * scale, curve.max_parallelism, x[2] * scale, math.exp(x[4]), x[3])

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(unpack(x).latency_ms(cpu, mem), 1e-12) / target)

    lower = np.array([0.0, 0.0, 0.0, 0.0, math.log(mem.min())])
    upper = np.array([np.inf, np.inf, np.inf, 50.0, math.log(2.0 * mem.max())])
    x0 = np.array([curve.serial_ms, curve.parallel_ms, curve.io_ms, 0.0, 0.0]) / scale
    x0[3:] = curve.memory_slowdown, math.log(curve.working_set_mb)
    x0 = np.minimum(np.maximum(x0, lower + 1e-6), upper)
    result = least_squares(residuals, x0, bounds=(lower, upper), method="trf")
    refined = unpack(result.x)
    return refined if refined.log_sse(cpu, mem, target) < curve.log_sse(cpu, mem, target) else curve


def _fit_curve(cpu: np.ndarray, mem: np.ndarray, target: np.ndarray) -> _Curve:
    """Grid then local refinement (module docstring, step 2); CPU work all serial when cpu <= 1."""
    candidates = _grid(cpu, mem, target)[:_N_REFINE]
    if len(target) >= 3:
        candidates = [_refine(c, cpu, mem, target) for c in candidates]
    best = min(candidates, key=lambda c: c.log_sse(cpu, mem, target))
    tiny = 1e-9 * float(target.max())
    serial, parallel, io = (v if v > tiny else 0.0 for v in (best.serial_ms, best.parallel_ms, best.io_ms))
    parallelism = best.max_parallelism
    if cpu.max() <= 1.0 or parallelism <= 1.0 or parallel == 0.0:
        serial, parallel, parallelism = serial + parallel, 0.0, 1.0
    ws, slow = best.working_set_mb, best.memory_slowdown
    if slow <= 1e-9:
        ws, slow = float(mem.min()), 0.0
    return _Curve(serial, parallel, parallelism, io, ws, slow)


def _fit_cold(groups: list[ConfigSamples], cpu: np.ndarray) -> tuple[float, float, float]:
    """(cold_start_ms, cold_start_cpu_fraction, cold_start_cv) (module docstring, step 3)."""
    rows, residuals = [], []
    for g, c in zip(groups, cpu, strict=True):
        penalty = g.cold_ms - float(np.median(g.warm_ms))
        positive = penalty[penalty > 0]
        if g.cold_ms.size and float(np.median(penalty)) > 0:
            rows.append((1.0 / min(c, 1.0), float(np.median(penalty))))
            residuals.append(np.log(positive / np.median(positive)))
    if not rows:
        return 0.0, 0.5, 0.2
    pooled = np.concatenate(residuals)
    q25, q75 = np.percentile(pooled, [25, 75])
    sigma = float(q75 - q25) / _IQR_PER_SIGMA
    inv_cpu, median = (np.array(v) for v in zip(*rows, strict=True))
    coef, _ = nnls(np.column_stack([inv_cpu, np.ones_like(inv_cpu)]) / median[:, None], np.ones_like(median))
    total = float(coef.sum())
    # The lognormal noise is mean-1, so its median is exp(-sigma^2 / 2): scale medians up to means.
    return total * math.exp(0.5 * sigma * sigma), float(coef[0]) / total, cv_from_sigma(sigma)


def fit_parametric(measurements: Measurements, *, mb_per_vcpu: float = LAMBDA_MB_PER_VCPU) -> FitResult:
    """Fit a :class:`ParametricPerf` to ``measurements`` (steps in the module docstring).

    Memory-only data get ``cpu = memory_mb / mb_per_vcpu`` (AWS Lambda: 1769 MB per vCPU).
    """
    groups = measurements.groups()
    configs = [
        ResourceConfig(g.cpu if measurements.cpu_measured else g.memory_mb / mb_per_vcpu, round(g.memory_mb))
        for g in groups
    ]
    cpu = np.array([c.cpu for c in configs])
    mem = np.array([float(c.memory_mb) for c in configs])
    measured = np.array([float(np.median(g.warm_ms)) for g in groups])
    cv, prob, factor = _fit_noise(groups)
    curve = _fit_curve(cpu, mem, measured / noise_quantile(0.5, cv, prob, factor))
    cold_ms, cold_frac, cold_cv = _fit_cold(groups, cpu)
    used = measurements.max_mem_used_mb()
    min_mem = 0.0 if used is None else float(min(math.ceil(used), mem.min(), curve.working_set_mb))
    model = ParametricPerf(
        serial_ms=curve.serial_ms,
        parallel_ms=curve.parallel_ms,
        max_parallelism=curve.max_parallelism,
        io_ms=curve.io_ms,
        working_set_mb=curve.working_set_mb,
        min_memory_mb=min_mem,
        cv=cv,
        cold_start_ms=cold_ms,
        memory_slowdown=curve.memory_slowdown,
        straggler_prob=prob,
        straggler_factor=factor,
        cold_start_cpu_fraction=cold_frac,
        cold_start_cv=cold_cv,
    )
    return _result(model, configs, measured)


def _result(model: ParametricPerf, configs: list[ResourceConfig], measured: np.ndarray) -> FitResult:
    per_config = []
    for config, y in zip(configs, measured, strict=True):
        fitted = model.latency_quantile_ms(config, 0.5)
        per_config.append(ConfigFit(config, float(y), fitted, (fitted - float(y)) / float(y)))
    errors = np.abs([c.rel_error for c in per_config])
    return FitResult(model, per_config, float(errors.max()), float(np.median(errors)))
