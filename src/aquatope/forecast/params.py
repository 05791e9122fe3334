"""Hyper-parameters of ``bayes-lstm`` (:class:`BayesParams`) and the ranges they must lie in (:data:`LIMITS`).

The ranges are checked on construction, so a model file's header cannot ask for absurd work (a huge window,
thread count or number of Monte Carlo passes): it is refused with the field's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from aquatope.errors import InputError
from aquatope.forecast.features import SPACES
from aquatope.forecast.metrics import RATE_CLASSES

if TYPE_CHECKING:
    from aquatope.forecast.lstm import NetConfig

LIMITS: dict[str, tuple[float, float]] = {  # inclusive ranges; they also bound the work a model file can ask for
    "window": (2, 10_080),
    "hidden": (1, 1024),
    "width": (1, 4096),
    "k_out": (1, 1440),
    "epochs": (0, 10_000),
    "min_steps": (0, 1_000_000),
    "n_windows": (1, 10_000_000),
    "batch_size": (1, 1_000_000),
    "mc_passes": (2, 1000),
    "n_nets": (1, 32),
    "own_scale_min_active": (1, 10_000_000),
    "n_threads": (1, 256),
}


@dataclass(frozen=True)
class BayesParams:
    """Hyper-parameters of :class:`BayesLSTMForecaster` (``interval_s`` in seconds); see :data:`LIMITS`."""

    window: int = 48
    hidden: int = 32
    width: int = 64
    k_out: int = 4
    dropout: float = 0.1
    lr: float = 1e-2
    batch_size: int = 256
    epochs: int = 10
    min_steps: int = 800  # Adam steps per training stage at least (small training sets are passed over more)
    n_windows: int = 40_000
    mc_passes: int = 30
    n_nets: int = 1  # networks of a deep ensemble (different seeds), each with MC dropout
    space: str = "log"  # working space of the targets: "log" (log1p counts) or "linear" (counts / scale)
    quantile_head: bool = False  # the networks also predict their 5% and 95% quantiles (pinball loss)
    balance_classes: bool = False  # draw training windows equally from each rate class
    calibration: str = "pit"  # std factors bring the validation's 90% "pit" (or "plain") coverage to 0.90
    val_fraction: float = 0.2
    coverage_tolerance: float = 0.03
    global_model: bool = True
    phase_expert: bool = True  # offer the phase expert to functions with a detected short period
    own_scale_min_active: int = 60  # validation intervals with invocations for a function's own std scale
    rate_bounds: tuple[float, ...] = (1.0, 100.0)
    interval_s: float = 60.0
    seed: int = 0
    n_threads: int = 1  # torch intra-op threads while training and predicting (restored afterwards)

    def __post_init__(self) -> None:
        kinds = {"bool": (bool,), "float": (int, float), "str": (str,), "tuple[float, ...]": (tuple, list)}
        for f in fields(self):
            value, kind = getattr(self, f.name), kinds.get(str(f.type))
            bad_bool = isinstance(value, bool) and f.type != "bool"
            if kind is not None and (bad_bool or not isinstance(value, kind)):
                raise InputError(f"must be of type {f.type}, got {value!r}", field=f.name)
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InputError(f"must be an integer in [{lo:g}, {hi:g}], got {value!r}", field=name)
        checks = {
            "dropout": 0.0 < self.dropout < 1.0,
            "lr": 0.0 < self.lr <= 1.0,
            "val_fraction": 0.0 < self.val_fraction < 1.0,
            "coverage_tolerance": 0.0 <= self.coverage_tolerance < 0.45,
            "interval_s": 0.0 < self.interval_s <= 86_400.0,
            "space": self.space in SPACES,
            "calibration": self.calibration in ("pit", "plain"),
            "rate_bounds": len(self.rate_bounds) == len(RATE_CLASSES) - 1
            and all(isinstance(b, int | float) and not isinstance(b, bool) for b in self.rate_bounds)
            and all(0 < a < b < math.inf for a, b in zip(self.rate_bounds, self.rate_bounds[1:], strict=False)),
            "seed": isinstance(self.seed, int) and 0 <= self.seed < 2**63,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"invalid value {getattr(self, name)!r}", field=name)

    def net_config(self) -> NetConfig:
        from aquatope.forecast.lstm import NetConfig

        return NetConfig(
            hidden=self.hidden,
            width=self.width,
            k_out=self.k_out,
            dropout=self.dropout,
            lr=self.lr,
            batch_size=self.batch_size,
            epochs=self.epochs,
            min_steps=self.min_steps,
            quantile_head=self.quantile_head,
        )
