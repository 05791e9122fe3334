"""A study: tasks group a system's knob values; results stream to disk; an interrupted study resumes; a failing run
is recorded, not fatal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aquatope.experiments import study as study_module
from aquatope.experiments.protocol import Protocol, training_classes
from aquatope.experiments.runner import RunSpec, StudyInputs
from aquatope.experiments.study import StudyDesign, read_runs, run_study
from aquatope.traces import InvocationTrace


def _inputs() -> StudyInputs:
    counts = np.ones((2, 40), dtype=np.int64)
    trace = InvocationTrace(("f0", "f1"), counts, source="tiny")
    p = Protocol(train_minutes=20, window_minutes=10, warmup_minutes=0, settle_minutes=0, functions_per_workflow=1)
    return StudyInputs(trace, p, classes=tuple(training_classes(trace, p)))


def _fake_run(calls: list[str]) -> Any:
    def run(spec: RunSpec, inputs: StudyInputs, forecaster: Any = None, sizing_cache: Any = None) -> dict[str, Any]:
        calls.append(spec.key)
        if spec.system == "knative" and spec.seed == 1:
            raise RuntimeError("boom")
        return {"spec": spec.__dict__, "metrics": {"cost_usd": {"total": 1.0}}}

    return run


def test_tasks_group_the_runs_of_one_pair() -> None:
    design = StudyDesign(("calm",), ("openwhisk", "lower-bound"), ("trip-booking", "chatbot"), (0,), ("peak",), True)
    tasks = design.tasks()
    assert [len(t) for t in tasks] == [10, 10]  # per workflow: OpenWhisk's keep-alive sweep and the reference's
    first = tasks[0]
    assert {s.pair for s in first} == {("calm", "trip-booking", 0, "peak")}
    # the default (600 s) runs once, as the default knob: the per-system tables and the claims read it
    assert {s.knob for s in first if s.system == "openwhisk"} == {150.0, 300.0, None, 1200.0, 2400.0}
    assert {s.knob for s in first if s.system == "lower-bound"} == {None, 0.9, 0.8, 0.7, 0.6}
    assert len({s.key for t in tasks for s in t}) == 20


def test_an_interrupted_study_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(study_module, "run_one", _fake_run(calls))
    design = StudyDesign(("calm",), ("openwhisk", "knative"), ("trip-booking",), (0, 1), ("peak",))
    records = run_study(design, _inputs(), tmp_path, ray_address=None)
    assert len(calls) == 4 and len(records) == 4
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1 and "boom" in failed[0]["error"] and "Traceback" in failed[0]["traceback"]
    # interrupt: the last good line is lost and a torn line is left behind
    log = tmp_path / "runs.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    good = [ln for ln in lines if "error" not in json.loads(ln)]
    log.write_text("".join(good[:-1]) + good[-1][:20])
    calls.clear()
    again = run_study(design, _inputs(), tmp_path, ray_address=None)
    # only the lost run and the failed one run again; the torn line is ignored
    assert sorted(calls) == sorted([json.loads(good[-1])["key"], failed[0]["key"]])
    assert len(again) == 4 and len(read_runs(log)) >= 4
    calls.clear()
    run_study(design, _inputs(), tmp_path, ray_address=None)
    assert calls == [failed[0]["key"]]  # only the failing run is retried


def test_each_row_records_the_arithmetic_it_was_computed_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_module, "run_one", _fake_run([]))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    design = StudyDesign(("calm",), ("openwhisk", "knative"), ("trip-booking",), (0, 1), ("peak",))
    records = run_study(design, _inputs(), tmp_path, ray_address=None)
    assert len(records) == 4 and any("error" in r for r in records)  # failed runs record it too
    assert all(r["numerics"]["ONEDNN_MAX_CPU_ISA"] == "AVX2" and "torch" in r["numerics"] for r in records)
