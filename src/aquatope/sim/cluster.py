"""Invokers (machines) with CPU and memory capacity, and first-fit placement of containers on them."""

from __future__ import annotations

from aquatope.resources import ResourceConfig


class Cluster:
    """``n`` identical invokers of ``cpu`` vCPU and ``memory_mb``. Placement is first fit: the lowest-numbered
    invoker with room for the container's memory (reserved strictly) and its CPU limit (reserved up to
    ``overcommit`` times the invoker's cores). ``starting[i]`` counts containers starting on invoker ``i``
    (cold-start storms)."""

    def __init__(self, n: int, cpu: float, memory_mb: float, overcommit: float = 1.0) -> None:
        self.cpu = float(cpu)
        self.memory_mb = float(memory_mb)
        self.overcommit = float(overcommit)
        self.free_cpu = [self.cpu * self.overcommit] * n
        self.free_mem = [self.memory_mb] * n
        self.starting = [0] * n

    @property
    def size(self) -> int:
        return len(self.free_cpu)

    def place(self, config: ResourceConfig) -> int:
        """Reserve room for ``config`` on the first invoker that fits; -1 if none does."""
        cpu, mem = config.cpu, config.memory_mb
        eps = 1e-9
        for i, (fc, fm) in enumerate(zip(self.free_cpu, self.free_mem, strict=True)):
            if fc + eps >= cpu and fm >= mem:
                self.free_cpu[i] = fc - cpu
                self.free_mem[i] = fm - mem
                return i
        return -1

    def fits_anywhere(self, config: ResourceConfig) -> bool:
        """Could ``config`` fit on an empty invoker at all? (A CPU limit above the machine's cores cannot.)"""
        return config.cpu <= self.cpu + 1e-9 and config.memory_mb <= self.memory_mb

    def release(self, invoker: int, config: ResourceConfig) -> None:
        self.free_cpu[invoker] += config.cpu
        self.free_mem[invoker] += config.memory_mb

    def reserved_memory_share(self) -> float:
        """Share of the cluster's memory reserved by containers, 0..1."""
        total = self.memory_mb * self.size
        return 1.0 - sum(self.free_mem) / total if total else 0.0
