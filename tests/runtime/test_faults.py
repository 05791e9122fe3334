"""Faults on the Ray platform: a handler that never returns, one that kills its own process, a container killed
mid-request. Each request ends in a record (done, or failed with the reason) and no process is left behind."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest
from ray_support import inline_workflow, wait_until

from aquatope.platform import PoolTarget

pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")

from aquatope.runtime.platform import RayPlatform, pid_alive

pytestmark = pytest.mark.usefixtures("ray_local")


def _busy_pid(p: RayPlatform) -> int:
    """Wait until a container is busy; its pid."""
    found: list[int] = []

    def busy() -> bool:
        p.advance(p.now_s + 0.05)
        found[:] = [c.pid for c in p.live_containers() if c.state == "busy" and c.pid]
        return bool(found)

    wait_until(busy, "an invocation to start", 180.0)
    return found[0]


def test_a_handler_that_never_returns_times_out_and_its_container_is_replaced() -> None:
    p = RayPlatform(keep_outputs=True)
    try:
        wf = inline_workflow("rt-hang", {"stuck": {"handler": "rt_handlers:maybe_hang", "timeout_s": 1.0}})
        p.deploy(wf)
        p.set_pool("stuck", PoolTarget(min_warm=1, keep_alive_s=600))
        p.submit(wf.name, np.array([p.now_s]), inputs=[{"hang": True}])
        hung = _busy_pid(p)
        p.advance(math.inf)
        (rec,) = p.request_records()
        assert rec.failed and rec.error is not None
        assert "stuck[0]: timed out after 1 s" in rec.error and "replaced" in rec.error
        wait_until(lambda: not pid_alive(hung), "the stuck container's process to end", 60.0)
        wait_until(lambda: any(c.state == "idle" for c in p.live_containers()), "a replacement container", 180.0)
        p.submit(wf.name, np.array([p.now_s]), inputs=[{"hang": False}])
        p.advance(math.inf)
        ok = p.request_records()[-1]
        assert not ok.failed and ok.cold_starts == 0  # served by the replacement, already warm
        assert p.outputs(ok.request_id)["stuck"] != hung
        first, second = p.container_records()
        assert first.end_s <= second.ready_s + 1.0 and math.isfinite(first.end_s)
    finally:
        p.shutdown()


def test_a_handler_that_exits_its_process_fails_its_request_after_bounded_retries() -> None:
    p = RayPlatform(max_retries=1)
    try:
        wf = inline_workflow(
            "rt-exit", {"quits": {"handler": "rt_handlers:exit_now"}, "after": {"handler": "rt_handlers:noop"}}
        )
        p.deploy(wf)
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
        (rec,) = p.request_records()
        assert rec.failed and rec.error is not None
        assert rec.error.startswith("quits[0]: container died 2 times (retries exhausted)")
        assert math.isnan(rec.stage_latency_ms["after"])
        quits = [c for c in p.container_records() if c.function == "quits"]
        assert len(quits) == 2 and all(math.isfinite(c.end_s) for c in quits)
        assert p.live_containers() == []
    finally:
        p.shutdown()


def test_a_container_killed_mid_request_is_replaced_and_the_request_retried() -> None:
    p = RayPlatform(keep_outputs=True)
    try:
        wf = inline_workflow("rt-kill", {"victim": {"handler": "rt_handlers:pid_sleep", "cpu": 0.1, "memory_mb": 128}})
        p.deploy(wf)
        p.submit(wf.name, np.array([p.now_s]), inputs=[{"sleep_ms": 1500}])
        victim = _busy_pid(p)
        os.kill(victim, signal.SIGKILL)
        p.advance(math.inf)
        (rec,) = p.request_records()
        assert not rec.failed, rec.error
        assert rec.cold_starts == 1  # counted once, though it waited on two starts
        assert p.outputs(rec.request_id)["victim"] != victim  # served by the replacement
        first, second = p.container_records()
        assert first.end_s < second.end_s and second.invocations == 1
    finally:
        p.shutdown()
