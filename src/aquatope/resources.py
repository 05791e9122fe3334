"""Resource configurations, the spaces they are searched in, and what they cost.

A :class:`ResourceConfig` is what one container of a function gets: ``cpu`` in vCPU and ``memory_mb``.
A :class:`ResourceSpace` is the set of configurations a platform offers:

* *decoupled*: CPU and memory chosen independently (OpenWhisk with explicit CPU limits, Google Cloud Run,
  Knative). Default: cpu 0.1..8 vCPU in steps of 0.1, memory 128..10240 MB in steps of 64 MB.
* *coupled*: memory only, CPU in proportion to it (AWS Lambda: 1769 MB buys one vCPU). Default:
  128..10240 MB in steps of 64 MB, or a user's explicit list of sizes.

:class:`Pricing` is the one place where money is computed (per vCPU-second, per GB-second, per request).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from aquatope.errors import InputError, brief

LAMBDA_MB_PER_VCPU = 1769.0
"""AWS Lambda allocates CPU in proportion to memory; 1,769 MB is one full vCPU (AWS Lambda docs, "Memory and
computing power")."""


MAX_CPU = 1024.0
"""Most vCPU of one container: a bound against overflow, 100 times what serverless platforms offer (Cloud Run
8, AWS Lambda 6 vCPU)."""
MAX_MEMORY_MB = 2**20
"""Most memory of one container (1 TiB): a bound against overflow, 30 times what serverless platforms offer
(Cloud Run 32 GiB, AWS Lambda 10,240 MB)."""
_LIMITS = {"cpu": (4, "vCPU", MAX_CPU), "memory_mb": (None, "MB", MAX_MEMORY_MB)}


@dataclass(frozen=True, order=True)
class ResourceConfig:
    """CPU (vCPU, may be fractional, at most :data:`MAX_CPU`) and memory (MB, at most :data:`MAX_MEMORY_MB`)
    of one container."""

    cpu: float
    memory_mb: int

    def __post_init__(self) -> None:
        # validate after rounding to the platform's granularity (0.0001 vCPU, 1 MB), so nothing rounds to zero
        for name, (digits, unit, largest) in _LIMITS.items():
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            rounded = round(float(value), digits) if ok and digits is not None else (round(value) if ok else None)
            if rounded is None or not 0 < rounded <= largest:
                raise InputError(
                    f"{name} must be a positive number of {unit}, at most {largest:g}, got {brief(value)}", field=name
                )
            object.__setattr__(self, name, rounded)

    @property
    def memory_gb(self) -> float:
        """Memory in GB as cloud providers bill it (1 GB = 1024 MB)."""
        return self.memory_mb / 1024.0

    def to_dict(self) -> dict[str, float | int]:
        return {"cpu": self.cpu, "memory_mb": self.memory_mb}

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None, field: str = "resources") -> ResourceConfig:
        """Build from ``{"cpu": ..., "memory_mb": ...}``, naming the bad field on error."""
        if not isinstance(data, dict):
            raise InputError(
                f"expected a mapping with cpu and memory_mb, got {brief(data)}", source=source, field=field
            )
        unknown = set(data) - {"cpu", "memory_mb"}
        if unknown:
            raise InputError(f"unknown keys {sorted(unknown)}", source=source, field=field)
        for key in ("cpu", "memory_mb"):
            if key not in data:
                raise InputError("missing", source=source, field=f"{field}.{key}")
            value = data[key]
            _, unit, largest = _LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= largest:
                raise InputError(
                    f"must be a positive number of {unit}, at most {largest:g}, got {brief(value)}",
                    source=source,
                    field=f"{field}.{key}",
                )
        return cls(cpu=float(data["cpu"]), memory_mb=round(data["memory_mb"]))

    def __str__(self) -> str:
        return f"{self.cpu:g} vCPU / {self.memory_mb} MB"


def _steps(low: float, high: float, step: float) -> np.ndarray:
    n = math.floor((high - low) / step + 1e-9) + 1
    return np.round(low + step * np.arange(n), 6)


@dataclass(frozen=True)
class ResourceSpace:
    """The configurations a platform offers for one function.

    ``kind="decoupled"``: a grid of cpu x memory values. ``kind="coupled"``: memory values only, with
    ``cpu = memory_mb / mb_per_vcpu``. Values are the discrete steps the platform accepts; every method
    that maps into the space rounds to them.
    """

    kind: Literal["decoupled", "coupled"] = "decoupled"
    cpu_values: tuple[float, ...] = field(default_factory=lambda: tuple(_steps(0.1, 8.0, 0.1).tolist()))
    memory_values_mb: tuple[int, ...] = field(
        default_factory=lambda: tuple(int(v) for v in _steps(128, 10240, 64).tolist())
    )
    mb_per_vcpu: float = LAMBDA_MB_PER_VCPU

    def __post_init__(self) -> None:
        if self.kind not in ("decoupled", "coupled"):
            raise InputError(f"unknown space kind {brief(self.kind)} (decoupled or coupled)", field="space")
        if not self.memory_values_mb or any(m <= 0 for m in self.memory_values_mb):
            raise InputError("memory sizes must be a non-empty list of positive MB", field="memory_values_mb")
        if self.kind == "decoupled" and (not self.cpu_values or any(c <= 0 for c in self.cpu_values)):
            raise InputError("cpu values must be a non-empty list of positive vCPU", field="cpu_values")
        object.__setattr__(self, "memory_values_mb", tuple(sorted({int(m) for m in self.memory_values_mb})))
        object.__setattr__(self, "cpu_values", tuple(sorted({round(float(c), 4) for c in self.cpu_values})))

    @classmethod
    def decoupled(
        cls,
        cpu_range: tuple[float, float, float] = (0.1, 8.0, 0.1),
        memory_range_mb: tuple[int, int, int] = (128, 10240, 64),
    ) -> ResourceSpace:
        """CPU and memory chosen independently; ranges are (low, high, step)."""
        cpus = tuple(_steps(*cpu_range).tolist())
        mems = tuple(int(m) for m in _steps(*memory_range_mb).tolist())
        return cls("decoupled", cpus, mems)

    @classmethod
    def coupled(
        cls,
        memory_sizes_mb: Sequence[int] | None = None,
        memory_range_mb: tuple[int, int, int] = (128, 10240, 64),
        mb_per_vcpu: float = LAMBDA_MB_PER_VCPU,
    ) -> ResourceSpace:
        """Memory-only sizing, CPU in proportion (AWS Lambda); an explicit list of sizes or a range."""
        if memory_sizes_mb is not None:
            mems = tuple(int(m) for m in memory_sizes_mb)
        else:
            mems = tuple(int(m) for m in _steps(*memory_range_mb).tolist())
        return cls("coupled", (), mems, mb_per_vcpu)

    @classmethod
    def named(cls, name: str) -> ResourceSpace:
        """``decoupled`` or ``coupled`` with the defaults above."""
        if name == "decoupled":
            return cls.decoupled()
        if name == "coupled":
            return cls.coupled()
        raise InputError(f"unknown resource space {brief(name)}; choose decoupled or coupled", field="space")

    @property
    def dims(self) -> int:
        """Search dimensions per function: 2 (cpu, memory) when decoupled, 1 (memory) when coupled."""
        return 2 if self.kind == "decoupled" else 1

    def cpu_for_memory(self, memory_mb: float) -> float:
        """CPU share of a coupled configuration (AWS Lambda: memory / 1769 MB)."""
        return round(memory_mb / self.mb_per_vcpu, 4)

    def size(self) -> int:
        """Number of configurations per function."""
        return len(self.memory_values_mb) * (len(self.cpu_values) if self.kind == "decoupled" else 1)

    def configs(self) -> list[ResourceConfig]:
        """Every configuration of the space (memory-major)."""
        if self.kind == "coupled":
            return [ResourceConfig(self.cpu_for_memory(m), m) for m in self.memory_values_mb]
        return [ResourceConfig(c, m) for m in self.memory_values_mb for c in self.cpu_values]

    def nearest(self, config: ResourceConfig) -> ResourceConfig:
        """The configuration of the space closest to ``config`` (rounding to the platform's steps)."""
        mem = _nearest(self.memory_values_mb, config.memory_mb)
        if self.kind == "coupled":
            return ResourceConfig(self.cpu_for_memory(mem), int(mem))
        return ResourceConfig(_nearest(self.cpu_values, config.cpu), int(mem))

    def contains(self, config: ResourceConfig) -> bool:
        return self.nearest(config) == config

    def to_unit(self, config: ResourceConfig) -> np.ndarray:
        """Coordinates in [0, 1]^dims: (cpu, memory) or (memory,), linear in the index of the step."""
        c = self.nearest(config)
        mem_u = _index_unit(self.memory_values_mb, c.memory_mb)
        if self.kind == "coupled":
            return np.array([mem_u])
        return np.array([_index_unit(self.cpu_values, c.cpu), mem_u])

    def from_unit(self, u: Sequence[float] | np.ndarray) -> ResourceConfig:
        """Inverse of :meth:`to_unit`, rounding to the nearest step; values are clipped into [0, 1]."""
        arr = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if arr.shape != (self.dims,):
            raise ValueError(f"expected {self.dims} unit coordinates, got shape {arr.shape}")
        mem = _from_index_unit(self.memory_values_mb, arr[-1])
        if self.kind == "coupled":
            return ResourceConfig(self.cpu_for_memory(mem), int(mem))
        return ResourceConfig(_from_index_unit(self.cpu_values, arr[0]), int(mem))

    def describe(self) -> str:
        mems = self.memory_values_mb
        if self.kind == "coupled":
            return f"coupled: {len(mems)} memory sizes {mems[0]}..{mems[-1]} MB, cpu = memory / {self.mb_per_vcpu:g} MB"
        cpus = self.cpu_values
        return (
            f"decoupled: cpu {cpus[0]:g}..{cpus[-1]:g} vCPU ({len(cpus)} values) x "
            f"memory {mems[0]}..{mems[-1]} MB ({len(mems)} values)"
        )


def _nearest(values: Sequence[float], x: float) -> float:
    arr = np.asarray(values, dtype=float)
    return values[int(np.argmin(np.abs(arr - x)))]


def _index_unit(values: Sequence[float], x: float) -> float:
    if len(values) == 1:
        return 0.5
    return list(values).index(x) / (len(values) - 1)


def _from_index_unit(values: Sequence[float], u: float) -> float:
    return values[round(float(u) * (len(values) - 1))]


@dataclass(frozen=True)
class Pricing:
    """Prices for serverless execution: per vCPU-second, per GB-second (1 GB = 1024 MB), per request.

    Defaults are Google Cloud Run's request-based billing, Tier 1 regions (cloud.google.com/run/pricing,
    as published 2024-2026): $0.000024 per vCPU-second, $0.0000025 per GiB-second, $0.40 per million
    requests. :meth:`aws_lambda` gives AWS Lambda x86 prices (aws.amazon.com/lambda/pricing, us-east-1):
    $0.0000166667 per GB-second with CPU included in the memory price, $0.20 per million requests.
    """

    usd_per_vcpu_s: float = 0.000024
    usd_per_gb_s: float = 0.0000025
    usd_per_request: float = 0.40 / 1_000_000
    name: str = "cloud-run"

    def __post_init__(self) -> None:
        for key in ("usd_per_vcpu_s", "usd_per_gb_s", "usd_per_request"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"price must be a non-negative number, got {brief(value)}", field=key)

    @classmethod
    def aws_lambda(cls) -> Pricing:
        return cls(usd_per_vcpu_s=0.0, usd_per_gb_s=0.0000166667, usd_per_request=0.20 / 1_000_000, name="aws-lambda")

    @classmethod
    def cloud_run(cls) -> Pricing:
        return cls()

    @classmethod
    def named(cls, name: str) -> Pricing:
        presets = {"cloud-run": cls.cloud_run, "aws-lambda": cls.aws_lambda}
        if name not in presets:
            raise InputError(f"unknown pricing {brief(name)}; choose one of {sorted(presets)}", field="pricing")
        return presets[name]()

    def usd_per_second(self, config: ResourceConfig) -> float:
        """What one container of ``config`` costs per second of its life."""
        return config.cpu * self.usd_per_vcpu_s + config.memory_gb * self.usd_per_gb_s

    def usd_per_second_columns(self, cpu: np.ndarray, memory_gb: np.ndarray) -> np.ndarray:
        """:meth:`usd_per_second` of many containers at once, from their vCPU and GB columns."""
        return (
            np.asarray(cpu, dtype=float) * self.usd_per_vcpu_s + np.asarray(memory_gb, dtype=float) * self.usd_per_gb_s
        )

    def container_cost_usd(self, config: ResourceConfig, seconds: float) -> float:
        """Cost of keeping one container of ``config`` alive (starting, busy or idle) for ``seconds``."""
        return self.usd_per_second(config) * seconds

    def requests_cost_usd(self, n_requests: int) -> float:
        """Per-request fees for ``n_requests`` function invocations."""
        return self.usd_per_request * n_requests
