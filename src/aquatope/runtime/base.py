"""What both real platforms share: the clock, arrivals, requests through their DAG, lag, records and draining.

**Time.** The platform clock runs ``time_scale`` times faster than the wall clock (``aquatope run --speedup``):
``now_s = wall seconds since the platform started x time_scale``; at 1 (the default) it *is* the wall clock. Event
times on it are trace seconds: request arrivals and ends, container starts, readiness and ends, keep-alives and pool
targets (``keep_alive_s=600`` keeps a container for 10 wall seconds at 60). Work is never compressed:
``latency_ms``, ``stage_latency_ms`` and ``busy_s`` are real durations. So a speed-up S offers the cluster S times
the trace's request rate while every execution and cold start keeps its length: the concurrency the containers see
is S times the trace's (:mod:`aquatope.runtime.plan` estimates what that needs before a run). Cost
(``resources.Pricing`` over ``ContainerRecord``) charges busy time at its real length and a container's life at its
trace length, as if the trace had been replayed at its own pace; a cold start at S > 1 is charged S times.

``advance(until_s)`` waits (really) until the clock reaches ``until_s``; ``advance(math.inf)`` waits until no
arrival is pending, no request is in flight and no container is starting. ``submit`` accepts times up to
``late_tolerance_s`` wall seconds in the past (the clock moves while the caller computes): they start at once and
their latency counts from the time they were submitted for. With ``max_lag_s``, ``advance`` raises
:class:`~aquatope.runtime.lag.ReplayLagError` once the replay falls that far behind the trace clock
(:mod:`aquatope.runtime.lag`).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import RequestRecord
from aquatope.runtime.capacity import MIB, ClusterCapacity
from aquatope.runtime.executor import Dispatcher, RequestOutcome, RequestRunner, WorkflowPlan
from aquatope.runtime.functions import BoundFunction, bind
from aquatope.runtime.lag import LagMonitor, LagReport, ReplayLagError
from aquatope.runtime.loop import LoopThread
from aquatope.runtime.records import request_record
from aquatope.workflow import Workflow


class ReplayPlatform(ABC):
    """The clock, arrivals, request runners, lag monitor and request records of a real platform (module doc)."""

    def __init__(
        self,
        *,
        time_scale: float,
        late_tolerance_s: float,
        keep_outputs: bool,
        drain_timeout_s: float,
        max_lag_s: float | None,
        thread_name: str,
        capacity_source: Callable[[], list[dict[str, Any]]],
    ) -> None:
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise InputError(f"must be a finite number > 0, got {time_scale}", field="time_scale")
        if max_lag_s is not None and not (max_lag_s > 0):
            raise InputError(f"must be > 0 seconds, got {max_lag_s}", field="max_lag_s")
        self.time_scale = float(time_scale)
        self._bound: dict[str, BoundFunction] = {}
        self._capacity = ClusterCapacity(capacity_source)
        self.late_tolerance_s = late_tolerance_s
        self.keep_outputs = keep_outputs
        self.drain_timeout_s = drain_timeout_s
        self._runners: dict[str, RequestRunner] = {}
        self._records: list[RequestRecord] = []
        self._outputs: dict[int, dict[str, Any]] = {}
        self._next_rid = 0
        self._pending = 0
        self._closed = False
        self._lt = LoopThread(thread_name)
        self._t0 = time.monotonic()
        self._lag = LagMonitor(
            self.wall, self.time_scale, self._oldest_arrival_w, self._in_flight, self._starts_waiting, max_lag_s
        )
        self._lt.call(self._lag.start)

    # ----------------------------------------------------------------- clock
    def wall(self) -> float:
        """Wall seconds since the platform started."""
        return time.monotonic() - self._t0

    @property
    def now_s(self) -> float:
        return self.wall() * self.time_scale

    # ----------------------------------------------------------------- requests
    def submit(self, workflow: str, arrivals_s: np.ndarray, inputs: list[Any] | None = None) -> None:
        """Schedule requests at ``arrivals_s`` (platform seconds); ``inputs[i]`` is request ``i``'s input for the
        source stages (default: the request id)."""
        if workflow not in self._runners:
            raise InputError(f"workflow {workflow!r} is not deployed; deployed: {sorted(self._runners)}")
        times = np.asarray(arrivals_s, dtype=float).ravel()
        earliest = self.now_s - self.late_tolerance_s * self.time_scale
        if times.size and (not np.isfinite(times).all() or times.min() < earliest):
            raise InputError(f"arrival times must be finite and >= now ({self.now_s:.3f} s)", field="arrivals_s")
        if inputs is not None and len(inputs) != times.size:
            raise InputError(f"{len(inputs)} inputs for {times.size} arrivals", field="inputs")
        runner = self._runners[workflow]
        loop = self._lt.loop

        def schedule() -> None:
            for i, t in enumerate(times.tolist()):
                rid = self._next_rid
                self._next_rid += 1
                self._pending += 1
                value = rid if inputs is None else inputs[i]
                wall_t = t / self.time_scale
                loop.call_at(self._t0 + wall_t, self._arrive, runner, rid, wall_t, value)

        self._lt.call(schedule)

    def advance(self, until_s: float) -> None:
        """Wait until the clock reaches ``until_s``; ``math.inf`` waits until everything in flight is done."""
        if math.isnan(until_s):
            raise ValueError("cannot advance to NaN")
        if until_s == math.inf:
            self._drain()
            return
        while True:
            self._check()
            left = until_s / self.time_scale - self.wall()
            if left <= 0:
                return
            time.sleep(min(left, 0.25))

    def request_records(self) -> list[RequestRecord]:
        return sorted(self._lt.call(lambda: list(self._records)), key=lambda r: r.request_id)

    def outputs(self, request_id: int, timeout_s: float | None = 60.0) -> dict[str, Any]:
        """What request ``request_id``'s sink stages returned (``keep_outputs=True`` only): ``{stage: value}``, a
        list of values for a fan-out sink. KeyError if the request failed, is unknown or outputs are not kept."""
        import ray

        refs = self._lt.call(lambda: self._outputs[request_id])
        return {stage: self._resolve(ref, ray, timeout_s) for stage, ref in refs.items()}

    def _resolve(self, ref: Any, ray: Any, timeout_s: float | None) -> Any:
        if isinstance(ref, list):
            return [self._resolve(r, ray, timeout_s) for r in ref]
        return ray.get(ref, timeout=timeout_s)

    def in_flight(self) -> int:
        return self._lt.call(self._in_flight)

    def requests_pending(self) -> int:
        """Requests submitted whose arrival time has not come yet."""
        return self._lt.call(lambda: self._pending)

    def lag_report(self) -> LagReport:
        """How far the replay lagged the trace clock so far (:mod:`aquatope.runtime.lag`)."""
        return self._lt.call(self._lag.report)

    def bind(self, function: str, handler: Callable[..., Any], init: Callable[[], Any] | None = None) -> None:
        """Bind Python callables to ``function`` before ``deploy`` (overrides the YAML's ``handler``/``init``)."""
        self._bound[function] = bind(function, handler, init)

    def node_capacity(self) -> tuple[float, float]:
        """(CPUs, memory MB) of the cluster's largest node: what one container can get at most."""
        cpu, mem = self._capacity.largest_node()
        return cpu, mem / MIB

    def cluster_capacity(self) -> tuple[float, float]:
        """(CPUs, memory MB) of the whole cluster."""
        cpu, mem = self._capacity.cluster()
        return cpu, mem / MIB

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every container this platform started (and Ray, if it started it); every platform has its own."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- for subclasses
    def _add_runner(self, workflow: Workflow, dispatcher: Dispatcher) -> None:
        """Called on the loop: requests of ``workflow`` run through ``dispatcher``."""
        self._runners[workflow.name] = RequestRunner(WorkflowPlan.of(workflow), dispatcher, self.wall, self._done)

    def _starts_waiting(self) -> int:
        """Container starts waiting for room (0 where the platform does not queue starts)."""
        return 0

    def _starting(self) -> int:
        """Containers starting now (``advance(inf)`` waits for them)."""
        return 0

    def _check(self) -> None:
        """Raise what went wrong on the loop, or the lag monitor's verdict."""
        self._lt.raise_errors()
        if self._lag.tripped is not None:
            raise ReplayLagError(self._lag.tripped)

    def _stop_loop(self) -> None:
        self._lt.call(self._lag.stop)
        self._lt.stop()

    # ----------------------------------------------------------------- internals (on the loop)
    def _in_flight(self) -> int:
        return sum(r.in_flight for r in self._runners.values())

    def _oldest_arrival_w(self) -> float:
        return min((r.oldest_arrival_w() for r in self._runners.values()), default=math.inf)

    def _arrive(self, runner: RequestRunner, rid: int, arrival_w: float, value: Any) -> None:
        self._pending -= 1
        self._lag.arrival(arrival_w)
        runner.start(rid, min(arrival_w, self.wall()), value)

    def _done(self, out: RequestOutcome) -> None:
        if self.keep_outputs and out.outputs is not None:
            self._outputs[out.rid] = out.outputs
        self._records.append(request_record(out, self.time_scale))

    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout_s

        def busy() -> bool:
            return self._pending > 0 or self._starting() > 0 or self._in_flight() > 0

        while self._lt.call(busy):
            self._check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"requests still in flight after {self.drain_timeout_s} s")
            time.sleep(0.01)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._lt.call(fn, *args)
