"""Simulator parameters: the cluster and every source of uncertainty the simulator models, and prices.

A :class:`SimConfig` is frozen and validated (every value bounded, so that no file can ask for an absurd cluster);
``--cluster PATH.json`` on the CLI reads one with :func:`load_sim_config` (unknown or bad fields are refused with
the file and field named). Named scenarios (:mod:`aquatope.scenarios`) produce SimConfigs; the defaults are the
``calm`` world: a large idle cluster, no interference, no storms, no transfers, no drift, no bad measurements.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from aquatope.errors import InputError
from aquatope.jsonio import read_json
from aquatope.resources import Pricing
from aquatope.sim.cluster import PLACEMENTS

MAX_INVOKERS = 100_000
"""Bound on the cluster size (each invoker costs a few hundred bytes of state; 1e9 would exhaust memory)."""


@dataclass(frozen=True)
class Slowdown:
    """A scheduled step change: from ``at_s`` on, ``function`` runs ``factor`` times slower (a new release, an
    input-size change); ``factor`` < 1 is a speed-up."""

    at_s: float
    function: str
    factor: float

    def __post_init__(self) -> None:
        if not (_is_number(self.at_s) and self.at_s >= 0):
            raise InputError(f"must be a time >= 0 s, got {self.at_s!r}", field="slowdowns.at_s")
        if not isinstance(self.function, str) or not self.function:
            raise InputError(f"must be a function name, got {self.function!r}", field="slowdowns.function")
        if not (_is_number(self.factor) and 0.05 <= self.factor <= 20):
            raise InputError(f"must be in [0.05, 20], got {self.factor!r}", field="slowdowns.factor")


@dataclass(frozen=True)
class SimConfig:
    """Parameters of a simulated FaaS cluster. Times in seconds or ms as named; every field is bounded.

    **Cluster.** ``invokers`` machines of ``invoker_cpu`` vCPU and ``invoker_memory_mb``. Memory is reserved
    strictly, CPU up to ``cpu_overcommit`` times the machine's cores (1: CPU reserved like memory; OpenWhisk-style
    platforms place by memory and share CPU, i.e. overcommit it). ``placement``: ``first-fit`` (the lowest-numbered
    invoker with room: packing) or ``spread`` (the one with the most unreserved CPU), see
    :class:`~aquatope.sim.cluster.Cluster`.

    **Interference** (:mod:`aquatope.sim.contention`): while an invocation computes, it progresses at
    ``1 / ((1 + a * min(u, 1)) * max(1, u))`` of its nominal speed, ``u`` being its invoker's CPU demand (vCPU of
    invocations computing there, plus noisy neighbours) over its cores; ``a`` is ``interference`` for CPU-bound
    functions and ``interference_memory`` for memory-bound ones. I/O time is not slowed. With both 0,
    ``cpu_overcommit`` 1 and no noisy neighbours, invocations take exactly their sampled time.

    **Cold-start storms.** Start-up (runtime and library initialisation) computes: ``cold_start_storm`` is the vCPU
    one starting container uses, and starts share the invoker's cores. A container that starts while ``n`` others
    are starting on its invoker takes ``max(1, (n + 1) * cold_start_storm / invoker_cpu)`` times its sampled cold
    start (0: no storms). Fitted on a 2-core machine with 1-8 simultaneous Ray actor starts: 1.07 vCPU
    (``bench/calibrate_cold_starts.py``; README, Calibration).

    **Transfers.** Every DAG edge delays the next stage by ``transfer_ms`` (passing control: one hop through the
    platform). A payload (the producing function's ``output_mb``) up to ``transfer_inline_mb`` travels inline with
    it; a larger one goes through object storage: ``transfer_storage_ms`` more (a PUT and a GET) plus the payload over
    ``transfer_mb_per_s`` (0: size costs nothing).

    **Drift.** ``slowdowns``: scheduled step changes of one function's execution time; ``diurnal_amplitude``:
    every execution time is multiplied by ``1 + A cos(2 pi (t - diurnal_peak_s) / diurnal_period_s)``.

    **Bad luck.** Noisy neighbours: on every invoker, episodes start at ``neighbour_rate_per_h`` per hour
    (Poisson) and last ``neighbour_duration_s`` on average (exponential), taking ``neighbour_cpu_share`` of the
    invoker's cores while they last, so that everything computing there slows down (runs of bad measurements, not
    one coin per measurement). Heavy tails: with probability ``heavy_tail_prob`` an invocation takes a Pareto
    (shape ``heavy_tail_alpha``, scale 1) multiple of its sampled time.

    ``arrival_mode``: per-minute trace counts become timestamps evenly spaced (``uniform``) or uniformly random
    (``poisson``) inside the minute. ``pricing``: ``cloud-run`` or ``aws-lambda``.
    """

    invokers: int = 96
    invoker_cpu: float = 64.0
    invoker_memory_mb: int = 262144
    cpu_overcommit: float = 1.0
    transfer_ms: float = 0.0
    transfer_inline_mb: float = 0.25
    transfer_storage_ms: float = 0.0
    transfer_mb_per_s: float = 0.0
    interference: float = 0.0
    interference_memory: float = 0.0
    cold_start_storm: float = 0.0
    slowdowns: tuple[Slowdown, ...] = ()
    diurnal_amplitude: float = 0.0
    diurnal_period_s: float = 86400.0
    diurnal_peak_s: float = 0.0
    neighbour_rate_per_h: float = 0.0
    neighbour_duration_s: float = 300.0
    neighbour_cpu_share: float = 0.5
    heavy_tail_prob: float = 0.0
    heavy_tail_alpha: float = 2.0
    arrival_mode: str = "poisson"
    placement: str = "first-fit"
    pricing: str = "cloud-run"

    def __post_init__(self) -> None:
        if isinstance(self.invokers, bool) or not isinstance(self.invokers, int) or self.invokers < 1:
            raise InputError(f"must be a positive integer, got {self.invokers!r}", field="invokers")
        if self.invokers > MAX_INVOKERS:
            raise InputError(f"must be at most {MAX_INVOKERS:,}, got {self.invokers:,}", field="invokers")
        for name, lo, hi, open_lo in _BOUNDS:
            value = getattr(self, name)
            ok = _is_number(value) and (value > lo if open_lo else value >= lo) and value <= hi
            if not ok:
                bracket = "(" if open_lo else "["
                raise InputError(f"must be a number in {bracket}{lo:g}, {hi:g}], got {value!r}", field=name)
        if self.arrival_mode not in ("uniform", "poisson"):
            raise InputError(f"must be 'uniform' or 'poisson', got {self.arrival_mode!r}", field="arrival_mode")
        if self.placement not in PLACEMENTS:
            raise InputError(f"must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}", field="placement")
        if not isinstance(self.slowdowns, tuple) or not all(isinstance(s, Slowdown) for s in self.slowdowns):
            raise InputError("must be a list of {at_s, function, factor}", field="slowdowns")
        Pricing.named(self.pricing)

    @property
    def prices(self) -> Pricing:
        return Pricing.named(self.pricing)

    @property
    def contention(self) -> bool:
        """True when invocations' speed depends on their invoker's load (the dynamic interference model)."""
        return (
            self.interference > 0
            or self.interference_memory > 0
            or self.cpu_overcommit > 1
            or (self.neighbour_rate_per_h > 0 and self.neighbour_cpu_share > 0)
        )

    @property
    def drift(self) -> bool:
        return bool(self.slowdowns) or self.diurnal_amplitude > 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["slowdowns"] = [asdict(s) for s in self.slowdowns]
        return out


_BOUNDS: tuple[tuple[str, float, float, bool], ...] = (
    # name, lower bound, upper bound, lower bound excluded
    ("invoker_cpu", 0.0, 1024.0, True),
    ("invoker_memory_mb", 0.0, 16 * 1024 * 1024, True),
    ("cpu_overcommit", 1.0, 64.0, False),
    ("transfer_ms", 0.0, 60_000.0, False),
    ("transfer_inline_mb", 0.0, 1e6, False),
    ("transfer_storage_ms", 0.0, 60_000.0, False),
    ("transfer_mb_per_s", 0.0, 1e6, False),
    ("interference", 0.0, 10.0, False),
    ("interference_memory", 0.0, 10.0, False),
    ("cold_start_storm", 0.0, 64.0, False),
    ("diurnal_amplitude", 0.0, 0.9, False),
    ("diurnal_period_s", 0.0, 1e7, True),
    ("diurnal_peak_s", 0.0, 1e7, False),
    ("neighbour_rate_per_h", 0.0, 3600.0, False),
    ("neighbour_duration_s", 0.0, 1e6, True),
    ("neighbour_cpu_share", 0.0, 16.0, False),
    ("heavy_tail_prob", 0.0, 0.5, False),
    ("heavy_tail_alpha", 1.05, 100.0, False),
)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def sim_config_from_dict(data: Any, source: str | None = None) -> SimConfig:
    """Build a :class:`SimConfig` from a mapping, naming the file and field on error."""
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of simulator parameters", source=source)
    known = {f.name for f in fields(SimConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown parameter; known: {sorted(known)}", source=source, field=unknown[0])
    data = dict(data)
    try:
        steps = data.get("slowdowns", [])
        if not isinstance(steps, list | tuple) or not all(isinstance(s, dict) for s in steps):
            raise InputError("must be a list of {at_s, function, factor}", field="slowdowns")
        for s in steps:
            if set(s) != {"at_s", "function", "factor"}:
                raise InputError("each step needs exactly at_s, function and factor", field="slowdowns")
        data["slowdowns"] = tuple(Slowdown(**s) for s in steps)
        return SimConfig(**data)
    except InputError as exc:
        raise InputError(exc.message, source=source, field=exc.field) from None


def load_sim_config(spec: str | Path | None) -> SimConfig:
    """``None`` or ``"default"`` gives the defaults; otherwise read a JSON file."""
    if spec is None or str(spec) == "default":
        return SimConfig()
    path = Path(spec)
    return sim_config_from_dict(read_json(path, what="simulator config"), source=str(path))
