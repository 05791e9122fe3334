"""What the Ray cluster offers: total CPUs and memory, and the largest node, read from ``ray.nodes()``.

Room for a container is counted against the whole cluster (Ray places actors on any node), while one container can
get at most what the largest node has. Figures are cached for ``max_age_s`` (nodes come and go, but reading them on
every start would be slow).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from aquatope.errors import InputError
from aquatope.resources import ResourceConfig
from aquatope.runtime.pool import MIB


class ClusterCapacity:
    """Cluster totals and largest node, in CPUs and memory bytes; ``nodes`` is ``ray.nodes``."""

    def __init__(self, nodes: Callable[[], list[dict[str, Any]]], max_age_s: float = 10.0) -> None:
        self._nodes = nodes
        self.max_age_s = max_age_s
        self._at = -math.inf
        self._figures: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def _fresh(self) -> tuple[float, float, float, float]:
        if time.monotonic() - self._at >= self.max_age_s:
            alive = [n for n in self._nodes() if n.get("Alive")]
            cpus = [float(n["Resources"].get("CPU", 0.0)) for n in alive]
            mems = [float(n["Resources"].get("memory", 0.0)) for n in alive]
            self._figures = (sum(cpus), sum(mems), max(cpus, default=0.0), max(mems, default=0.0))
            self._at = time.monotonic()
        return self._figures

    def cluster(self) -> tuple[float, float]:
        """(CPUs, memory bytes) of the whole cluster."""
        cpu, mem, _, _ = self._fresh()
        return cpu, mem

    def largest_node(self) -> tuple[float, float]:
        """(CPUs, memory bytes) of the largest node."""
        _, _, cpu, mem = self._fresh()
        return cpu, mem

    def check_fits(self, config: ResourceConfig, field: str) -> None:
        """Refuse a configuration no node can host, naming ``field``."""
        node_cpu, node_mem = self.largest_node()
        if config.cpu > node_cpu + 1e-9 or config.memory_mb * MIB > node_mem:
            raise InputError(
                f"{config} does not fit on any node of the Ray cluster "
                f"(largest: {node_cpu:g} CPU, {node_mem / MIB:.0f} MB)",
                field=field,
            )

    def has_room(self, used_cpu: float, used_mem_bytes: float, config: ResourceConfig) -> bool:
        """Whether ``config`` fits next to what is in use, cluster-wide."""
        total_cpu, total_mem = self.cluster()
        return used_cpu + config.cpu <= total_cpu + 1e-9 and used_mem_bytes + config.memory_mb * MIB <= total_mem
