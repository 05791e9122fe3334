"""``aquatope evaluate`` and ``aquatope study``: a study of systems x workflows x seeds x windows in scenarios
(:mod:`aquatope.experiments.study`), analysed into figures with intervals and verdicts
(:mod:`aquatope.experiments.analysis`) and written as ``results.json``, ``report.md`` and plots
(:mod:`aquatope.experiments.report`).

``evaluate`` with no arguments runs a reduced study: the ``shared`` scenario, the named systems, the six main
workflows, three seeds, the peak window of one hour. ``study`` runs the full design: every named scenario, the
named systems and the ablations, five seeds, the peak and the quiet window, and each system's knob swept (Pareto).
The protocol (what trains, what replays, how functions map to workflows) is
:class:`~aquatope.experiments.protocol.Protocol`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aquatope.errors import InputError
from aquatope.experiments.analysis import analyze
from aquatope.experiments.protocol import Protocol, window_starts
from aquatope.experiments.study import ProgressFn, StudyDesign, run_study, study_inputs
from aquatope.experiments.systems import DEFAULT_SYSTEMS, NAMED, Budgets, system_spec
from aquatope.retune import RetuneRule
from aquatope.scenarios import load_scenario, scenario_names
from aquatope.traces import InvocationTrace

MAIN_WORKFLOWS = ("chatbot", "map-reduce", "ml-pipeline", "social-network", "trip-booking", "video-processing")
EVALUATE_WORKFLOWS = ("ml-pipeline", "trip-booking")
"""The reduced evaluation's workflows: an analytics DAG with fan-out and an interactive chain (one of each kind,
the uncertainty issue's pair), so that ``aquatope evaluate`` with no arguments fits in about 10 minutes on 2 cores;
``--workflows all`` runs the six."""
ABLATIONS = ("aquatope-prewarm", "aquatope-sizing", "aquatope-design")


@dataclass(frozen=True)
class EvaluateConfig:
    """What to run; every field is recorded in the results' ``setup``."""

    scenarios: tuple[str, ...] = ("shared",)
    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    workflows: tuple[str, ...] = EVALUATE_WORKFLOWS
    seeds: int = 3
    first_seed: int = 0
    """Seeds ``first_seed .. first_seed + seeds - 1``: a later block is data no earlier study has seen."""
    protocol: Protocol = field(default_factory=lambda: Protocol(window_minutes=60))
    budgets: Budgets = field(default_factory=Budgets)
    retune: RetuneRule = field(default_factory=RetuneRule)
    pareto: bool = False

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise InputError(f"must be >= 1, got {self.seeds}", field="--seeds")
        if self.first_seed < 0:
            raise InputError(f"must be >= 0, got {self.first_seed}", field="--first-seed")
        for s in self.systems:
            system_spec(s)
        for s in self.scenarios:
            load_scenario(s)

    def design(self) -> StudyDesign:
        return StudyDesign(
            self.scenarios,
            self.systems,
            self.workflows,
            tuple(range(self.first_seed, self.first_seed + self.seeds)),
            self.protocol.windows,
            self.pareto,
        )


def full_study_config(**overrides: Any) -> EvaluateConfig:
    """The full design (module docstring), with ``overrides``."""
    base: dict[str, Any] = {
        "scenarios": tuple(n for n in scenario_names()),
        "systems": (*DEFAULT_SYSTEMS, "clairvoyant-interval", *ABLATIONS),
        "workflows": MAIN_WORKFLOWS,
        "seeds": 5,
        "protocol": Protocol(window_minutes=120, windows=("peak", "quiet")),
        "pareto": True,
    }
    base.update(overrides)
    return EvaluateConfig(**base)


def evaluate(
    trace: InvocationTrace,
    config: EvaluateConfig,
    out_dir: Path,
    *,
    ray_address: str | None = "local",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run (or resume, from ``out_dir/runs.jsonl``) the study and analyse it; the JSON-ready results."""
    began = time.perf_counter()
    design = config.design()
    inputs = study_inputs(trace, config.protocol, config.budgets, config.retune)
    records = run_study(design, inputs, out_dir, ray_address=ray_address, progress=progress)
    results = analyze(records)
    main = config.scenarios[0]
    first = results["scenarios"].get(main, {})
    results.update(
        {
            "systems": first.get("systems", {}),
            "per_workflow": first.get("per_workflow", {}),
            "pareto": first.get("pareto", {}),
            "iso_qos": first.get("iso_qos", {}),
            "claims": first.get("claims", {}),
            "scenario": load_scenario(main).to_dict(),
            "setup": _setup(trace, config, design, records, time.perf_counter() - began),
        }
    )
    results["_records"] = records
    return results


def _setup(
    trace: InvocationTrace, config: EvaluateConfig, design: StudyDesign, records: list[dict[str, Any]], wall_s: float
) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for r in records:
        if "workload" in r and r["spec"]["seed"] == design.seeds[0]:
            mapping.setdefault(r["spec"]["workflow"], {})[r["spec"]["window"]] = r["workload"]
    return {
        "trace": trace.source,
        "scenarios": {s: load_scenario(s).to_dict() for s in config.scenarios},
        "systems": {s: asdict(system_spec(s)) for s in config.systems},
        "workflows": list(config.workflows),
        "seeds": list(design.seeds),
        "windows": window_starts(trace, config.protocol),
        "protocol": asdict(config.protocol),
        "budgets": asdict(config.budgets),
        "retune": asdict(config.retune),
        "pareto": config.pareto,
        "runs": len(records),
        "failed_runs": sum(1 for r in records if "error" in r),
        "run_wall_s": sum(r.get("wall_s", 0.0) for r in records),
        "mapping": mapping,
        "numerics": numerics_of(records),
        "wall_s": wall_s,
        "named_systems": {n: asdict(s) for n, s in NAMED.items()},
    }


def numerics_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The arithmetic the runs were computed with (:mod:`aquatope.numerics`): each distinct one with its run count;
    ``None`` for rows written before runs recorded it. A resumed study can mix machines; this says so."""
    counts: dict[str, int] = {}
    for r in records:
        key = json.dumps(r.get("numerics"), sort_keys=True)
        counts[key] = counts.get(key, 0) + 1
    return [{"numerics": json.loads(k), "runs": n} for k, n in sorted(counts.items())]
