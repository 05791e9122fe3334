"""Invokers (machines) with CPU and memory capacity, and first-fit placement of containers on them."""

from __future__ import annotations

from aquatope.resources import ResourceConfig


class Cluster:
    """``n`` identical invokers. Placement is first fit: the lowest-numbered invoker with room for both the CPU
    and the memory of the container. Busy CPU per invoker is tracked for the interference model."""

    def __init__(self, n: int, cpu: float, memory_mb: float) -> None:
        self.cpu = float(cpu)
        self.memory_mb = float(memory_mb)
        self.free_cpu = [self.cpu] * n
        self.free_mem = [self.memory_mb] * n
        self.busy_cpu = [0.0] * n

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
        """Could ``config`` fit on an empty invoker at all?"""
        return config.cpu <= self.cpu + 1e-9 and config.memory_mb <= self.memory_mb

    def release(self, invoker: int, config: ResourceConfig) -> None:
        self.free_cpu[invoker] += config.cpu
        self.free_mem[invoker] += config.memory_mb

    def utilization(self, invoker: int) -> float:
        """Busy CPU share of an invoker, 0..1."""
        return self.busy_cpu[invoker] / self.cpu
