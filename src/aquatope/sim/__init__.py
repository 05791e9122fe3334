"""Discrete-event FaaS simulator implementing :class:`aquatope.platform.Platform`."""

from __future__ import annotations

from aquatope.sim.config import SimConfig, Slowdown, load_sim_config, sim_config_from_dict
from aquatope.sim.engine import Simulator

__all__ = ["SimConfig", "Simulator", "Slowdown", "load_sim_config", "sim_config_from_dict"]
