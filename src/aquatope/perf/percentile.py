"""A performance model from published latency percentiles, for replaying traces such as Azure 2019's.

The Azure Functions trace gives, per function, percentiles of execution time (0, 1, 25, 50, 75, 99, 100) at the
function's own, fixed configuration. :class:`PercentilePerf` samples by inverse transform: a uniform level ``u``
maps to the log-latency interpolated linearly between the two neighbouring published percentiles, so every
published percentile is reproduced exactly and the tails between p99 and p100 are geometric, not linear. It
ignores the configuration (the trace does not say how the function would scale) and never fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.errors import InputError, brief
from aquatope.perf.base import MAX_MS, check_n, check_q, lognormal_sigma, upper_bound
from aquatope.resources import ResourceConfig

FLOOR_MS = 1.0
"""Latencies below 1 ms (the trace reports 0 for some) are raised to 1 ms before taking logs."""


@dataclass(frozen=True)
class PercentilePerf:
    """Warm latency from ``(percent, ms)`` points; cold start lognormal with median ``cold_start_ms``."""

    percents: tuple[float, ...]
    latencies_ms: tuple[float, ...]
    cold_start_ms: float = 1000.0
    cold_start_cv: float = 0.3
    _u: np.ndarray = field(init=False, repr=False, compare=False)
    _log: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p = np.asarray(self.percents, dtype=float)
        v = np.asarray(self.latencies_ms, dtype=float)
        if p.ndim != 1 or p.size < 2 or p.size != v.size:
            raise InputError("need at least two (percentile, latency) points of equal length", field="percentiles")
        if not (np.all(np.diff(p) > 0) and p[0] >= 0 and p[-1] <= 100):
            raise InputError(
                f"percentiles must increase within 0..100, got {brief(self.percents)}", field="percentiles"
            )
        if not (np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(v <= MAX_MS)):
            raise InputError(
                f"latencies must be in 0..{MAX_MS:g} ms, got {brief(self.latencies_ms)}", field="latencies_ms"
            )
        for name in ("cold_start_ms", "cold_start_cv"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= upper_bound(name)):
                raise InputError(f"must be a number in 0..{upper_bound(name):g}, got {brief(value)}", field=name)
        # quantile functions must not decrease: the trace's percentiles of averages occasionally do
        object.__setattr__(self, "latencies_ms", tuple(np.maximum.accumulate(v).tolist()))
        object.__setattr__(self, "_u", np.asarray(self.percents, dtype=float) / 100.0)
        object.__setattr__(self, "_log", np.log(np.maximum(np.asarray(self.latencies_ms), FLOOR_MS)))

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]], **kwargs: Any) -> PercentilePerf:
        points = sorted(points)
        return cls(tuple(p for p, _ in points), tuple(v for _, v in points), **kwargs)

    def _quantiles(self, u: np.ndarray) -> np.ndarray:
        return np.exp(np.interp(u, self._u, self._log))

    def sample_latency_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.uniform(self._u[0], self._u[-1], check_n(n))
        return self._quantiles(u)

    def sample_cold_start_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        sigma = lognormal_sigma(self.cold_start_cv)
        return self.cold_start_ms * np.exp(sigma * rng.standard_normal(check_n(n)))

    def latency_quantile_ms(self, config: ResourceConfig, q: float) -> float:
        u = float(np.clip(check_q(q), self._u[0], self._u[-1]))
        return float(self._quantiles(np.array([u]))[0])

    def memory_used_mb(self, config: ResourceConfig) -> float:
        """Unknown (NaN): the trace's percentiles say nothing of memory."""
        return math.nan

    def fails(self, config: ResourceConfig) -> bool:
        return False

    def describe(self) -> str:
        pts = ", ".join(f"p{p:g} {v:.0f}" for p, v in zip(self.percents, self.latencies_ms, strict=True))
        return f"percentiles (ms): {pts}; cold start {self.cold_start_ms:.0f} ms"

    def to_spec(self) -> dict[str, Any]:
        return {
            "model": "percentiles",
            "percents": list(self.percents),
            "latencies_ms": list(self.latencies_ms),
            "cold_start_ms": self.cold_start_ms,
            "cold_start_cv": self.cold_start_cv,
        }
