"""The replay estimate (``aquatope run --dry-run``): rates, CPUs busy and reserved, and the verdict, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from ray_support import inline_workflow

from aquatope.runtime.plan import (
    DISPATCH_CPU_S,
    RAY_BASELINE_CPU,
    UTILIZATION_CEILING,
    estimate_replay,
    mean_durations_s,
)


def _wf():  # type: ignore[no-untyped-def]
    """split (0.2 vCPU) -> work x4 (0.5 vCPU); 5 ms of serial work (cv 0.1) and 100 ms cold starts at 1 vCPU."""
    return inline_workflow(
        "rt-plan",
        {"split": {"handler": "rt_handlers:noop", "cpu": 0.2}, "work": {"handler": "rt_handlers:noop", "cpu": 0.5}},
        stages={"split": {}, "work": {"after": ["split"], "fanout": 4}},
    )


def test_busy_and_reserved_cpus_follow_the_busiest_minute_and_the_speedup() -> None:
    wf = _wf()
    counts = np.array([60, 600, 0])
    est = estimate_replay(wf, wf.default_configs(), counts, speedup=2.0, cluster_cpu=4.0)
    assert est.requests == 660 and est.trace_minutes == 3 and est.wall_s == pytest.approx(90.0)
    assert est.peak_rate_per_s == pytest.approx(20.0) and est.mean_rate_per_s == pytest.approx(220 / 60 * 2)
    run, cold = mean_durations_s(wf, wf.default_configs())
    assert run["split"] == pytest.approx(0.025, rel=0.05) and run["work"] == pytest.approx(0.010, rel=0.05)
    per_request = 0.2 * run["split"] + DISPATCH_CPU_S + 4 * (0.5 * run["work"] + DISPATCH_CPU_S)
    assert est.cpu_busy_peak == pytest.approx(RAY_BASELINE_CPU + 20 * per_request)
    # Little's law: 20 x 0.0275 = 0.55 containers of split (1 needed), 20 x 4 x 0.0125 = 1 of work (4 copies)
    assert est.cpu_reserved_peak == pytest.approx(0.2 * 1 + 0.5 * 4)
    assert est.per_function["work"]["containers_cold_burst"] == pytest.approx(20 * 4 * cold["work"])
    assert est.verdict == ("fits; cold starts queue" if est.cpu_reserved_cold_burst > 4.0 else "fits")


def test_the_verdict_turns_as_the_speedup_grows() -> None:
    wf = _wf()
    counts = np.array([600])
    fits = estimate_replay(wf, wf.default_configs(), counts, 1.0, 4.0)
    edge = estimate_replay(wf, wf.default_configs(), counts, fits.max_speedup, 4.0)
    assert edge.cpu_busy_peak == pytest.approx(UTILIZATION_CEILING * 4.0)
    assert estimate_replay(wf, wf.default_configs(), counts, fits.max_speedup * 1.2, 4.0).verdict.startswith("tight")
    assert estimate_replay(wf, wf.default_configs(), counts, fits.max_speedup * 3, 4.0).verdict == "overloaded"
    # at 50 requests/s, a cold start of `work` (0.15 s at 0.5 vCPU) sees some 30 invocations arrive: 15 CPUs asked
    burst = estimate_replay(wf, wf.default_configs(), np.array([3000]), 1.0, 4.0)
    assert burst.cpu_reserved_cold_burst > 4.0 and burst.verdict == "fits; cold starts queue"
