"""QoS-aware right-sizing: measurement, ask/tell sizers (Bayesian optimization and baselines) and the oracle."""

from __future__ import annotations

from aquatope.sizing.base import History, Measurement, Sizer, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.measure import Measurer

__all__ = ["History", "Measurement", "Measurer", "Sizer", "SizingProblem", "WorkflowConfig", "config_key"]
