"""Simulator parameters: the cluster, data transfer between stages, interference and prices.

A :class:`SimConfig` is frozen and validated; ``--config PATH.json`` on the CLI reads one with
:func:`load_sim_config` (unknown or bad fields are refused with the file and field named).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from aquatope.errors import InputError
from aquatope.resources import Pricing


@dataclass(frozen=True)
class SimConfig:
    """Parameters of a simulated FaaS cluster.

    * ``invokers`` x (``invoker_cpu`` vCPU, ``invoker_memory_mb``): the machines containers are placed on
      (first fit). The default, 96 machines of 64 vCPU / 256 GB, is large enough that a one-day replay of the
      bundled 250-function trace (peak demand about 3,700 vCPU and 6.4 TB) never fills it; shrink it to study
      contention.
    * ``transfer_ms``: data-transfer delay on every DAG edge (a stage starts this long after its inputs are done).
    * ``interference``: latency multiplier slope; an invocation that starts when its invoker's busy CPU share is
      ``u`` (0..1, itself included) runs ``1 + interference * u`` times slower. 0 disables interference.
    * ``arrival_mode``: how per-minute trace counts become timestamps: ``uniform`` (evenly spaced inside the
      minute) or ``poisson`` (uniformly random inside the minute).
    * ``pricing``: ``cloud-run`` or ``aws-lambda`` (see :class:`aquatope.resources.Pricing`).
    """

    invokers: int = 96
    invoker_cpu: float = 64.0
    invoker_memory_mb: int = 262144
    transfer_ms: float = 0.0
    interference: float = 0.0
    arrival_mode: str = "poisson"
    pricing: str = "cloud-run"

    def __post_init__(self) -> None:
        if isinstance(self.invokers, bool) or not isinstance(self.invokers, int) or self.invokers < 1:
            raise InputError(f"must be a positive integer, got {self.invokers!r}", field="invokers")
        for name in ("invoker_cpu", "invoker_memory_mb"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (value > 0 and math.isfinite(value))
            ):
                raise InputError(f"must be a finite positive number, got {value!r}", field=name)
        for name in ("transfer_ms", "interference"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (value >= 0 and math.isfinite(value))
            ):
                raise InputError(f"must be a non-negative number, got {value!r}", field=name)
        if self.arrival_mode not in ("uniform", "poisson"):
            raise InputError(f"must be 'uniform' or 'poisson', got {self.arrival_mode!r}", field="arrival_mode")
        Pricing.named(self.pricing)

    @property
    def prices(self) -> Pricing:
        return Pricing.named(self.pricing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sim_config_from_dict(data: Any, source: str | None = None) -> SimConfig:
    """Build a :class:`SimConfig` from a mapping, naming the file and field on error."""
    if not isinstance(data, dict):
        raise InputError("expected a JSON object of simulator parameters", source=source)
    known = {f.name for f in fields(SimConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"unknown parameter; known: {sorted(known)}", source=source, field=unknown[0])
    try:
        return SimConfig(**data)
    except InputError as exc:
        raise InputError(exc.message, source=source, field=exc.field) from None


def load_sim_config(spec: str | Path | None) -> SimConfig:
    """``None`` or ``"default"`` gives the defaults; otherwise read a JSON file."""
    if spec is None or str(spec) == "default":
        return SimConfig()
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read simulator config: {exc.strerror or exc}", source=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg}", source=path, line=exc.lineno) from None
    return sim_config_from_dict(data, source=str(path))
