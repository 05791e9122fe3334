"""The :class:`PerfModel` protocol and the noise arithmetic its implementations share.

Failure convention: an invocation that runs out of memory has latency ``numpy.nan`` in the arrays returned
by :meth:`PerfModel.sample_latency_ms`; the simulator counts a NaN as a failed invocation. The deterministic
counterpart is :meth:`PerfModel.latency_quantile_ms` returning ``math.inf`` and :meth:`PerfModel.fails`
returning True.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aquatope.resources import MAX_CPU, MAX_MEMORY_MB, ResourceConfig

MAX_MS = 86_400_000.0
"""Longest time a model may state (a day, in ms): a bound against overflow; serverless platforms stop a
function after 15 minutes (AWS Lambda) to 60 minutes (Cloud Run)."""
MAX_CV = 100.0
"""Largest coefficient of variation of a model's noise (measured serverless latencies have cv < 1)."""
UPPER_BOUNDS = {
    "cv": MAX_CV,
    "cold_start_cv": MAX_CV,
    "working_set_mb": MAX_MEMORY_MB,
    "min_memory_mb": MAX_MEMORY_MB,
    "max_parallelism": MAX_CPU,
    "memory_slowdown": 1000.0,
    "straggler_factor": 1000.0,
}
"""Upper bounds of model parameters other than times (``*_ms``: :data:`MAX_MS`); all guard against overflow."""


def upper_bound(name: str) -> float:
    """The largest value parameter ``name`` may take (see :data:`UPPER_BOUNDS`, :data:`MAX_MS`)."""
    return MAX_MS if name.endswith("_ms") else UPPER_BOUNDS.get(name, math.inf)


@runtime_checkable
class PerfModel(Protocol):
    """How long one function takes at a resource configuration.

    * ``sample_latency_ms(config, n, rng)``: float64 array of shape ``(n,)``, warm execution time in ms of
      ``n`` independent invocations. **An invocation that fails with out-of-memory is ``np.nan``**: the
      simulator treats NaN as a failed invocation.
    * ``sample_cold_start_ms(config, n, rng)``: float64 ``(n,)``, extra ms a cold container adds before its
      first invocation (container start plus runtime and library initialisation). Always finite.
    * ``latency_quantile_ms(config, q)``: the warm-latency ``q``-quantile in ms (``0 < q < 1``) of the same
      distribution ``sample_latency_ms`` draws from; ``math.inf`` when the config fails.
    * ``fails(config)``: True when every invocation at ``config`` runs out of memory.
    * ``describe()``: one line for humans; ``to_spec()``: the YAML mapping that
      :func:`aquatope.perf.perf_model_from_spec` turns back into an equivalent model.

    Optional: ``memory_used_mb(config)``, the peak memory (MB) an invocation holds at ``config``, which the
    simulator reports as each container's peak (:func:`memory_used_mb`: NaN for a model without it).
    """

    def sample_latency_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample_cold_start_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def latency_quantile_ms(self, config: ResourceConfig, q: float) -> float: ...

    def fails(self, config: ResourceConfig) -> bool: ...

    def describe(self) -> str: ...

    def to_spec(self) -> dict[str, Any]: ...


def memory_used_mb(perf: PerfModel, config: ResourceConfig) -> float:
    """``perf.memory_used_mb(config)`` where the model has it (see :class:`PerfModel`), else NaN (unknown)."""
    method = getattr(perf, "memory_used_mb", None)
    return math.nan if method is None else float(method(config))


def check_n(n: int) -> int:
    """Validate a sample count (a non-negative int) and return it."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return int(n)


def check_q(q: float) -> float:
    """Validate a quantile level, which must lie strictly between 0 and 1."""
    if not (isinstance(q, int | float | np.floating) and 0.0 < q < 1.0):
        raise ValueError(f"quantile level q must be in (0, 1), got {q!r}")
    return float(q)


def lognormal_sigma(cv: float) -> float:
    """Log-space standard deviation of a lognormal with coefficient of variation ``cv``."""
    return math.sqrt(math.log1p(cv * cv))


def cv_from_sigma(sigma: float) -> float:
    """Inverse of :func:`lognormal_sigma`."""
    return math.sqrt(math.expm1(sigma * sigma))


def sample_noise(
    n: int, cv: float, straggler_prob: float, straggler_factor: float, rng: np.random.Generator
) -> np.ndarray:
    """``(n,)`` multiplicative latency factors: a mean-1 lognormal with coefficient of variation ``cv``,
    multiplied by ``straggler_factor`` with probability ``straggler_prob`` (independently per draw).

    Both random streams are always drawn, so results for a seed do not depend on the parameter values.
    """
    sigma = lognormal_sigma(cv)
    factors = np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma * sigma)
    stragglers = rng.random(n) < straggler_prob
    return np.where(stragglers, factors * straggler_factor, factors)


def noise_quantile(q: float, cv: float, straggler_prob: float, straggler_factor: float) -> float:
    """Exact ``q``-quantile of the factors :func:`sample_noise` draws.

    Without stragglers it is the lognormal quantile in closed form. With stragglers the distribution is the
    mixture ``(1-p) LN(mu, sigma) + p LN(mu + log f, sigma)``; its quantile lies between the two components'
    quantiles and is found by Brent's method on the mixture CDF in log space. With ``cv == 0`` the mixture is
    discrete: 1 with probability ``1-p``, ``f`` with probability ``p``.
    """
    from scipy.optimize import brentq  # imported here: loading a workflow must not load SciPy
    from scipy.special import ndtr, ndtri

    sigma = lognormal_sigma(cv)
    mu = -0.5 * sigma * sigma
    p, log_f = straggler_prob, math.log(straggler_factor)
    if p == 0.0 or log_f == 0.0:
        return math.exp(mu + sigma * float(ndtri(q)))
    if sigma == 0.0:
        return 1.0 if q <= 1.0 - p else straggler_factor

    def excess(t: float) -> float:
        return float((1 - p) * ndtr((t - mu) / sigma) + p * ndtr((t - mu - log_f) / sigma)) - q

    lo = mu + sigma * float(ndtri(q))
    hi = lo + log_f
    if excess(lo) >= 0.0:
        return math.exp(lo)
    if excess(hi) <= 0.0:
        return math.exp(hi)
    return math.exp(brentq(excess, lo, hi, xtol=1e-12, rtol=1e-12))
