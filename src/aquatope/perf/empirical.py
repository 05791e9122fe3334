"""An empirical performance model: latencies drawn from measured distributions.

Warm latency at a measured configuration is drawn from that configuration's measured warm latencies
(inverse empirical CDF with linear interpolation between order statistics). Between two measured memory sizes
``m_lo < m < m_hi`` the model draws one quantile level ``u ~ U(0, 1)`` per invocation and returns::

    exp((1 - w) * log Q_lo(u) + w * log Q_hi(u)),   w = (log m - log m_lo) / (log m_hi - log m_lo)

Outside the measured memory range it clamps to the nearest measured size (no extrapolation). With measured
cpu values (decoupled data) it first picks the nearest measured cpu (in log cpu), then interpolates over the
memory sizes measured at that cpu. Memory-only data (SeBS, generic without ``cpu``) ignore ``config.cpu``:
on AWS Lambda the CPU share is a function of memory.

Cold start at a measured size: the measured cold latencies minus the median warm latency, floored at 0 (so
the median penalty is median(cold) - median(warm)); between sizes interpolated like warm latencies but in
``log(1 + ms)`` so that zero penalties are allowed. Sizes without cold rows are skipped; data with no cold
rows at all give a zero cold start. ``scale`` multiplies warm latencies and cold starts alike.

OOM: a config fails when ``memory_mb < min_memory_mb``. Unless given explicitly, ``min_memory_mb`` is the
largest ``mem_used`` observed (rounded up, and never above the smallest measured size, which by
construction ran), or 0 (never fails) when the data do not record memory use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError, brief
from aquatope.perf.base import check_n, check_q
from aquatope.perf.measurements import ConfigSamples, Measurements, load_measurements
from aquatope.resources import LAMBDA_MB_PER_VCPU, ResourceConfig

MAX_SCALE = 1000.0
"""Largest factor on measured latencies (a bound against overflow; a 1000x slower platform is not one)."""


def _quantile_sorted(values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse empirical CDF of sorted ``values`` (k,) at levels ``u`` (n,), linear between order stats."""
    return np.interp(u * (len(values) - 1), np.arange(len(values)), values)


@dataclass(frozen=True, eq=False)
class _Ladder:
    """Sorted samples (ms) at increasing memory sizes ``memory_mb`` (k,), for one cpu or memory-only data."""

    memory_mb: np.ndarray
    samples: tuple[np.ndarray, ...]

    def quantiles(self, memory_mb: float, u: np.ndarray, offset: float) -> np.ndarray:
        """Q(u) at ``memory_mb``, interpolated in ``log(ms + offset)`` by log memory; clamped outside."""
        mem = self.memory_mb
        hi = int(np.searchsorted(mem, memory_mb, side="right"))
        if hi == 0 or mem[hi - 1] == memory_mb:
            return _quantile_sorted(self.samples[max(hi - 1, 0)], u)
        if hi == len(mem):
            return _quantile_sorted(self.samples[-1], u)
        w = math.log(memory_mb / mem[hi - 1]) / math.log(mem[hi] / mem[hi - 1])
        low = np.log(_quantile_sorted(self.samples[hi - 1], u) + offset)
        high = np.log(_quantile_sorted(self.samples[hi], u) + offset)
        return np.asarray(np.exp((1.0 - w) * low + w * high) - offset, dtype=float)


def _ladders(groups: list[ConfigSamples], per_cpu: bool, cold: bool) -> dict[float | None, _Ladder]:
    """Warm (or cold-penalty) ladders keyed by cpu, or by None for memory-only data."""
    by_key: dict[float | None, list[tuple[float, np.ndarray]]] = {}
    for g in groups:
        if cold and g.cold_ms.size == 0:
            continue
        values = np.maximum(g.cold_ms - float(np.median(g.warm_ms)), 0.0) if cold else g.warm_ms
        by_key.setdefault(g.cpu if per_cpu else None, []).append((g.memory_mb, values))
    return {key: _Ladder(np.array([m for m, _ in rows]), tuple(v for _, v in rows)) for key, rows in by_key.items()}


def _nearest(ladders: dict[float | None, _Ladder], cpu: float) -> _Ladder:
    if None in ladders:
        return ladders[None]
    keys = [k for k in ladders if k is not None]
    return ladders[min(keys, key=lambda k: (abs(math.log(k / cpu)), k))]


@dataclass(frozen=True, eq=False)
class EmpiricalPerf:
    """:class:`~aquatope.perf.PerfModel` that resamples measured latencies (module docstring: the rules).

    ``measurements``: the data; ``scale``: multiplier (> 0) on latencies and cold starts; ``min_memory_mb``:
    OOM threshold in MB (None: inferred); ``file``: the path as written in a spec, used by :meth:`to_spec`.
    """

    measurements: Measurements
    scale: float = 1.0
    min_memory_mb: float | None = None
    file: str | None = None
    _warm: dict[float | None, _Ladder] = field(init=False, repr=False)
    _cold: dict[float | None, _Ladder] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        source = self.measurements.source
        if isinstance(self.scale, bool) or not (isinstance(self.scale, int | float) and self.scale > 0):
            raise InputError(f"must be a positive number, got {brief(self.scale)}", source=source, field="scale")
        if not self.scale <= MAX_SCALE:
            raise InputError(f"must be at most {MAX_SCALE:g}, got {brief(self.scale)}", source=source, field="scale")
        mm = self.min_memory_mb
        if mm is not None and (isinstance(mm, bool) or not isinstance(mm, int | float) or not 0 <= mm < math.inf):
            raise InputError(f"must be a non-negative number, got {brief(mm)}", source=source, field="min_memory_mb")
        groups = self.measurements.groups()
        per_cpu = self.measurements.cpu_measured
        object.__setattr__(self, "_warm", _ladders(groups, per_cpu, cold=False))
        object.__setattr__(self, "_cold", _ladders(groups, per_cpu, cold=True))

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        format: str | None = None,
        scale: float = 1.0,
        min_memory_mb: float | None = None,
        mb_per_vcpu: float = LAMBDA_MB_PER_VCPU,
    ) -> EmpiricalPerf:
        """Load a SeBS or generic CSV (see :func:`aquatope.perf.load_measurements`)."""
        data = load_measurements(path, format=format, mb_per_vcpu=mb_per_vcpu)
        return cls(data, scale=scale, min_memory_mb=min_memory_mb, file=str(path))

    @property
    def oom_below_mb(self) -> float:
        """Effective OOM threshold in MB: explicit ``min_memory_mb``, else inferred (module docstring)."""
        if self.min_memory_mb is not None:
            return float(self.min_memory_mb)
        used = self.measurements.max_mem_used_mb()
        if used is None:
            return 0.0
        return float(min(math.ceil(used), float(self.measurements.memory_mb.min())))

    def memory_used_mb(self, config: ResourceConfig) -> float:
        """Peak memory an invocation holds (MB): the median ``mem_used`` measured at the measured memory size nearest
        ``config.memory_mb`` (in log) that recorded it, at most the limit; NaN when the data do not record it."""
        data = self.measurements
        known = np.isfinite(data.mem_used_mb)
        if not known.any():
            return math.nan
        sizes = np.unique(data.memory_mb[known])
        nearest = sizes[np.argmin(np.abs(np.log(sizes) - math.log(config.memory_mb)))]
        used = float(np.median(data.mem_used_mb[known & (data.memory_mb == nearest)]))
        return min(used, float(config.memory_mb))

    def fails(self, config: ResourceConfig) -> bool:
        """True when ``config.memory_mb`` is below :attr:`oom_below_mb`."""
        return config.memory_mb < self.oom_below_mb

    def _warm_at(self, config: ResourceConfig, u: np.ndarray) -> np.ndarray:
        ladder = _nearest(self._warm, config.cpu)
        return self.scale * ladder.quantiles(config.memory_mb, u, offset=0.0)

    def sample_latency_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` warm latencies in ms; all NaN (failed invocations) when the config is OOM."""
        n = check_n(n)
        if self.fails(config):
            return np.full(n, np.nan)
        return self._warm_at(config, rng.random(n))

    def latency_quantile_ms(self, config: ResourceConfig, q: float) -> float:
        """Warm-latency ``q``-quantile in ms, the same interpolation the sampler uses; inf on OOM."""
        q = check_q(q)
        if self.fails(config):
            return math.inf
        return float(self._warm_at(config, np.array([q]))[0])

    def sample_cold_start_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` cold-start penalties in ms (zeros when the data have no cold rows)."""
        n = check_n(n)
        u = rng.random(n)
        if not self._cold:
            return np.zeros(n)
        ladder = _nearest(self._cold, config.cpu)
        return self.scale * np.maximum(ladder.quantiles(config.memory_mb, u, offset=1.0), 0.0)

    def describe(self) -> str:
        groups = self.measurements.groups()
        mems = [g.memory_mb for g in groups]
        medians = [float(np.median(g.warm_ms)) * self.scale for g in groups]
        return (
            f"empirical: {Path(self.file or self.measurements.source).name} ({self.measurements.format}), "
            f"{len(groups)} configs, memory {min(mems):g}..{max(mems):g} MB, warm median "
            f"{min(medians):.4g}..{max(medians):.4g} ms, scale {self.scale:g}"
        )

    def to_spec(self) -> dict[str, Any]:
        """``{"model": "empirical", "file", "format", "scale"[, "min_memory_mb"]}``."""
        spec: dict[str, Any] = {
            "model": "empirical",
            "file": self.file if self.file is not None else self.measurements.source,
            "format": self.measurements.format,
            "scale": float(self.scale),
        }
        if self.min_memory_mb is not None:
            spec["min_memory_mb"] = float(self.min_memory_mb)
        return spec
