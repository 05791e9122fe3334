"""RayPlatform on a two-node cluster (``ray.cluster_utils.Cluster``: a 1-CPU head and a 2-CPU worker, in a process of
its own): containers on both nodes, room counted per node, and a node lost mid-run with its requests retried on the
other, none lost. About a minute: two Ray nodes start on a 2-core machine."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ray_support import WORKLOADS

pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")

SCRIPT = textwrap.dedent(
    """
    import json, math, sys, time
    import numpy as np
    from ray.cluster_utils import Cluster
    from ray_support import inline_workflow, wait_until
    from aquatope.platform import PoolTarget
    from aquatope.runtime.platform import RayPlatform

    GB = 1024**3
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "memory": 1 * GB})
    worker = cluster.add_node(num_cpus=2, memory=2 * GB)
    cluster.wait_for_nodes()
    out = {}
    p = RayPlatform(address=cluster.address, keep_outputs=True, health_period_s=0.5)
    try:
        wf = inline_workflow("mn", {"spread": {"handler": "rt_handlers:where", "cpu": 0.5, "memory_mb": 128}})
        p.deploy(wf)
        out["nodes"] = p.node_usage()
        p.set_pool("spread", PoolTarget(min_warm=7, keep_alive_s=3600))  # room for 2 + 4: one start must wait
        wait_until(lambda: sum(c.state == "idle" for c in p.live_containers()) == 6, "six idle containers", 240)
        p.advance(p.now_s + 1.0)
        out["full"] = {"usage": p.node_usage(), "waiting": p.starts_waiting(), "live": len(p.live_containers())}
        p.set_pool("spread", PoolTarget(min_warm=0, keep_alive_s=3600))
        p.submit(wf.name, np.full(6, p.now_s), inputs=[{"sleep_ms": 4000}] * 6)
        wait_until(lambda: sum(c.state == "busy" for c in p.live_containers()) == 6, "six busy containers", 120)
        out["busy_nodes"] = sorted({c.node_id for c in p.live_containers() if c.state == "busy"})
        cluster.remove_node(worker, allow_graceful=False)
        p.advance(math.inf)
        recs = p.request_records()
        out["failed"] = [r.error for r in recs if r.failed]
        out["served_by"] = sorted({p.outputs(r.request_id)["spread"]["node"] for r in recs if not r.failed})
        wait_until(lambda: worker.node_id not in p.node_usage(), "Ray to report the worker gone", 180)
        out["after"] = p.node_usage()
        out["worker"] = worker.node_id
    finally:
        p.shutdown()
        cluster.shutdown()
    print(json.dumps(out))
    """
)


def test_containers_spread_over_two_nodes_and_survive_losing_one() -> None:
    support = Path(__file__).resolve().parents[1] / "support"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(support), str(WORKLOADS), *sys.path])}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    out = json.loads(result.stdout.strip().splitlines()[-1])
    head = next(n for n in out["nodes"] if n != out["worker"])
    assert {n: v["cpu"] for n, v in out["nodes"].items()} == {head: 1.0, out["worker"]: 2.0}
    usage = out["full"]["usage"]
    assert usage[head]["cpu_reserved"] == 1.0 and usage[out["worker"]]["cpu_reserved"] == 2.0  # full, not over
    assert out["full"]["waiting"] == 1 and out["full"]["live"] == 6  # the seventh start waits for room
    assert out["busy_nodes"] == sorted([head, out["worker"]])  # requests ran on both nodes
    assert out["failed"] == []  # the lost node's requests were retried on the head
    assert out["served_by"] == [head]
    assert list(out["after"]) == [head] and out["after"][head]["cpu_reserved"] <= 1.0
