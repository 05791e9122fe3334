"""Named worlds a run can happen in: tenants, interference, cold-start storms, transfers, drift, bad measurements,
and where measurements are taken (staging or production). See :mod:`aquatope.scenarios.model` for the fields and
``scenarios/data/*.yaml`` for the named ones (``aquatope scenarios list``)."""

from __future__ import annotations

from aquatope.scenarios.loader import load_scenario, scenario_from_dict, scenario_names
from aquatope.scenarios.model import ClusterSpec, Scenario, StepSpec, TenantSpec

__all__ = [
    "ClusterSpec",
    "Scenario",
    "StepSpec",
    "TenantSpec",
    "load_scenario",
    "scenario_from_dict",
    "scenario_names",
]
