"""How a workflow request moves through its DAG in the simulator: sources first, element-wise map groups,
fan-in barriers, transfer delays on edges, failure of the whole request when one invocation fails.

Transfer delays: an edge out of stage ``s`` delays its input to the next stage by the delay of ``s``'s function
(``SimConfig.transfer_ms`` plus its ``output_mb`` over ``transfer_mb_per_s``); a stage copy starts when the last
of its inputs has arrived, i.e. at the latest ``end + delay`` over what it waits for.

:class:`RequestFlow` is a mixin of :class:`~aquatope.sim.engine.Simulator`, kept apart to keep modules small; the
engine provides the invocation and event primitives declared below.
"""

from __future__ import annotations

import math
from typing import Any

from aquatope.sim.state import FnState, ReqState, WfState

STAGE = 2
"""Event kind and priority of a stage start delayed by a data transfer (after ready/end events at equal times)."""
INF = math.inf


class RequestFlow:
    """Request and stage bookkeeping; the engine supplies ``_invoke``, ``_push`` and ``_log``."""

    _wfs: list[WfState]
    _fns: list[FnState]
    _next_rid: int
    events: list[tuple[float, str, str, int, int]] | None

    def _invoke(self, fn: FnState, inv: tuple[Any, ...], t: float) -> None:
        raise AssertionError("provided by the engine")

    def _push(self, t: float, prio: int, kind: int, cid: int, a: Any, b: Any) -> None:
        raise AssertionError("provided by the engine")

    def _log(self, t: float, what: str, name: str, cid: int, inv: tuple[Any, ...] | None) -> None:
        raise AssertionError("provided by the engine")

    def _start_request(self, wi: int, t: float) -> None:
        rid = self._next_rid
        self._next_rid = rid + 1
        wf = self._wfs[wi]
        if wf.single:
            self._invoke(self._fns[wf.fids[0]], (wi, rid, 0, 0, t), t)
            return
        req = ReqState(rid, t, wf)
        for s in wf.sources:
            for k in range(wf.fanout[s]):
                self._stage_ready(wf, req, s, k, t)

    def _stage_ready(self, wf: WfState, req: ReqState, s: int, k: int, t: float) -> None:
        if t < req.stage_ready[s]:
            req.stage_ready[s] = t
        self._invoke(self._fns[wf.fids[s]], (wf.wi, req, s, k, t), t)

    def _input_arrived(self, wf: WfState, req: ReqState, succ: int, k: int, t: float, at: float) -> None:
        """One input of copy ``k`` of stage ``succ`` is there at ``at`` (>= ``t``, the time now); the copy starts
        once its last input is there."""
        rem = req.remaining[succ]
        rem[k] -= 1
        if req.inputs_at is None:
            if rem[k] == 0:
                self._stage_ready(wf, req, succ, k, t)
            return
        row = req.inputs_at[succ]
        if at > row[k]:
            row[k] = at
        if rem[k] == 0:
            if row[k] > t:
                self._push(row[k], STAGE, STAGE, -1, wf.wi, (req, succ, k))
            else:
                self._stage_ready(wf, req, succ, k, t)

    def _invoke_stage(self, wi: int, payload: tuple[ReqState, int, int], t: float) -> None:
        req, s, k = payload
        if not req.done:
            self._stage_ready(self._wfs[wi], req, s, k, t)

    def _complete(self, inv: tuple[Any, ...], t: float, cold: int, failed: bool) -> None:
        wi, req, s, k, t_inv = inv
        wf = self._wfs[wi]
        if wf.single:
            wf.log_id.append(req)
            wf.log_arrival.append(t_inv)
            wf.log_end.append(t)
            wf.log_cold.append(cold)
            wf.log_failed.append(failed)
            if self.events is not None:
                self._log(t, "request-failed" if failed else "request-done", wf.name, -1, inv)
            return
        if req.done:
            return
        req.cold += cold
        if failed:
            self._finish_request(wf, req, t, failed=True)
            return
        req.copies_left[s] -= 1
        if t - t_inv > req.stage_span[s]:
            req.stage_span[s] = t - t_inv
        stage_done = req.copies_left[s] == 0
        at = t if wf.delay_s is None else t + wf.delay_s[s]
        for succ, elementwise in wf.succ[s]:
            if elementwise:
                self._input_arrived(wf, req, succ, k, t, at)
            elif stage_done:
                for j in range(wf.fanout[succ]):
                    self._input_arrived(wf, req, succ, j, t, at)
        if stage_done and s in wf.sinks:
            req.sinks_left -= 1
            if req.sinks_left == 0:
                self._finish_request(wf, req, t, failed=False)

    def _finish_request(self, wf: WfState, req: ReqState, t: float, failed: bool) -> None:
        req.done = True
        if self.events is not None:
            self._log(t, "request-failed" if failed else "request-done", wf.name, -1, (0, req))
        wf.log_id.append(req.rid)
        wf.log_arrival.append(req.arrival)
        wf.log_end.append(t)
        wf.log_cold.append(req.cold)
        wf.log_failed.append(failed)
        wf.log_stages.append(
            [
                span * 1000.0 if ready != INF and left == 0 else math.nan
                for ready, span, left in zip(req.stage_ready, req.stage_span, req.copies_left, strict=True)
            ]
        )
