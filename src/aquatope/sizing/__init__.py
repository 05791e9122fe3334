"""QoS-aware right-sizing: measurement, ask/tell sizers (Bayesian optimization and baselines) and the oracle.

``base`` (problem, measurement, protocol, provenance), ``measure`` and ``loop`` (measuring on any Platform, also
resumably), ``answer`` (the one answer rule), ``sizer`` and ``design`` (shared ask/tell machinery and starts),
``bo``/``bo_models``/``gp``/``candidates``/``coords`` (aquatope-bo), ``cherrypick``, ``powertune``, ``modelbased``,
``baselines`` (random, grid), ``load`` (expected total cost at a forecast load), ``exhaustive`` (the oracle),
``registry`` (the one factory).
"""

from __future__ import annotations

from aquatope.sizing.base import History, Measurement, Sizer, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.load import LoadProfile
from aquatope.sizing.measure import Measurer

__all__ = [
    "History",
    "LoadProfile",
    "Measurement",
    "Measurer",
    "Sizer",
    "SizingProblem",
    "WorkflowConfig",
    "config_key",
]
