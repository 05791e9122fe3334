"""Running one workflow request through its DAG on container actors (the simulator's flow, on Ray).

Every copy of every stage is an asyncio task on the platform's loop. A copy starts when what it waits for has
ended (copy ``k`` of its predecessor inside a map group, every copy otherwise), takes a container from its
function's pool and calls it with its inputs as *object refs*: outputs stay in Ray's object store and go from one
actor to the next without passing through the driver. The request ends when every sink stage has ended, or fails
at the first failed invocation (its error is recorded); copies still running for a failed request finish but are
ignored, and copies not yet started never start.

**Faults.** An actor that dies mid-invocation is replaced and the invocation retried on another container, at most
``max_retries`` times; then the request fails with the reason. Nothing is lost silently: every request ends in a
record, done or failed.

Latencies are real (wall) milliseconds: stage latency from the stage's start (all predecessors done) to its last
copy's end, end-to-end from the arrival to the end of the last sink.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aquatope.runtime.pool import FunctionPool, InvocationFailed
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
    stage_end: list[float]
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


ACTOR_DEATH_NAMES = ("ActorDiedError", "ActorUnavailableError", "RayActorError", "ActorUnschedulableError")


def is_actor_death(exc: BaseException) -> bool:
    """True for Ray's errors that mean the actor (the container) itself is gone."""
    return any(type(exc).__name__ == n or n in (c.__name__ for c in type(exc).__mro__) for n in ACTOR_DEATH_NAMES)


class RequestRunner:
    """Runs requests of one workflow; ``on_done`` receives each :class:`RequestOutcome` exactly once."""

    def __init__(
        self,
        plan: WorkflowPlan,
        pools: dict[str, FunctionPool],
        wall: Callable[[], float],
        on_done: Callable[[RequestOutcome], None],
        max_retries: int = 2,
    ) -> None:
        self.plan = plan
        self.pools = pools
        self.wall = wall
        self.on_done = on_done
        self.max_retries = max_retries
        self.in_flight = 0

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
        self.in_flight += 1
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
            ref = await self._invoke(req, self.pools[stage.function], meta, inputs, t_ready)
        except InvocationFailed as exc:
            self._finish(req, failed=True, error=f"{stage.name}[{k}]: {exc}")
            return
        if ref is None or req.done:
            return
        req.outputs[i][k].set_result(ref)
        req.stage_end[i] = max(req.stage_end[i], self.wall())
        req.copies_left[i] -= 1
        if stage.sink and req.copies_left[i] == 0:
            req.sinks_left -= 1
            if req.sinks_left == 0:
                self._finish(req, failed=False)

    async def _invoke(
        self, req: RequestState, pool: FunctionPool, meta: dict[str, Any], inputs: list[Any], arrival_w: float
    ) -> Any:
        """Run one invocation on a container of ``pool``, retrying on another one if the actor dies."""
        pool.begin()
        cold = False
        failures = 0
        meta = {**meta, "memory_mb": pool.config.memory_mb}
        try:
            while True:
                c, waited_cold = await pool.acquire(arrival_w)
                cold = cold or waited_cold
                if req.done:
                    pool.release(c)
                    return None
                status_ref, out_ref = c.handle.invoke.options(num_returns=2).remote(meta, *inputs)
                try:
                    status = await status_ref
                except Exception as exc:
                    if not is_actor_death(exc):
                        pool.release(c)
                        raise InvocationFailed(f"{type(exc).__name__}: {_first_line(exc)}") from None
                    pool.lost(c)
                    failures += 1
                    if failures > self.max_retries:
                        raise InvocationFailed(
                            f"container died {failures} times (retries exhausted): {_first_line(exc)}"
                        ) from None
                    continue
                pool.release(c, broken=bool(status.get("oom")))
                if not status["ok"]:
                    raise InvocationFailed(status["error"])
                return out_ref
        finally:
            pool.end(cold)
            req.cold += int(cold)

    def _finish(self, req: RequestState, failed: bool, error: str | None = None) -> None:
        if req.done:
            return
        req.done = True
        req.error = error
        req.end_w = self.wall()
        self.in_flight -= 1
        for row in req.outputs:
            for f in row:
                if not f.done():
                    f.set_result(None)  # wake copies waiting on this request; they see ``done`` and stop
        stages = {
            s.name: (req.stage_end[i] - req.stage_ready[i]) * 1000.0
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
