"""What one run of ``aquatope run`` is (:class:`RunSpec`: system, trace segment, speed-up, where it is sized, how lag
is judged), the systems and budgets it may use, and what it returns (:class:`RayRunResult`, or
:class:`RunInterrupted` on Ctrl-C). The run itself is :mod:`aquatope.experiments.ray_run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.experiments.systems import NAMED, Budgets, SystemSpec, system_spec
from aquatope.metrics import RunMetrics
from aquatope.traces import InvocationTrace
from aquatope.workflow import Workflow

RUN_SYSTEMS = tuple(s for s, spec in NAMED.items() if not spec.reference)
"""Named systems ``aquatope run`` supports (also ``POOL+SIZER``); references need the future or the perf models'
truth, which a real run does not have."""
RUN_BUDGETS = Budgets(
    tuning_budget=12,
    samples_per_config=10,
    forecaster_params={"n_windows": 1500, "epochs": 3, "mc_passes": 16},
)
"""Smaller than ``aquatope evaluate``'s, so that a run starts within minutes on a laptop."""
DEFAULT_MAX_LAG_S = 60.0
"""A replay that has a request in flight for longer than this (wall seconds; at least 10 times the workflow's QoS
target) cannot keep up: 60 s is OpenWhisk's default action time limit, the longest a request should wait anyway."""


@dataclass(frozen=True)
class RayRunResult:
    """Figures of a run (the simulator's), how long it took, its lag, how limits were enforced, and its setup."""

    metrics: RunMetrics
    wall_s: float
    tuning_cost_usd: float
    enforcement: dict[str, list[str]]
    errors: dict[str, int]
    lag: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    setup: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics.to_dict()
        out.update(wall_s=self.wall_s, tuning_cost_usd=self.tuning_cost_usd, enforcement=self.enforcement)
        out.update(errors=self.errors, lag=self.lag, estimate=self.estimate, setup=self.setup)
        out["interrupted"] = self.interrupted
        return out


class RunInterrupted(Exception):
    """Ctrl-C during a run: ``message`` accounts for every request; ``result`` has the figures so far (or None)."""

    def __init__(self, message: str, result: RayRunResult | None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


def split_trace(
    trace: InvocationTrace, row: int, minutes: int | None, start_minute: int | None, scale: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training counts, replay counts) of one trace row: ``minutes`` from ``start_minute`` (default: the last)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise InputError(f"must be a finite number > 0, got {scale}", field="--scale")
    counts = trace.select([row]).scale(scale, seed=seed).counts[0] if scale != 1.0 else trace.counts[row]
    n = counts.size if minutes is None else minutes
    if not 1 <= n <= counts.size:
        raise InputError(f"must be between 1 and the trace's {counts.size} minutes, got {n}", field="--minutes")
    start = counts.size - n if start_minute is None else start_minute
    if not 0 <= start <= counts.size - n:
        raise InputError(
            f"must be between 0 and {counts.size - n} for {n} minutes of a {counts.size}-minute trace, got {start}",
            field="--start-minute",
        )
    replay = counts[start : start + n]
    if replay.sum() == 0:
        raise InputError(f"the trace function has no invocations in minutes {start}-{start + n}", field="--trace")
    return counts[:start].astype(float), replay.astype(np.int64)


def max_lag_for(workflow: Workflow) -> float:
    """The default lag limit of a replay of ``workflow`` (:data:`DEFAULT_MAX_LAG_S`)."""
    return max(DEFAULT_MAX_LAG_S, 10.0 * workflow.qos.latency_ms / 1000.0)


@dataclass(frozen=True)
class RunSpec:
    """One run: which system, which segment of which trace row, at which speed-up, sized where, judged how."""

    system: str = "openwhisk"
    minutes: int | None = None
    start_minute: int | None = None
    speedup: float = 1.0
    function: str | None = None
    scale: float = 1.0
    seed: int = 0
    tune_on: str = "ray"
    on_lag: str = "stop"
    max_lag_s: float | None = None
    lead_s: float | None = None
    warmup_intervals: int = 1
    pricing: str = "cloud-run"

    def __post_init__(self) -> None:
        run_system_spec(self.system)
        if not (self.speedup > 0 and math.isfinite(self.speedup)):
            raise InputError(f"must be a finite number > 0, got {self.speedup}", field="--speedup")
        if self.tune_on not in ("sim", "ray"):
            raise InputError(f"must be sim or ray, got {self.tune_on!r}", field="--tune-on")
        if self.on_lag not in ("stop", "warn"):
            raise InputError(f"must be stop or warn, got {self.on_lag!r}", field="--on-lag")
        if self.max_lag_s is not None and not self.max_lag_s > 0:
            raise InputError(f"must be > 0 seconds, got {self.max_lag_s}", field="--max-lag")
        if self.warmup_intervals < 0:
            raise InputError(f"must be >= 0, got {self.warmup_intervals}", field="warmup_intervals")


def run_system_spec(name: str) -> SystemSpec:
    """A system ``aquatope run`` can run: named (not a reference) or ``POOL+SIZER``."""
    if name not in NAMED and "+" not in name:
        raise InputError(
            f"unknown system {name!r}; use one of {', '.join(RUN_SYSTEMS)} or POOL+SIZER", field="--system"
        )
    spec = system_spec(name)
    if spec.reference:
        raise InputError(f"{name!r} is a reference that needs the future or the perf models' truth", field="--system")
    if spec.live:
        raise InputError(f"{name!r}: +live (live requests as evidence) is an evaluate option, not one of aquatope run's",
                         field="--system")  # fmt: skip
    return spec
