"""The one contract between policies and execution: what a Platform does and what it records.

Implemented by the discrete-event simulator (``aquatope.sim``) and by the Ray runtime (``aquatope.runtime``).
Controllers, pool policies and sizers see only this interface, so they run unchanged on either.

Time is in seconds since the start of the run (``now_s``); latencies are in milliseconds (``_ms``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from aquatope.errors import InputError
from aquatope.resources import ResourceConfig
from aquatope.workflow import Workflow


@dataclass(frozen=True)
class PoolTarget:
    """Keep at least ``min_warm`` containers of a function alive; evict idle ones after ``keep_alive_s``.

    Missing containers are started at once (they cost resources while starting and idle). An idle container is
    evicted once it has been idle for ``keep_alive_s``, unless that would leave fewer than ``min_warm`` alive.
    """

    min_warm: int = 0
    keep_alive_s: float = 600.0

    def __post_init__(self) -> None:
        if isinstance(self.min_warm, bool) or not isinstance(self.min_warm, int) or self.min_warm < 0:
            raise InputError(f"min_warm must be a non-negative integer, got {self.min_warm!r}", field="min_warm")
        if not (self.keep_alive_s >= 0 and not math.isnan(self.keep_alive_s)):
            raise InputError(f"keep_alive_s must be >= 0, got {self.keep_alive_s!r}", field="keep_alive_s")


@dataclass(frozen=True)
class FunctionObservation:
    """What happened to one function since the previous ``observe()``, as a real platform's metrics show it.

    * ``invocations``: invocations that arrived; ``cold_starts``: of those, how many waited on a cold start;
    * ``peak_concurrency``: the most invocations in progress (running or waiting for a container) at once;
    * ``inflight_s``: the integral of invocations in progress over the interval (invocation-seconds; divided by the
      interval's length it is the mean concurrency a Knative-style autoscaler scales on);
    * ``completed`` and ``busy_s``: invocations that finished in the interval and the execution seconds they took
      (billed duration, cold start excluded): the only source of execution times a policy may use.
    """

    invocations: int = 0
    peak_concurrency: int = 0
    cold_starts: int = 0
    inflight_s: float = 0.0
    completed: int = 0
    busy_s: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    """One workflow request, from arrival to the end of its last stage (or its failure).

    ``stage_latency_ms`` maps a stage to the time from its start (what it waits for has ended) to its end; for a
    fan-out, the longest time one copy took from its own start to its end. Copies of a map-group stage start apart
    (copy ``k`` when copy ``k`` before it ends), and timing the stage from its first copy's start to its last copy's
    end would charge it the spread of the stages before it; ``cold_starts`` counts invocations on the request's path that waited on a cold start.
    ``error`` says why a failed request failed, where the platform knows (a real one records the function's error).
    """

    request_id: int
    workflow: str
    arrival_s: float
    end_s: float
    latency_ms: float
    stage_latency_ms: Mapping[str, float]
    cold_starts: int
    failed: bool
    error: str | None = None


@dataclass(frozen=True)
class ContainerRecord:
    """One container's life: started at ``start_s``, ready (cold start done) at ``ready_s`` (``inf`` while still
    starting), gone at ``end_s`` (now, for a container still alive); ``busy_s`` is the time it spent running
    invocations. Cost is computed from these by ``resources.Pricing``. ``peak_memory_mb`` is the most memory its
    invocations held at once, what a FaaS platform reports as an invocation's maximum memory used (AWS Lambda's
    ``Max Memory Used``); NaN where the platform does not tell, or before the container ran anything."""

    container_id: int
    function: str
    config: ResourceConfig
    start_s: float
    ready_s: float
    end_s: float
    busy_s: float
    invocations: int = 0
    peak_memory_mb: float = math.nan

    @property
    def lifetime_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def idle_s(self) -> float:
        """Time alive but neither starting nor busy: what keep-alive and pre-warming cost."""
        if math.isinf(self.ready_s):
            return 0.0
        return max(0.0, self.end_s - self.ready_s - self.busy_s)


@runtime_checkable
class Platform(Protocol):
    """A FaaS platform that runs workflows: the simulator or a real engine.

    Usage: ``deploy`` a workflow with a configuration per function, optionally ``set_pool`` per function, ``submit``
    request arrival times, ``advance`` time, and read ``observe()`` (per control interval) and the records.
    """

    @property
    def now_s(self) -> float:
        """Current platform time in seconds since the start of the run."""
        ...

    def deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None) -> None:
        """Make ``workflow`` runnable, each function at ``configs[name]`` (default: the workflow's defaults)."""
        ...

    def set_resources(self, function: str, config: ResourceConfig) -> None:
        """Containers started from now on get ``config``; warm containers with the old one are retired when idle."""
        ...

    def set_pool(self, function: str, target: PoolTarget) -> None:
        """Apply a pool target to ``function`` from now on."""
        ...

    def submit(self, workflow: str, arrivals_s: np.ndarray) -> None:
        """Schedule requests of a deployed workflow at the given times (seconds, >= now, any order)."""
        ...

    def advance(self, until_s: float) -> None:
        """Run until ``until_s`` (a real platform waits; the simulator processes events)."""
        ...

    def observe(self) -> dict[str, FunctionObservation]:
        """Per function, what happened since the previous call."""
        ...

    def request_records(self) -> list[RequestRecord]:
        """Every finished (or failed) workflow request so far."""
        ...

    def container_records(self) -> list[ContainerRecord]:
        """Every container so far; containers still alive are reported as ending now."""
        ...


@dataclass
class ObservationCounter:
    """Accumulates :class:`FunctionObservation` figures between two ``observe()`` calls (shared helper)."""

    invocations: dict[str, int] = field(default_factory=dict)
    cold_starts: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)

    def take(self, functions: list[str], in_flight: Mapping[str, int]) -> dict[str, FunctionObservation]:
        """Return the figures per function and reset them; the peak restarts from what is in flight now."""
        out = {
            f: FunctionObservation(
                invocations=self.invocations.get(f, 0),
                peak_concurrency=max(self.peak.get(f, 0), in_flight.get(f, 0)),
                cold_starts=self.cold_starts.get(f, 0),
            )
            for f in functions
        }
        self.invocations.clear()
        self.cold_starts.clear()
        self.peak = {f: in_flight.get(f, 0) for f in functions}
        return out
