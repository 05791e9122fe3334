"""Invokers (machines) with CPU and memory capacity, and the placement of containers on them (first fit or spread)."""

from __future__ import annotations

from aquatope.resources import ResourceConfig

PLACEMENTS = ("first-fit", "spread")


class Cluster:
    """``n`` identical invokers of ``cpu`` vCPU and ``memory_mb``. A container needs room for its memory (reserved
    strictly) and its CPU limit (reserved up to ``overcommit`` times the invoker's cores). ``placement``:
    ``first-fit``, the lowest-numbered invoker with room (packing, as memory-based balancers do: containers started
    together land together), or ``spread``, the invoker with room and the most unreserved CPU, lowest-numbered
    among ties (as Kubernetes' default LeastAllocated scoring does). ``starting[i]`` counts containers starting on
    invoker ``i`` (cold-start storms)."""

    def __init__(
        self, n: int, cpu: float, memory_mb: float, overcommit: float = 1.0, placement: str = "first-fit"
    ) -> None:
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        self.spread = placement == "spread"
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
        """Reserve room for ``config`` on the invoker the placement picks; -1 if none fits."""
        cpu, mem = config.cpu, config.memory_mb
        eps = 1e-9
        best, most = -1, -1.0
        for i, (fc, fm) in enumerate(zip(self.free_cpu, self.free_mem, strict=True)):
            if fc + eps >= cpu and fm >= mem:
                if not self.spread:
                    best = i
                    break
                if fc > most + eps:
                    best, most = i, fc
        if best >= 0:
            self.free_cpu[best] -= cpu
            self.free_mem[best] -= mem
        return best

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
