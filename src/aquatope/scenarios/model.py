"""A scenario: the world a run happens in, as a validated, documented set of the simulator's sources of uncertainty.

A scenario is workflow-agnostic (it says "a step slowdown of the heaviest function at mid-replay", not "at 3600 s
on object-detection"); :meth:`Scenario.sim_config` turns it into a concrete :class:`~aquatope.sim.SimConfig` for one
run, given the cluster size, the replay window and the workflow. Fields (every one optional in a file; absent means
the ``calm`` value)::

    name, description
    extends: shared                  # start from another scenario and override what follows
    cluster:    {invokers: auto|N, invoker_cpu, invoker_memory_mb, cpu_overcommit, peak_utilisation, placement}
    tenants:    {functions: all|N, scale, keep_alive_s}      # other trace functions on the same invokers
    interference: {cpu, memory}      # contention slopes (CPU-bound, memory-bandwidth-bound)
    cold_start_storm: b              # cold start x (1 + b x containers already starting on the invoker)
    transfer:   {latency_ms, inline_mb, storage_ms, mb_per_s}
    drift:      {steps: [{at, function, factor}], diurnal: {amplitude, period_h, peak_h}}
    noise:      {neighbours: {rate_per_h, duration_s, cpu_share}, heavy_tail: {prob, alpha}}
    measurement: {where: staging|production}
    arrival_mode: poisson|uniform
    pricing: cloud-run|aws-lambda

``at`` is a fraction of the replay window; ``function`` a function name or ``heaviest`` (the function with the most
busy vCPU-seconds per request at the workflow's defaults); ``peak_h`` an hour of the trace's clock.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from aquatope.errors import InputError
from aquatope.sim.cluster import PLACEMENTS
from aquatope.sim.config import SimConfig, Slowdown

MEASUREMENT_PLACES = ("staging", "production")


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"must be a number, got {value!r}", field=name)
    if not lo <= value <= hi:
        raise InputError(f"must be in [{lo:g}, {hi:g}], got {value!r}", field=name)
    return float(value)


@dataclass(frozen=True)
class ClusterSpec:
    """Invokers: a fixed count, or ``None`` (auto) for the smallest cluster whose mean CPU utilisation at the
    sizing data's busiest minute is ``peak_utilisation``."""

    invokers: int | None = 96
    invoker_cpu: float = 64.0
    invoker_memory_mb: int = 262144
    cpu_overcommit: float = 1.0
    peak_utilisation: float = 0.6
    placement: str = "first-fit"

    def __post_init__(self) -> None:
        if self.invokers is not None and (
            isinstance(self.invokers, bool) or not isinstance(self.invokers, int) or self.invokers < 1
        ):
            raise InputError(f"must be 'auto' or a positive integer, got {self.invokers!r}", field="cluster.invokers")
        _number(self.peak_utilisation, "cluster.peak_utilisation", 0.01, 2.0)
        if self.placement not in PLACEMENTS:
            raise InputError(
                f"must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}", field="cluster.placement"
            )


@dataclass(frozen=True)
class TenantSpec:
    """Other tenants: ``functions`` of the trace besides the studied ones (``None``: all; 0: none), their counts
    times ``scale``, containers kept warm ``keep_alive_s`` after use (OpenWhisk's default, 600 s)."""

    functions: int | None = 0
    scale: float = 1.0
    keep_alive_s: float = 600.0

    def __post_init__(self) -> None:
        if self.functions is not None and (
            isinstance(self.functions, bool) or not isinstance(self.functions, int) or self.functions < 0
        ):
            raise InputError(f"must be 'all' or an integer >= 0, got {self.functions!r}", field="tenants.functions")
        _number(self.scale, "tenants.scale", 0.0, 100.0)
        _number(self.keep_alive_s, "tenants.keep_alive_s", 0.0, 86400.0)

    @property
    def enabled(self) -> bool:
        return self.functions is None or self.functions > 0


@dataclass(frozen=True)
class StepSpec:
    """A step change of one function's execution time at a fraction ``at`` of the replay window."""

    at: float
    function: str
    factor: float

    def __post_init__(self) -> None:
        _number(self.at, "drift.steps.at", 0.0, 1.0)
        _number(self.factor, "drift.steps.factor", 0.05, 20.0)
        if not isinstance(self.function, str) or not self.function:
            raise InputError("must be a function name or 'heaviest'", field="drift.steps.function")


@dataclass(frozen=True)
class Scenario:
    """A named world; see the module docstring. ``source`` is where it was read from."""

    name: str
    description: str = ""
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    tenants: TenantSpec = field(default_factory=TenantSpec)
    interference_cpu: float = 0.0
    interference_memory: float = 0.0
    cold_start_storm: float = 0.0
    transfer_latency_ms: float = 0.0
    transfer_inline_mb: float = 0.25
    transfer_storage_ms: float = 0.0
    transfer_mb_per_s: float = 0.0
    steps: tuple[StepSpec, ...] = ()
    diurnal_amplitude: float = 0.0
    diurnal_period_h: float = 24.0
    diurnal_peak_h: float = 14.0
    neighbour_rate_per_h: float = 0.0
    neighbour_duration_s: float = 300.0
    neighbour_cpu_share: float = 0.5
    heavy_tail_prob: float = 0.0
    heavy_tail_alpha: float = 2.0
    measurement: str = "staging"
    arrival_mode: str = "poisson"
    pricing: str = "cloud-run"
    source: str | None = None

    def __post_init__(self) -> None:
        if self.measurement not in MEASUREMENT_PLACES:
            raise InputError(
                f"must be one of {', '.join(MEASUREMENT_PLACES)}, got {self.measurement!r}", field="measurement.where"
            )
        # every simulator-level value is validated by SimConfig itself, with its bounds
        self.sim_config(invokers=1 if self.cluster.invokers is None else self.cluster.invokers)

    @property
    def production(self) -> bool:
        """Measurements are shadow requests on the live platform (else on an isolated staging copy)."""
        return self.measurement == "production"

    def sim_config(
        self,
        invokers: int | None = None,
        replay_start_s: float = 0.0,
        replay_s: float = 0.0,
        step_functions: tuple[str, ...] = (),
        trace_start_h: float = 0.0,
    ) -> SimConfig:
        """The concrete simulator parameters of one run.

        ``invokers`` replaces ``auto``; the replay window ``[replay_start_s, replay_start_s + replay_s)`` places the
        drift steps, whose functions are ``step_functions`` (one per step, already resolved: see
        :func:`aquatope.scenarios.world.resolve_step_functions`); ``trace_start_h`` is the trace-clock hour at sim
        time 0, which places the diurnal peak.
        """
        n = invokers if invokers is not None else self.cluster.invokers
        if n is None:
            raise InputError("the cluster size is 'auto': give the number of invokers", field="cluster.invokers")
        if len(step_functions) != len(self.steps):
            step_functions = tuple(s.function for s in self.steps)
        slowdowns = tuple(
            Slowdown(replay_start_s + s.at * replay_s, fn, s.factor)
            for s, fn in zip(self.steps, step_functions, strict=True)
        )
        period_s = self.diurnal_period_h * 3600.0
        peak_s = ((self.diurnal_peak_h - trace_start_h) * 3600.0) % period_s if period_s > 0 else 0.0
        return SimConfig(
            invokers=n,
            invoker_cpu=self.cluster.invoker_cpu,
            invoker_memory_mb=self.cluster.invoker_memory_mb,
            cpu_overcommit=self.cluster.cpu_overcommit,
            placement=self.cluster.placement,
            transfer_ms=self.transfer_latency_ms,
            transfer_inline_mb=self.transfer_inline_mb,
            transfer_storage_ms=self.transfer_storage_ms,
            transfer_mb_per_s=self.transfer_mb_per_s,
            interference=self.interference_cpu,
            interference_memory=self.interference_memory,
            cold_start_storm=self.cold_start_storm,
            slowdowns=slowdowns,
            diurnal_amplitude=self.diurnal_amplitude,
            diurnal_period_s=period_s,
            diurnal_peak_s=peak_s,
            neighbour_rate_per_h=self.neighbour_rate_per_h,
            neighbour_duration_s=self.neighbour_duration_s,
            neighbour_cpu_share=self.neighbour_cpu_share,
            heavy_tail_prob=self.heavy_tail_prob,
            heavy_tail_alpha=self.heavy_tail_alpha,
            arrival_mode=self.arrival_mode,
            pricing=self.pricing,
        )

    def staging(self) -> Scenario:
        """The isolated staging copy of this world: no tenants (so nothing of theirs competes for the invokers), but
        the same machines, interference physics, storms, transfers, drift, noisy neighbours and tails."""
        return dataclasses.replace(self, tenants=TenantSpec(functions=0), measurement="staging")

    def to_dict(self) -> dict[str, Any]:
        """The scenario in full, in the file's nested shape (what results carry)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "cluster": {
                "invokers": "auto" if self.cluster.invokers is None else self.cluster.invokers,
                "invoker_cpu": self.cluster.invoker_cpu,
                "invoker_memory_mb": self.cluster.invoker_memory_mb,
                "cpu_overcommit": self.cluster.cpu_overcommit,
                "peak_utilisation": self.cluster.peak_utilisation,
                "placement": self.cluster.placement,
            },
            "tenants": {
                "functions": "all" if self.tenants.functions is None else self.tenants.functions,
                "scale": self.tenants.scale,
                "keep_alive_s": self.tenants.keep_alive_s,
            },
            "interference": {"cpu": self.interference_cpu, "memory": self.interference_memory},
            "cold_start_storm": self.cold_start_storm,
            "transfer": {
                "latency_ms": self.transfer_latency_ms,
                "inline_mb": self.transfer_inline_mb,
                "storage_ms": self.transfer_storage_ms,
                "mb_per_s": self.transfer_mb_per_s,
            },
            "drift": {
                "steps": [dataclasses.asdict(s) for s in self.steps],
                "diurnal": {
                    "amplitude": self.diurnal_amplitude,
                    "period_h": self.diurnal_period_h,
                    "peak_h": self.diurnal_peak_h,
                },
            },
            "noise": {
                "neighbours": {
                    "rate_per_h": self.neighbour_rate_per_h,
                    "duration_s": self.neighbour_duration_s,
                    "cpu_share": self.neighbour_cpu_share,
                },
                "heavy_tail": {"prob": self.heavy_tail_prob, "alpha": self.heavy_tail_alpha},
            },
            "measurement": {"where": self.measurement},
            "arrival_mode": self.arrival_mode,
            "pricing": self.pricing,
        }
