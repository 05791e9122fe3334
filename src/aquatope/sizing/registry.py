"""Sizers by name: the one factory the CLI, the experiments and the Ray runtime use."""

from __future__ import annotations

from aquatope.errors import InputError
from aquatope.sizing.base import Sizer, SizingProblem
from aquatope.sizing.design import STARTS

MEASURED_METHODS = (
    "aquatope-bo",
    "aquatope-design",
    "cherrypick",
    "powertune-qos",
    "model-based",
    "random",
    "grid",
)
"""Ask/tell sizers that measure; ``aquatope-bo:<variant>`` names a BO variant (see :mod:`aquatope.sizing.bo`)."""
METHODS = (*MEASURED_METHODS, "exhaustive")
"""What ``aquatope tune --method`` accepts: the measured sizers and the exhaustive oracle (perf models)."""


def make_sizer(method: str, problem: SizingProblem, seed: int = 0, start: str = "design") -> Sizer:
    """An ask/tell sizer by name, starting from the shared design or (``start="random"``) from random points.

    ``exhaustive`` is not one (it is the oracle, :mod:`aquatope.sizing.exhaustive`); neither is ``defaults``.
    ``grid`` (Power Tuning's QoS-agnostic grid) has its own plan and ignores ``start``.
    """
    if start not in STARTS:
        raise InputError(f"unknown start {start!r}; choose one of {', '.join(STARTS)}", field="--start")
    name, _, variant = method.partition(":")
    if name == "aquatope-bo":
        from aquatope.sizing.bo import DEFAULT_VARIANT, AquatopeBO

        try:
            return AquatopeBO(problem, seed, start, variant=variant or DEFAULT_VARIANT)
        except ValueError as exc:
            raise InputError(str(exc), field="--method") from None
    if variant:
        raise InputError(f"{name} has no variants (got {method!r})", field="--method")
    if name == "aquatope-design":
        from aquatope.sizing.sizer import DesignSizer

        return DesignSizer(problem, seed, start)
    if name == "cherrypick":
        from aquatope.sizing.cherrypick import CherryPick

        return CherryPick(problem, seed, start)
    if name == "powertune-qos":
        from aquatope.sizing.powertune import PowerTuneQoS

        return PowerTuneQoS(problem, seed, start)
    if name == "model-based":
        from aquatope.sizing.modelbased import ModelBasedSizer

        return ModelBasedSizer(problem, seed, start)
    if name == "random":
        from aquatope.sizing.baselines import RandomSizer

        return RandomSizer(problem, seed, start)
    if name == "grid":
        from aquatope.sizing.baselines import PowerTuningGrid

        return PowerTuningGrid(problem)
    raise InputError(f"unknown sizing method {method!r}; choose one of {', '.join(METHODS)}", field="--method")
