"""ServePlatform on the session's local Ray: a workflow composed with deployment handles, pools and sizes through
Serve's API, the same records as RayPlatform. One platform for the module: Serve takes 20-40 s to start and as
long to stop on a loaded 2-core machine, and its replicas start more slowly than bare actors (about 1-2 minutes in
all, the longest tests of the suite)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from ray_support import WORKLOADS, inline_workflow, wait_until

from aquatope.platform import Platform, PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.workflow import load_workflow

pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install -e '.[ray]')")

from aquatope.runtime.serve import ServePlatform

pytestmark = pytest.mark.usefixtures("ray_local")


@pytest.fixture(scope="module")
def serve_platform() -> Iterator[ServePlatform]:
    p = ServePlatform(keep_outputs=True)
    yield p
    p.shutdown()


def _run(p: ServePlatform, workflow: str, inputs: list[object]) -> None:
    p.submit(workflow, np.full(len(inputs), p.now_s), inputs=inputs)
    p.advance(math.inf)


def test_a_workflow_runs_through_deployment_handles_with_fan_out_map_groups_and_fan_in(
    serve_platform: ServePlatform,
) -> None:
    p = serve_platform
    assert isinstance(p, Platform)
    wf = load_workflow(WORKLOADS / "fan.yaml")
    p.deploy(wf)
    _run(p, wf.name, [{"sleep_ms": 1}])
    _run(p, wf.name, [{"sleep_ms": 1}])
    first, second = p.request_records()
    assert not first.failed and not second.failed, (first.error, second.error)
    assert p.outputs(second.request_id)["join"] == {"kind": "dict", "keys": ["merge", "side"]}
    assert first.cold_starts >= 5  # every function's first replica had to start for it
    assert set(second.stage_latency_ms) == {"split", "work", "side", "merge", "join"}
    obs = p.observe()
    assert obs["work"].invocations == 6 and obs["split"].invocations == 2 and obs["work"].completed == 6
    assert obs["work"].peak_concurrency == 3 and obs["split"].cold_starts == 1
    records = p.container_records()
    assert {c.function for c in records} == {"split", "work", "side", "merge", "join"}
    assert sum(c.invocations for c in records) == 14
    assert all(c.ready_s >= c.start_s and c.config == ResourceConfig(0.1, 128) for c in records)
    assert all(c.peak_memory_mb >= 0 for c in records if c.invocations)  # beyond the replica's own baseline


def test_pools_and_sizes_go_through_serve(serve_platform: ServePlatform) -> None:
    p = serve_platform
    wf = inline_workflow(
        "rt-serve-pool", {"pooled": {"handler": "rt_handlers:pid_sleep", "cpu": 0.1, "memory_mb": 128}}
    )
    p.deploy(wf)
    p.set_pool("pooled", PoolTarget(min_warm=2, keep_alive_s=600))
    p.settle()
    wait_until(lambda: p.replica_counts("pooled").get("RUNNING") == 2, "Serve to run 2 replicas", 120.0)
    _run(p, wf.name, [{"sleep_ms": 300}, {"sleep_ms": 300}])
    recs = p.request_records()[-2:]
    assert all(r.cold_starts == 0 and not r.failed for r in recs)  # both served by pre-warmed replicas
    assert len({p.outputs(r.request_id)["pooled"] for r in recs}) == 2  # by two of them
    p.set_resources("pooled", ResourceConfig(0.2, 192))
    p.settle()
    wait_until(
        lambda: sum(1 for c in p.container_records() if c.function == "pooled" and c.config.cpu == 0.2) >= 2,
        "Serve to replace the replicas with 0.2 vCPU ones",
        180.0,
    )
    p.set_pool("pooled", PoolTarget(min_warm=0, keep_alive_s=0.0))
    p.settle()
    wait_until(lambda: not p.replica_counts("pooled"), "Serve to scale the deployment to zero", 120.0)
    records = [c for c in p.container_records() if c.function == "pooled"]
    assert len(records) >= 4 and all(math.isfinite(c.end_s) for c in records)
