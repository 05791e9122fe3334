"""Process hygiene: a RayPlatform that started Ray leaves no actor, worker or Ray process and no cgroup behind."""

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
    import math, sys
    import numpy as np
    from aquatope.platform import PoolTarget
    from aquatope.runtime.platform import RayPlatform
    from aquatope.workflow import load_workflow

    p = RayPlatform(num_cpus=2)
    wf = load_workflow(sys.argv[1])
    p.deploy(wf)
    p.set_pool("second", PoolTarget(min_warm=2, keep_alive_s=600))
    p.submit(wf.name, p.now_s + np.arange(3) * 0.1)
    p.advance(math.inf)
    assert len(p.request_records()) == 3
    assert len(p.live_containers()) >= 3
    p.shutdown()
    print("ok", p.token)
    """
)


def _ray_processes(exclude: set[int]) -> dict[int, str]:
    """Processes whose command line mentions ray (``ray::`` workers, raylet, gcs_server, ...), except ``exclude``
    and their children (another Ray running in this test session, whose raylet keeps starting workers)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in exclude:
            continue
        if "ray::" in cmd or "raylet" in cmd or "gcs_server" in cmd or "ray/_private" in cmd:
            out[int(entry.name)] = cmd.strip()
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_shutdown_leaves_no_processes_or_cgroups_behind(tmp_path: Path) -> None:
    before = set(_ray_processes(set()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(WORKLOADS / "chain.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]
    leaked = _ray_processes(before)
    assert leaked == {}, leaked
    token = result.stdout.split()[-1]
    group = Path("/sys/fs/cgroup/cpu/aquatope")
    if group.is_dir():  # other platforms (other sessions) may have containers of their own there
        assert [p.name for p in group.iterdir() if p.is_dir() and p.name.startswith(f"{token}-")] == []
