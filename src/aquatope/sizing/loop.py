"""The measuring loop around any ask/tell sizer: suggest, measure one at a time, observe, until done or out of budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aquatope.sizing.base import Measurement, Sizer, config_to_dict
from aquatope.sizing.measure import Measurer

ProgressFn = Callable[[int, Measurement], None]


@dataclass(frozen=True)
class SizingResult:
    """Every measurement in order and the cheapest one measured feasible (None: nothing feasible was found)."""

    method: str
    history: tuple[Measurement, ...]
    best: Measurement | None

    @property
    def evaluations(self) -> int:
        return len(self.history)

    def best_cost_curve(self) -> list[float | None]:
        """Best feasible cost per request after each evaluation (None before the first feasible one)."""
        out: list[float | None] = []
        best: float | None = None
        for m in self.history:
            if m.feasible and (best is None or m.cost_per_request_usd < best):
                best = m.cost_per_request_usd
            out.append(best)
        return out

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "method": self.method,
            "evaluations": self.evaluations,
            "best": None
            if best is None
            else {
                "config": config_to_dict(best.config),
                "latency_pctl_ms": best.latency_pctl_ms,
                "qos_ms": best.qos_ms,
                "feasible": best.feasible,
                "cost_per_request_usd": best.cost_per_request_usd,
            },
            "feasible_found": best is not None,
            "history": [m.to_dict() for m in self.history],
        }


def run_sizer(sizer: Sizer, measurer: Measurer, budget: int, progress: ProgressFn | None = None) -> SizingResult:
    """Ask ``sizer`` for configurations and measure them one after another until it stops or ``budget`` is spent."""
    history: list[Measurement] = []
    while len(history) < budget:
        suggestions = sizer.suggest()
        if not suggestions:
            break
        for config in suggestions[: budget - len(history)]:
            m = measurer.measure(config)
            sizer.observe(config, m)
            history.append(m)
            if progress:
                progress(len(history), m)
    return SizingResult(getattr(sizer, "name", type(sizer).__name__), tuple(history), sizer.best())
