"""The request runner's timing without Ray: a dispatcher that only sleeps (asyncio), on the loop's clock."""

from __future__ import annotations

import asyncio
from typing import Any

from sim_cases import map_chain

from aquatope.runtime.executor import RequestOutcome, RequestRunner, RequestState, WorkflowPlan

SLEEP_S = {
    ("split", 0): 0.01,
    ("a", 0): 0.01,
    ("a", 1): 0.05,
    ("a", 2): 0.09,
    ("b", 0): 0.04,
    ("b", 1): 0.04,
    ("b", 2): 0.04,
}
"""Seconds each (stage, copy) takes: ``a``'s copies end 40 ms apart, ``b``'s take 40 ms each."""


class SleepingDispatcher:
    async def invoke(
        self, req: RequestState, function: str, meta: dict[str, Any], inputs: list[Any], arrival_w: float
    ) -> Any | None:
        await asyncio.sleep(SLEEP_S[(meta["stage"], meta["copy"])])
        return f"{meta['stage']}[{meta['copy']}]"


def test_map_stage_time_is_its_slowest_copys_own_time() -> None:
    wf = map_chain("chunks", [("split", 10.0), ("a", 10.0), ("b", 10.0)])  # the dispatcher sets the times
    done: list[RequestOutcome] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        runner = RequestRunner(WorkflowPlan.of(wf), SleepingDispatcher(), loop.time, done.append)
        runner.start(0, loop.time(), "video")
        while not done:
            await asyncio.sleep(0.005)

    asyncio.run(run())
    (out,) = done
    assert not out.failed
    assert out.outputs == {"b": ["b[0]", "b[1]", "b[2]"]}
    # b's copies start 40 ms apart: first start to last end is ~120 ms, each copy's own time ~40 ms
    # (sleeps may overrun on a loaded machine, never run short)
    assert 35.0 <= out.stage_latency_ms["b"] < 85.0
    assert 85.0 <= out.stage_latency_ms["a"] < 135.0
    assert (out.end_w - out.arrival_w) * 1000.0 >= 135.0
