"""The simulator's container table: one column per attribute, indexed by container id (for speed)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from aquatope.platform import ContainerRecord
from aquatope.resources import ResourceConfig


class ContainerTable:
    """Columns of every container ever started. ``end`` is NaN while a container is alive; ``busy_since`` is NaN
    while it is not running an invocation."""

    def __init__(self) -> None:
        self.fid: list[int] = []
        self.config: list[ResourceConfig] = []
        self.invoker: list[int] = []
        self.start: list[float] = []
        self.ready: list[float] = []
        self.end: list[float] = []
        self.busy: list[float] = []
        self.busy_since: list[float] = []
        self.idle_since: list[float] = []
        self.invocations: list[int] = []
        self.load: list[
            float
        ] = []  # vCPU the running invocation computes with (limit x compute share), for utilisation

    def __len__(self) -> int:
        return len(self.fid)

    def add(self, fid: int, config: ResourceConfig, invoker: int, start: float, ready: float) -> int:
        """Register a container that starts at ``start`` and is ready at ``ready``; returns its id."""
        cid = len(self.fid)
        self.fid.append(fid)
        self.config.append(config)
        self.invoker.append(invoker)
        self.start.append(start)
        self.ready.append(ready)
        self.end.append(math.nan)
        self.busy.append(0.0)
        self.busy_since.append(math.nan)
        self.idle_since.append(math.nan)
        self.invocations.append(0)
        self.load.append(0.0)
        return cid

    def alive(self, cid: int) -> bool:
        return self.end[cid] != self.end[cid]

    def records(
        self,
        names: list[str],
        now: float,
        visible: list[bool] | None = None,
        peak_mb: Callable[[int, ResourceConfig], float] | None = None,
    ) -> list[ContainerRecord]:
        """Records of every container (of the functions whose ``visible`` flag is set, if given); those still alive
        end ``now`` (their busy time counted up to ``now``), and one still starting has ``ready_s = inf``.
        ``peak_mb(fid, config)``: the peak memory of a container that ran an invocation (NaN otherwise, or without
        it)."""
        out = []
        for cid in range(len(self.fid)):
            if visible is not None and not visible[self.fid[cid]]:
                continue
            end = self.end[cid] if not self.alive(cid) else now
            busy = self.busy[cid]
            if self.busy_since[cid] == self.busy_since[cid]:
                busy += now - self.busy_since[cid]
            out.append(
                ContainerRecord(
                    cid,
                    names[self.fid[cid]],
                    self.config[cid],
                    self.start[cid],
                    self.ready[cid] if self.ready[cid] <= end else math.inf,
                    end,
                    busy,
                    self.invocations[cid],
                    peak_mb(self.fid[cid], self.config[cid]) if peak_mb and self.invocations[cid] else math.nan,
                )
            )
        return out

    def lifetimes(self, now: float) -> dict[str, np.ndarray]:
        """Column arrays (start, ready, end, busy, cpu, memory_gb) with alive containers ending ``now``."""
        end = np.asarray(self.end, dtype=float)
        end = np.where(np.isnan(end), now, end)
        busy = np.asarray(self.busy, dtype=float)
        since = np.asarray(self.busy_since, dtype=float)
        busy = busy + np.where(np.isnan(since), 0.0, now - since)
        return {
            "fid": np.asarray(self.fid, dtype=np.int64),
            "start": np.asarray(self.start, dtype=float),
            "ready": np.minimum(np.asarray(self.ready, dtype=float), end),
            "end": end,
            "busy": busy,
            "cpu": np.asarray([c.cpu for c in self.config], dtype=float),
            "memory_gb": np.asarray([c.memory_gb for c in self.config], dtype=float),
        }
