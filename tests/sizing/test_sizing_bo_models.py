"""The DAG surrogate places a configuration's end-to-end location request by request: parallel branches that are
close in time add the spread of their maximum, which the critical path of their locations leaves out."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from aquatope.resources import Pricing, ResourceConfig, ResourceSpace
from aquatope.sizing.base import Measurement, SizingProblem
from aquatope.sizing.bo_models import (
    DagSurrogate,
    FailureModel,
    clamp_memory,
    critical_log,
    memory_peaks,
    stage_residual_rows,
)
from aquatope.sizing.coords import LogCoords
from aquatope.sizing.gp import AmdahlGP
from aquatope.workflow import load_workflow

SD = 0.3
"""Log-latency spread of every stage's requests in the synthetic measurements."""


def _problem() -> SizingProblem:
    wf = load_workflow("ml-pipeline")  # image -> object -> (human | vehicle): two parallel branches at the end
    return SizingProblem(wf, ResourceSpace.named("decoupled"), Pricing.cloud_run(), budget=20, seed=0)


def _measurement(p: SizingProblem, cpu: float, k: int, rng: np.random.Generator, failed: bool = False) -> Measurement:
    """k requests, every stage lognormal around 500 ms / cpu with spread SD (independent stages)."""
    wf = p.workflow
    config = {f: ResourceConfig(cpu, 1024) for f in p.functions}
    stages = {s.name: 500.0 / cpu * np.exp(SD * rng.standard_normal(k)) for s in wf.stages}
    if failed:
        stages["human-detection"][0] = np.nan
    e2e = stages["image-processing"] + stages["object-detection"]
    e2e = e2e + np.maximum(stages["human-detection"], stages["vehicle-detection"])
    busy = {f: float(np.nanmean(stages[f])) / 1000.0 for f in p.functions}
    return Measurement(config, e2e, stages, 1e-5, p.quantile, p.qos_ms, busy)


def _surrogate(p: SizingProblem, data: list[Measurement]) -> DagSurrogate:
    return DagSurrogate(p, LogCoords(p).many([m.config for m in data]), data)


def test_residual_rows_are_centred_per_measurement_and_skip_failures() -> None:
    p = _problem()
    rng = np.random.default_rng(0)
    data = [_measurement(p, cpu, 30, rng) for cpu in (1.0, 2.0)] + [_measurement(p, 1.5, 30, rng, failed=True)]
    rows = stage_residual_rows(p.workflow, data)
    assert rows is not None and rows.shape == (60, len(p.workflow.stages))
    np.testing.assert_allclose(rows[:30].mean(axis=0), 0.0, atol=1e-12)
    assert abs(rows.std() - SD) < 0.05
    assert stage_residual_rows(p.workflow, [_measurement(p, 1.0, 1, rng)]) is None


def test_close_parallel_branches_are_placed_above_their_critical_path() -> None:
    """Stages of 200 and 300 ms, then two branches of 400 ms each: the mean log of each request's path is above the
    log of the locations' critical path by what the larger of two random branch times adds (0.103 by Monte Carlo
    for SD 0.3); with one branch at 1,200 ms it dominates and only the spread of a sum is left (0.021). The
    placement draws 64 measured rows, so each figure is within about 0.03 (one standard error) of those."""
    p = _problem()
    rng = np.random.default_rng(1)
    s = _surrogate(p, [_measurement(p, cpu, 40, rng) for cpu in (0.5, 1.0, 1.5, 2.0, 3.0)])
    e = np.exp(SD * rng.standard_normal((4, 200_000)))
    want_lift = np.log(200 * e[0] + 300 * e[1] + 400 * np.maximum(e[2], e[3])).mean() - np.log(900.0)
    want_rest = np.log(200 * e[0] + 300 * e[1] + np.maximum(1200 * e[2], 400 * e[3])).mean() - np.log(1700.0)
    balanced = np.log([[200.0, 300.0, 400.0, 400.0]])
    lopsided = np.log([[200.0, 300.0, 1200.0, 400.0]])
    lift = float(s.place(balanced)[0] - critical_log(p.workflow, balanced)[0])
    rest = float(s.place(lopsided)[0] - critical_log(p.workflow, lopsided)[0])
    assert abs(lift - want_lift) < 0.06 and abs(rest - want_rest) < 0.06 and lift - rest > 0.05
    s.spread = None  # with no request rows (one-request measurements) the placement is the critical path itself
    np.testing.assert_allclose(s.place(balanced), critical_log(p.workflow, balanced))


def test_the_surrogate_predicts_balanced_branches_without_the_bias_of_a_constant_offset() -> None:
    """Trained where one branch dominates (the vehicle branch at half the human branch's cpu, and the reverse), the
    model is asked about configurations whose branches are equal, where the max of two random times lifts the
    location by about SD / sqrt(pi) = 0.17. A constant offset (the critical path of the locations plus the
    training data's mean residual) predicts them too fast by about that much; the placement does not."""
    p = _problem()
    rng = np.random.default_rng(2)
    wf = p.workflow
    data = []
    for cpu, ratio in [(1.0, 3.0), (1.5, 1 / 3), (2.0, 3.0), (0.7, 1 / 3), (1.2, 3.0), (2.5, 1 / 3)]:
        m = _measurement(p, cpu, 40, rng)
        v = m.stage_latency_ms["vehicle-detection"] * ratio
        stages = {**m.stage_latency_ms, "vehicle-detection": v}
        e2e = stages["image-processing"] + stages["object-detection"] + np.maximum(stages["human-detection"], v)
        config = {**m.config, "vehicle-detection": ResourceConfig(cpu / ratio, 1024)}
        data.append(Measurement(config, e2e, stages, 1e-5, p.quantile, p.qos_ms, m.busy_s))
    s = _surrogate(p, data)
    truth = _measurement(p, 1.2, 20_000, rng)
    x = LogCoords(p).many([truth.config])
    err = float(np.log(truth.latency_ms).mean() - s.predict_loc([truth.config], x)[0][0])
    s.spread = None
    s.offset, _ = s._calibrate(p, np.array([_stage_locs(wf, m) for m in data]), data)
    err_constant = float(np.log(truth.latency_ms).mean() - s.predict_loc([truth.config], x)[0][0])
    assert abs(err) < 0.05 < err_constant


def _stage_locs(wf, m: Measurement) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([np.log(m.stage_latency_ms[s.name]).mean() for s in wf.stages])


def _at_memory(p: SizingProblem, m: Measurement, memory_mb: int, used: dict[str, float]) -> Measurement:
    config = {f: ResourceConfig(c.cpu, memory_mb) for f, c in m.config.items()}
    return dataclasses.replace(m, config=config, memory_used_mb=used)


def test_memory_peaks_count_only_peaks_with_room_under_the_limit() -> None:
    p, rng = _problem(), np.random.default_rng(0)
    roomy = _at_memory(p, _measurement(p, 1.0, 5, rng), 1024, {"image-processing": 700.0, "object-detection": 1024.0})
    tight = _at_memory(p, _measurement(p, 1.0, 5, rng), 512, {"image-processing": 512.0, "vehicle-detection": math.nan})
    assert memory_peaks(p, [roomy, tight]) == {"image-processing": 700.0}  # at its limit it only wanted more
    coupled = dataclasses.replace(p, space=ResourceSpace.named("coupled"))
    assert memory_peaks(coupled, [roomy]) == {}  # there memory also sets CPU


def test_memory_above_the_peak_is_one_input_and_known_to_run() -> None:
    p, rng = _problem(), np.random.default_rng(0)
    coords = LogCoords(p)
    configs = [{f: ResourceConfig(1.0, mem) for f in p.functions} for mem in (2048, 1024, 512)]
    x = clamp_memory(coords, coords.many(configs), {"image-processing": 700.0})
    col = p.functions.index("image-processing") * 2 + 1
    assert x[0, col] == x[1, col] == coords.mem_coordinate(700.0) and x[2, col] == coords.many(configs)[2, col]
    other = p.functions.index("object-detection") * 2 + 1
    assert x[0, other] > x[1, other]  # no peak measured: memory stays as it is
    ran = [_at_memory(p, _measurement(p, 1.0, 5, rng), 1024, {"image-processing": 700.0})]
    small = [
        {f: ResourceConfig(1.0, 1024 if f != "image-processing" else mem) for f in p.functions} for mem in (768, 512)
    ]
    blind = FailureModel(p, ran).p_runs(small)
    used = FailureModel(p, ran, memory_peaks(p, ran)).p_runs(small)
    assert blind[0] < 1.0 and used[0] == 1.0  # 768 MB holds a 700-MB peak
    assert blind[1] < used[1] < 1.0  # below the peak: the prior, between the floor and the nearer known size


def test_the_flat_trend_assumes_no_speed_up_beyond_the_largest_cpu_measured() -> None:
    cpu = np.array([0.5, 1.0, 1.0, 2.0, 2.0])
    y = np.log(2.0 / cpu) + np.array([0.01, -0.01, 0.02, 0.0, -0.02])  # all parallel work: a = 0, b = 2
    x = np.log(cpu)[:, None]
    far = np.array([2.0, 8.0])
    amdahl = AmdahlGP(x, cpu, y, None).posterior(np.log(far)[:, None], far)[0]
    flat = AmdahlGP(x, cpu, y, None, flat=True).posterior(np.log(far)[:, None], far)[0]
    assert abs(amdahl[0] - flat[0]) < 0.05  # inside the data: the same model
    assert amdahl[1] < amdahl[0] - 1.0  # Amdahl extrapolated: 4x the CPU, about 4x faster
    assert abs(flat[1] - flat[0]) < 0.3  # flat: about as fast as at the largest CPU measured
