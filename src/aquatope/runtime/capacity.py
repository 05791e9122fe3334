"""What the Ray cluster offers, node by node: CPUs and memory of every alive node, read from ``ray.nodes()``.

One container can get at most what the largest node has; room for a new one is counted per node (see
:mod:`aquatope.runtime.room`). Figures are cached for ``max_age_s``: nodes come and go, but reading them on every
start would be slow; the platform refreshes them on a timer to notice nodes that left.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aquatope.errors import InputError
from aquatope.resources import ResourceConfig

MIB = 1024 * 1024


@dataclass(frozen=True)
class Node:
    """An alive node: its Ray id (hex) and what it offers (CPUs, memory bytes)."""

    node_id: str
    cpu: float
    memory_bytes: float


class ClusterCapacity:
    """Alive nodes, cluster totals and the largest node; ``nodes`` is ``ray.nodes``."""

    def __init__(self, nodes: Callable[[], list[dict[str, Any]]], max_age_s: float = 10.0) -> None:
        self._read = nodes
        self.max_age_s = max_age_s
        self._at = -math.inf
        self._nodes: list[Node] = []

    def refresh(self) -> list[Node]:
        """Read the nodes now (not from the cache)."""
        self._nodes = [
            Node(str(n["NodeID"]), float(n["Resources"].get("CPU", 0.0)), float(n["Resources"].get("memory", 0.0)))
            for n in self._read()
            if n.get("Alive")
        ]
        self._at = time.monotonic()
        return self._nodes

    def nodes(self) -> list[Node]:
        """Alive nodes (cached for ``max_age_s``)."""
        if time.monotonic() - self._at >= self.max_age_s:
            self.refresh()
        return self._nodes

    def cluster(self) -> tuple[float, float]:
        """(CPUs, memory bytes) of the whole cluster."""
        nodes = self.nodes()
        return sum(n.cpu for n in nodes), sum(n.memory_bytes for n in nodes)

    def largest_node(self) -> tuple[float, float]:
        """(CPUs, memory bytes) of the largest node (each figure on its own)."""
        nodes = self.nodes()
        return max((n.cpu for n in nodes), default=0.0), max((n.memory_bytes for n in nodes), default=0.0)

    def check_fits(self, config: ResourceConfig, field: str) -> None:
        """Refuse a configuration no node can host, naming ``field``."""
        if not any(config.cpu <= n.cpu + 1e-9 and config.memory_mb * MIB <= n.memory_bytes for n in self.nodes()):
            node_cpu, node_mem = self.largest_node()
            raise InputError(
                f"{config} does not fit on any node of the Ray cluster "
                f"(largest: {node_cpu:g} CPU, {node_mem / MIB:.0f} MB)",
                field=field,
            )
