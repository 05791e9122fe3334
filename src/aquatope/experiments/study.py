"""A study: scenarios x systems x workflows x seeds x windows (x each system's knob values with ``pareto``), every
run an independent task, executed serially or on Ray, results streamed to disk so an interrupted study resumes.

**Tasks.** The runs of one pair (scenario, workflow, seed, window: the same arrivals and random streams) form one
task, every system and knob value: the tenants settle once per task, and each sizer sizes once per task (its
initial right-sizing happens before the pool acts, so it is the same for every knob value); each run continues
from its own deep copy of the simulator, so its result is what a fresh run gives. Re-tunes are each run's own.

**Forecasters.** For each seed, one global forecaster is fitted on the training part of the per-function histories
of every built-in evaluation workflow (:data:`FORECAST_WORKFLOWS`, whichever are run), so a workflow's forecasts do
not depend on which others are in the study; each run gets the view of its own functions.

**Files** (``out_dir``): ``runs.jsonl``, one line per finished run (its figures) or failed run (its error and
traceback), appended and flushed as each finishes; on start, lines already there are kept and their runs skipped
(resume). A torn last line is ignored. Each line records the arithmetic it was computed with (``numerics``,
:mod:`aquatope.numerics`); on Ray the workers get the driver's oneDNN cap through the job's ``runtime_env``.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.experiments.protocol import make_workload, training_classes
from aquatope.experiments.runner import RunSpec, StudyInputs, run_one
from aquatope.experiments.systems import REFERENCE_FACTORS, Budgets, make_system_forecaster, system_spec
from aquatope.forecast import Forecaster
from aquatope.jsonio import clean_json
from aquatope.numerics import arithmetic, ray_env_vars
from aquatope.prewarm import knob_for
from aquatope.workflow import load_workflow

FORECAST_WORKFLOWS = ("chatbot", "map-reduce", "ml-pipeline", "social-network", "trip-booking", "video-processing")
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class StudyDesign:
    """What a study runs (every field recorded with the results)."""

    scenarios: tuple[str, ...]
    systems: tuple[str, ...]
    workflows: tuple[str, ...]
    seeds: tuple[int, ...]
    windows: tuple[str, ...]
    pareto: bool = False

    def __post_init__(self) -> None:
        for name in ("scenarios", "systems", "workflows", "seeds", "windows"):
            if not getattr(self, name):
                raise InputError(f"the study needs at least one of {name}", field=f"--{name}")
        if any(s < 0 for s in self.seeds):
            raise InputError(f"seeds must be >= 0, got {self.seeds}", field="--seeds")

    def knobs(self, system: str) -> tuple[float | None, ...]:
        """The knob values a system runs at: its default only (None), or with ``pareto`` also the rest of its knob's
        sweep (the pool's; a reference's is its sizing target, :data:`REFERENCE_FACTORS`)."""
        spec = system_spec(system)
        if not self.pareto:
            return (None,)
        if spec.reference:
            return (None, *(f for f in REFERENCE_FACTORS if f != 1.0))
        knob = knob_for(spec.pool)  # the default runs once, as None: the per-system tables and the claims read it
        return (None, *(v for v in knob.values if v != knob.default))

    def tasks(self) -> list[list[RunSpec]]:
        """Every run, grouped into tasks by pair (module docstring), in a stable order."""
        out = []
        for scenario in self.scenarios:
            for seed in self.seeds:
                for window in self.windows:
                    for workflow in self.workflows:
                        out.append(
                            [
                                RunSpec(scenario, system, workflow, seed, window, k)
                                for system in self.systems
                                for k in self.knobs(system)
                            ]
                        )
        return out


def fit_forecasters(inputs: StudyInputs, design: StudyDesign) -> dict[int, dict[str, Forecaster]]:
    """Per seed, per workflow: the view of one global forecaster fitted on every evaluation workflow's training
    histories (module docstring); empty when no system reads forecasts."""
    systems = [system_spec(s) for s in design.systems]
    reader = next((s for s in systems if s.forecaster is not None), None)
    if reader is None:
        return {}
    names = tuple(dict.fromkeys((*FORECAST_WORKFLOWS, *design.workflows)))
    p = inputs.protocol
    window = design.windows[0]
    out: dict[int, dict[str, Forecaster]] = {}
    for seed in design.seeds:
        loads = [make_workload(inputs.trace, p, load_workflow(n), seed, window, list(inputs.classes)) for n in names]
        histories = [w.function_history()[:, : p.train_minutes] for w in loads]
        model = make_system_forecaster(reader, inputs.budgets, seed)
        assert model is not None
        offsets = np.cumsum([0] + [h.shape[0] for h in histories])
        select = getattr(model, "select", None)
        if callable(select) and getattr(model, "selectable", False):
            model.fit(np.concatenate(histories, axis=0))
            out[seed] = {n: select(list(range(offsets[i], offsets[i + 1]))) for i, n in enumerate(names)}
        else:
            out[seed] = {}
            for n, h in zip(names, histories, strict=True):
                per = make_system_forecaster(reader, inputs.budgets, seed)
                assert per is not None
                out[seed][n] = per.fit(h)
    return out


def run_task(task: Sequence[RunSpec], inputs: StudyInputs, forecasters: dict[str, Forecaster]) -> list[dict[str, Any]]:
    """The runs of one task (module docstring); a failing run gives an error record, never an exception."""
    out = []
    cache: dict[str, Any] = {}
    for spec in task:
        began = time.perf_counter()
        try:
            fc = forecasters.get(spec.workflow) if system_spec(spec.system).forecaster else None
            result = run_one(spec, inputs, fc, sizing_cache=cache)
            result["key"] = spec.key
            out.append(clean_json(result))
        except Exception as exc:  # a study must survive one bad run, and say so
            out.append(
                {
                    "key": spec.key,
                    "spec": spec.__dict__,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=8),
                    "wall_s": time.perf_counter() - began,
                }
            )
        out[-1]["numerics"] = arithmetic()  # what it was computed with (aquatope.numerics)
    return out


def read_runs(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a ``runs.jsonl`` (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


class RunLog:
    """Append-only ``runs.jsonl``: each result is one line, flushed and synced as it arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._drop_torn_tail()
        self.done = {r["key"] for r in read_runs(path) if "key" in r and "error" not in r}

    def _drop_torn_tail(self) -> None:
        """An interrupted write leaves a last line without its newline: cut it, so that appending goes on cleanly."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def append(self, results: list[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            for r in results:
                handle.write(json.dumps(r, allow_nan=False) + "\n")
                if "error" not in r:
                    self.done.add(r["key"])
            handle.flush()
            os.fsync(handle.fileno())


def _serial(
    tasks: list[list[RunSpec]], inputs: StudyInputs, forecasters: dict[int, dict[str, Forecaster]]
) -> Iterator[list[dict[str, Any]]]:
    for task in tasks:
        yield run_task(task, inputs, forecasters.get(task[0].seed, {}))


def _on_ray(
    tasks: list[list[RunSpec]], inputs: StudyInputs, forecasters: dict[int, dict[str, Forecaster]], address: str | None
) -> Iterator[list[dict[str, Any]]]:
    import ray

    started = False
    if not ray.is_initialized():
        env = {"env_vars": ray_env_vars()}  # the workers predict with the driver's arithmetic (aquatope.numerics)
        ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env=env)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        inputs_ref = ray.put(inputs)
        models = {seed: ray.put(m) for seed, m in forecasters.items()}
        empty: Any = ray.put({})
        pending = [remote.remote(task, inputs_ref, models.get(task[0].seed, empty)) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def run_study(
    design: StudyDesign,
    inputs: StudyInputs,
    out_dir: Path,
    *,
    ray_address: str | None = "local",
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) the study; returns every run's record (those found on disk included).

    ``ray_address``: ``"local"`` (a local Ray on all cores), an address (``auto``, ``ray://...``), or None (serial).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(out_dir / "runs.jsonl")
    tasks = [[s for s in t if s.key not in log.done] for t in design.tasks()]
    tasks = [t for t in tasks if t]
    total = sum(len(t) for t in design.tasks())
    finished = total - sum(len(t) for t in tasks)
    if progress:
        progress(finished, total, "fitting forecasters" if tasks else "nothing left to run")
    forecasters = fit_forecasters(inputs, design) if tasks else {}
    if ray_address is not None and tasks:
        stream = _on_ray(tasks, inputs, forecasters, None if ray_address == "local" else ray_address)
    else:
        stream = _serial(tasks, inputs, forecasters)
    for results in stream:
        log.append(results)
        finished += len(results)
        if progress:
            last = results[-1]
            progress(finished, total, last.get("key", "") + (" (failed)" if "error" in last else ""))
    keys = {s.key for t in design.tasks() for s in t}
    runs = [r for r in read_runs(out_dir / "runs.jsonl") if r.get("key") in keys]
    latest: dict[str, dict[str, Any]] = {}
    for r in runs:
        if r["key"] not in latest or "error" not in r:
            latest[r["key"]] = r
    return list(latest.values())


def study_inputs(trace: Any, protocol: Any, budgets: Budgets, retune: Any) -> StudyInputs:
    """The shared inputs of a study, with the trace's traffic classes from its training part."""
    return StudyInputs(trace, protocol, budgets, retune, tuple(training_classes(trace, protocol)))
