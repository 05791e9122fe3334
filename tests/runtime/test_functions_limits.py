"""Binding workflows to code and enforcing limits: pure parts, no Ray needed."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from ray_support import PERF, WORKLOADS, inline_workflow

from aquatope.errors import InputError
from aquatope.runtime.functions import assemble_payload, bind, bind_workflow, takes_context
from aquatope.runtime.limits import (
    detect_cpu_mode,
    join_cpu_cgroup,
    memory_figures,
    peak_resident_mb,
    release_cgroup,
    sweep_stale,
    thread_count,
)
from aquatope.workflow import load_workflow, workflow_from_dict


def test_yaml_handlers_resolve_to_callables() -> None:
    code = bind_workflow(load_workflow(WORKLOADS / "chain.yaml"))
    assert code["first"].init is not None and code["first"].wants_ctx
    assert code["second"].init is None
    assert code["first"].handler({"sleep_ms": 0}, SimpleNamespace(stage="first", copy=0, state=1))["state"] == 1


@pytest.mark.parametrize(
    ("handler", "needle"),
    [
        ("no_such_module:f", "cannot import module 'no_such_module'"),
        ("rt_handlers:missing", "has no attribute 'missing'"),
        ("rt_handlers:PERF", "has no attribute"),
    ],
)
def test_bad_references_name_the_file_and_field(handler: str, needle: str) -> None:
    wf = inline_workflow("rt-refs", {"f": {"handler": handler}})
    with pytest.raises(InputError) as err:
        bind_workflow(wf)
    assert needle in str(err.value)
    assert "rt-refs.yaml" in str(err.value) and "functions.f.handler" in str(err.value)


def test_a_function_without_handler_cannot_run_unless_bound() -> None:
    wf = load_workflow("trip-booking")
    with pytest.raises(InputError, match="no handler"):
        bind_workflow(wf)
    overrides = {f: bind(f, lambda x: x) for f in wf.function_names}
    assert set(bind_workflow(wf, overrides)) == set(wf.function_names)
    with pytest.raises(InputError, match="not callable"):
        bind("f", 3)  # type: ignore[arg-type]


def test_the_loader_checks_the_shape_of_code_references() -> None:
    data = {
        "name": "x",
        "qos": {"latency_ms": 100},
        "functions": {"f": {"resources": {"cpu": 1, "memory_mb": 128}, "perf": PERF}},
        "stages": {"f": {}},
    }
    data["functions"]["f"]["handler"] = "not a reference"
    with pytest.raises(InputError, match="module:function"):
        workflow_from_dict(data, base_dir=Path("."))


def test_payloads_are_assembled_by_shape() -> None:
    assert assemble_payload([("", 1, False)], (7,)) == 7
    assert assemble_payload([("a", 3, True)], (1, 2, 3)) == [1, 2, 3]
    assert assemble_payload([("a", 1, False), ("b", 2, True)], (1, 2, 3)) == {"a": 1, "b": [2, 3]}
    assert takes_context(lambda x, ctx: x) and not takes_context(lambda x: x)


def test_thread_counts_and_mode_detection(tmp_path: Path) -> None:
    assert [thread_count(c) for c in (0.1, 1.0, 1.5, 4.0)] == [1, 1, 2, 4]
    assert detect_cpu_mode(tmp_path) == "threads"
    assert detect_cpu_mode() in ("cgroup-v1", "cgroup-v2", "threads")


def test_cgroup_v1_layout_join_release_and_sweep(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    group = join_cpu_cgroup("c1", 0.25, "cgroup-v1", root=tmp_path)
    assert group == tmp_path / "cpu" / "aquatope" / "c1"
    assert (group / "cpu.cfs_quota_us").read_text() == "25000"
    assert (group / "cpu.cfs_period_us").read_text() == "100000"
    assert (group / "cgroup.procs").read_text() == str(os.getpid())
    (group / "cgroup.procs").write_text("")  # the process left (a plain directory here, so remove the files)
    assert sweep_stale(tmp_path) == 0  # files inside: rmdir fails quietly on a plain file system
    for f in group.iterdir():
        f.unlink()
    release_cgroup(group)
    assert not group.exists()


@pytest.mark.skipif(detect_cpu_mode() != "cgroup-v1", reason="needs a writable cgroup v1 cpu hierarchy")
def test_sweep_until_gone_waits_for_a_killed_process_to_leave_its_cgroup() -> None:
    """A container's cgroup empties only once its process has exited: the sweep retries until then (a single sweep
    right after the kill left the cgroup behind under load), and gives up at its timeout, naming what is left."""
    import subprocess
    import threading
    import uuid

    from aquatope.runtime.limits import CGROUP_ROOT, GROUP, sweep_until_gone

    prefix = f"test{uuid.uuid4().hex[:6]}-"
    group = CGROUP_ROOT / "cpu" / GROUP / f"{prefix}1"
    group.mkdir(parents=True)
    child = subprocess.Popen(["sleep", "30"])
    try:
        (group / "cgroup.procs").write_text(str(child.pid))
        assert sweep_until_gone(prefix, timeout_s=0.2) == [group.name]  # still in it: left, and said so
        threading.Timer(0.3, child.kill).start()
        threading.Timer(0.4, child.wait).start()
        assert sweep_until_gone(prefix, timeout_s=10.0) == []
        assert not group.exists()
    finally:
        child.kill()
        child.wait()
        if group.exists():
            group.rmdir()


def test_peak_resident_memory_is_at_least_the_resident_set_and_counts_from_a_baseline() -> None:
    rss = memory_figures()[1]
    if rss == 0:
        pytest.skip("no /proc here")
    assert peak_resident_mb() >= rss / 2**20 > 0
    assert peak_resident_mb(baseline_bytes=10**15) == 0.0  # never below zero
