"""Running one workflow request through its DAG on container actors (the simulator's flow, on Ray).

Every copy of every stage is an asyncio task on the platform's loop. A copy starts when what it waits for has
ended (copy ``k`` of its predecessor inside a map group, every copy otherwise), takes a container from its
function's pool and calls it with its inputs as *object refs*: outputs stay in Ray's object store and go from one
actor to the next without passing through the driver. The request ends when every sink stage has ended, or fails
at the first failed invocation (its error is recorded); copies still running for a failed request finish but are
ignored, and copies not yet started never start.

How one invocation runs is the :class:`Dispatcher`'s business (:mod:`aquatope.runtime.dispatch` for pools of
container actors, :mod:`aquatope.runtime.serve` for Ray Serve deployments): its retries after a container died, its
time limit. Nothing is lost silently: every request ends in a record, done or failed.

Latencies are real (wall) milliseconds: a stage's latency is the longest time one of its copies took from its inputs
being there to its end (the simulator's definition, :class:`aquatope.platform.RequestRecord`), end-to-end from the
arrival to the end of the last sink.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aquatope.runtime.pool import InvocationFailed
from aquatope.workflow import Workflow


@dataclass(frozen=True)
class StagePlan:
    name: str
    function: str
    fanout: int
    preds: tuple[tuple[int, bool], ...]  # (predecessor index, element-wise)
    sink: bool


@dataclass(frozen=True)
class WorkflowPlan:
    """A workflow compiled for execution: stages in topological order with their edges."""

    name: str
    stages: tuple[StagePlan, ...]

    @classmethod
    def of(cls, wf: Workflow) -> WorkflowPlan:
        index = {s.name: i for i, s in enumerate(wf.stages)}
        sinks = set(wf.sinks())
        stages = tuple(
            StagePlan(
                s.name,
                s.function,
                s.fanout,
                tuple((index[p], wf.elementwise(p, s.name)) for p in s.after),
                s.name in sinks,
            )
            for s in wf.stages
        )
        return cls(wf.name, stages)


@dataclass
class RequestState:
    """A request in flight: outputs per (stage, copy), stage timing, cold starts, outcome."""

    rid: int
    arrival_w: float
    outputs: list[list[asyncio.Future[Any]]]
    stage_ready: list[float]
    stage_span: list[float]  # per stage, the longest time one copy took from its inputs being there to its end
    copies_left: list[int]
    sinks_left: int
    cold: int = 0
    done: bool = False
    error: str | None = None
    end_w: float = math.nan
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(frozen=True)
class RequestOutcome:
    rid: int
    workflow: str
    arrival_w: float
    end_w: float
    stage_latency_ms: dict[str, float]
    cold_starts: int
    failed: bool
    error: str | None
    outputs: dict[str, Any] | None = None  # sink stage -> output ref (a list of refs for a fan-out sink)


class Dispatcher(Protocol):
    """Runs one invocation of a function on the platform's containers (pools of actors, or Serve replicas)."""

    async def invoke(
        self, req: RequestState, function: str, meta: dict[str, Any], inputs: list[Any], arrival_w: float
    ) -> Any | None:
        """The output (an object ref, or a value the next call accepts), None if ``req`` ended meanwhile; adds a cold
        start to ``req.cold`` if the invocation waited on one; raises :class:`InvocationFailed` with the reason."""
        ...


class RequestRunner:
    """Runs requests of one workflow; ``on_done`` receives each :class:`RequestOutcome` exactly once."""

    def __init__(
        self,
        plan: WorkflowPlan,
        dispatcher: Dispatcher,
        wall: Callable[[], float],
        on_done: Callable[[RequestOutcome], None],
    ) -> None:
        self.plan = plan
        self.dispatcher = dispatcher
        self.wall = wall
        self.on_done = on_done
        self.active: dict[int, RequestState] = {}

    @property
    def in_flight(self) -> int:
        return len(self.active)

    def oldest_arrival_w(self) -> float:
        """Arrival (wall s) of the oldest request in flight; ``inf`` when none is."""
        return min((r.arrival_w for r in self.active.values()), default=math.inf)

    def start(self, rid: int, arrival_w: float, value: Any) -> RequestState:
        """Start request ``rid`` (arrived at wall time ``arrival_w``) with input ``value``."""
        loop = asyncio.get_running_loop()
        stages = self.plan.stages
        req = RequestState(
            rid,
            arrival_w,
            [[loop.create_future() for _ in range(s.fanout)] for s in stages],
            [math.inf] * len(stages),
            [0.0] * len(stages),
            [s.fanout for s in stages],
            sum(1 for s in stages if s.sink),
        )
        self.active[rid] = req
        for i, s in enumerate(stages):
            for k in range(s.fanout):
                req.tasks.append(loop.create_task(self._run_copy(req, i, k, value)))
        return req

    async def _run_copy(self, req: RequestState, i: int, k: int, value: Any) -> None:
        stage = self.plan.stages[i]
        inputs: list[Any] = []
        shape: list[tuple[str, int, bool]] = []
        if not stage.preds:
            inputs, shape = [value], [("", 1, False)]
        for p, elementwise in stage.preds:
            pred = self.plan.stages[p]
            futures = [req.outputs[p][k]] if elementwise else req.outputs[p]
            refs = [await f for f in futures]
            if req.done:
                return
            inputs.extend(refs)
            shape.append((pred.name, len(refs), not elementwise and pred.fanout > 1))
        if req.done:
            return
        t_ready = self.wall()
        req.stage_ready[i] = min(req.stage_ready[i], t_ready)
        meta = {
            "request_id": req.rid,
            "stage": stage.name,
            "copy": k,
            "fanout": stage.fanout,
            "shape": shape,
        }
        try:
            ref = await self.dispatcher.invoke(req, stage.function, meta, inputs, t_ready)
        except InvocationFailed as exc:
            self._finish(req, failed=True, error=f"{stage.name}[{k}]: {exc}")
            return
        if ref is None or req.done:
            return
        req.outputs[i][k].set_result(ref)
        req.stage_span[i] = max(req.stage_span[i], self.wall() - t_ready)
        req.copies_left[i] -= 1
        if stage.sink and req.copies_left[i] == 0:
            req.sinks_left -= 1
            if req.sinks_left == 0:
                self._finish(req, failed=False)

    def _finish(self, req: RequestState, failed: bool, error: str | None = None) -> None:
        if req.done:
            return
        req.done = True
        req.error = error
        req.end_w = self.wall()
        del self.active[req.rid]
        for row in req.outputs:
            for f in row:
                if not f.done():
                    f.set_result(None)  # wake copies waiting on this request; they see ``done`` and stop
        stages = {
            s.name: req.stage_span[i] * 1000.0
            if req.copies_left[i] == 0 and req.stage_ready[i] != math.inf
            else math.nan
            for i, s in enumerate(self.plan.stages)
        }
        outputs = None
        if not failed:
            outputs = {
                s.name: [f.result() for f in req.outputs[i]] if s.fanout > 1 else req.outputs[i][0].result()
                for i, s in enumerate(self.plan.stages)
                if s.sink
            }
        self.on_done(
            RequestOutcome(req.rid, self.plan.name, req.arrival_w, req.end_w, stages, req.cold, failed, error, outputs)
        )
