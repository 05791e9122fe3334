"""A parametric performance model: Amdahl CPU scaling, I/O, memory pressure, lognormal noise, stragglers.

Deterministic (noise-free) warm latency of a configuration with ``cpu`` vCPU and ``m`` MB::

    cpu_ms  = serial_ms / min(cpu, 1) + parallel_ms / min(cpu, max_parallelism)
    slow    = 1 + memory_slowdown * (working_set_mb / m - 1)   if m < working_set_mb else 1
    base_ms = io_ms + cpu_ms * slow                            (OOM failure if m < min_memory_mb)

A fractional vCPU is a CPU quota, so it slows the serial part as well; beyond one vCPU only the parallel
part speeds up, up to ``max_parallelism`` threads. Each invocation's latency is ``base_ms`` times a mean-1
lognormal factor with coefficient of variation ``cv``, and with probability ``straggler_prob`` also times
``straggler_factor``.

Cold start (extra ms before a cold container's first invocation)::

    cold_ms = cold_start_ms * (cold_start_cpu_fraction / min(cpu, 1) + 1 - cold_start_cpu_fraction)

times a mean-1 lognormal factor with coefficient of variation ``cold_start_cv``. The CPU-bound fraction
(runtime start, imports) is single-threaded, so it stretches under a fractional-vCPU quota and gains
nothing from more than one vCPU; the rest (sandbox creation, image or code download) does not depend on CPU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError, brief
from aquatope.perf.base import check_n, check_q, noise_quantile, sample_noise, upper_bound
from aquatope.resources import ResourceConfig

_NON_NEGATIVE = (
    "serial_ms",
    "parallel_ms",
    "io_ms",
    "min_memory_mb",
    "memory_slowdown",
    "cv",
    "cold_start_ms",
    "cold_start_cv",
)


def deterministic_latency_ms(
    cpu: np.ndarray | float,
    memory_mb: np.ndarray | float,
    *,
    serial_ms: float,
    parallel_ms: float,
    max_parallelism: float,
    io_ms: float,
    working_set_mb: float,
    memory_slowdown: float,
) -> np.ndarray:
    """Noise-free warm latency in ms (formula in the module docstring), elementwise over ``cpu`` (vCPU)
    and ``memory_mb`` (MB) arrays of one broadcastable shape. Ignores OOM (see :class:`ParametricPerf`)."""
    cpu_arr = np.asarray(cpu, dtype=float)
    mem_arr = np.asarray(memory_mb, dtype=float)
    cpu_ms = serial_ms / np.minimum(cpu_arr, 1.0) + parallel_ms / np.minimum(cpu_arr, max_parallelism)
    slow = 1.0 + memory_slowdown * np.maximum(working_set_mb / mem_arr - 1.0, 0.0)
    return np.asarray(io_ms + cpu_ms * slow, dtype=float)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"must be a number, got {brief(value)}", field=name)
    if not math.isfinite(value):
        raise InputError(f"must be finite, got {brief(value)}", field=name)
    return float(value)


@dataclass(frozen=True)
class ParametricPerf:
    """Parametric :class:`~aquatope.perf.PerfModel`; the module docstring gives the formulas.

    Times are ms at 1 vCPU, memory in MB. Every field is validated on construction (an
    :class:`~aquatope.errors.InputError` names the field). OOM: when ``memory_mb < min_memory_mb`` every
    invocation fails, so samples are NaN and quantiles are ``math.inf``.
    """

    serial_ms: float
    parallel_ms: float
    max_parallelism: float
    io_ms: float
    working_set_mb: float
    min_memory_mb: float
    cv: float
    cold_start_ms: float
    memory_slowdown: float = 1.0
    straggler_prob: float = 0.0
    straggler_factor: float = 1.0
    cold_start_cpu_fraction: float = 0.5
    cold_start_cv: float = 0.2

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _number(f.name, getattr(self, f.name)))
        for name in _NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise InputError(f"must be >= 0, got {brief(getattr(self, name))}", field=name)
        for f in dataclasses.fields(self):
            if getattr(self, f.name) > upper_bound(f.name):
                raise InputError(f"must be <= {upper_bound(f.name):g}, got {getattr(self, f.name):g}", field=f.name)
        if self.serial_ms + self.parallel_ms + self.io_ms <= 0:
            raise InputError("serial_ms + parallel_ms + io_ms must be > 0", field="serial_ms")
        if self.max_parallelism < 1:
            raise InputError(f"must be >= 1, got {brief(self.max_parallelism)}", field="max_parallelism")
        if self.working_set_mb <= 0:
            raise InputError(f"must be > 0, got {brief(self.working_set_mb)}", field="working_set_mb")
        if self.min_memory_mb > self.working_set_mb:
            raise InputError(
                f"must be <= working_set_mb ({self.working_set_mb:g}), got {self.min_memory_mb:g}",
                field="min_memory_mb",
            )
        if not 0 <= self.straggler_prob < 1:
            raise InputError(f"must be in [0, 1), got {brief(self.straggler_prob)}", field="straggler_prob")
        if self.straggler_factor < 1:
            raise InputError(f"must be >= 1, got {brief(self.straggler_factor)}", field="straggler_factor")
        if not 0 <= self.cold_start_cpu_fraction <= 1:
            raise InputError(
                f"must be in [0, 1], got {brief(self.cold_start_cpu_fraction)}", field="cold_start_cpu_fraction"
            )

    def fails(self, config: ResourceConfig) -> bool:
        """True when ``config.memory_mb < min_memory_mb``: every invocation runs out of memory."""
        return config.memory_mb < self.min_memory_mb

    def memory_used_mb(self, config: ResourceConfig) -> float:
        """Peak memory an invocation holds (MB): its working set, or the whole limit when the limit is smaller (it
        pages, or runs out of memory)."""
        return float(min(config.memory_mb, self.working_set_mb))

    def base_latency_ms(self, config: ResourceConfig) -> float:
        """Noise-free warm latency in ms (the lognormal noise's mean; stragglers excluded); inf on OOM."""
        if self.fails(config):
            return math.inf
        return float(
            deterministic_latency_ms(
                config.cpu,
                config.memory_mb,
                serial_ms=self.serial_ms,
                parallel_ms=self.parallel_ms,
                max_parallelism=self.max_parallelism,
                io_ms=self.io_ms,
                working_set_mb=self.working_set_mb,
                memory_slowdown=self.memory_slowdown,
            )
        )

    def sample_latency_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` warm latencies in ms; all NaN (failed invocations) when the config is OOM."""
        n = check_n(n)
        if self.fails(config):
            return np.full(n, np.nan)
        noise = sample_noise(n, self.cv, self.straggler_prob, self.straggler_factor, rng)
        return self.base_latency_ms(config) * noise

    def latency_quantile_ms(self, config: ResourceConfig, q: float) -> float:
        """Exact warm-latency ``q``-quantile in ms of the lognormal/straggler mixture; inf on OOM."""
        q = check_q(q)
        if self.fails(config):
            return math.inf
        return self.base_latency_ms(config) * noise_quantile(q, self.cv, self.straggler_prob, self.straggler_factor)

    def cold_start_base_ms(self, config: ResourceConfig) -> float:
        """Noise-free cold-start penalty in ms (the mean of :meth:`sample_cold_start_ms`)."""
        frac = self.cold_start_cpu_fraction
        return self.cold_start_ms * (frac / min(config.cpu, 1.0) + 1.0 - frac)

    def sample_cold_start_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` cold-start penalties in ms (finite even when the config is OOM)."""
        n = check_n(n)
        return self.cold_start_base_ms(config) * sample_noise(n, self.cold_start_cv, 0.0, 1.0, rng)

    def describe(self) -> str:
        stragglers = (
            f", {self.straggler_prob:.1%} stragglers x{self.straggler_factor:.3g}" if self.straggler_prob else ""
        )
        return (
            f"parametric: serial {self.serial_ms:.4g} ms + parallel {self.parallel_ms:.4g} ms "
            f"(<= {self.max_parallelism:g} vCPU) + io {self.io_ms:.4g} ms at 1 vCPU, working set "
            f"{self.working_set_mb:.0f} MB (x{self.memory_slowdown:.3g}), OOM below {self.min_memory_mb:.0f} MB, "
            f"cv {self.cv:.3g}{stragglers}, cold start {self.cold_start_ms:.4g} ms"
        )

    def to_spec(self) -> dict[str, Any]:
        """``{"model": "parametric", <every field>: value}``; see :func:`aquatope.perf.perf_model_from_spec`."""
        return {"model": "parametric", **dataclasses.asdict(self)}
