"""A run's protocol on a platform other than Ray (the simulator, as ``bench/sim_vs_ray.py`` uses it)."""

from __future__ import annotations

from aquatope.experiments.ray_run import RunSpec, run_on_platform
from aquatope.sim import SimConfig, Simulator
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow


def test_a_replay_on_the_simulator_runs_to_the_end() -> None:
    wf = load_workflow("trip-booking")
    trace = load_trace("synthetic:poisson:rate=20,minutes=40,functions=2", seed=0)
    spec = RunSpec("openwhisk", minutes=3, start_minute=30, function="0", seed=0, on_lag="warn")
    r = run_on_platform(wf, trace, spec, lambda speedup, pricing, lag: Simulator(SimConfig(), seed=0), "sim")
    assert r.metrics.requests > 0 and r.metrics.failed_requests == 0
