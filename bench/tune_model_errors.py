"""Where aquatope-bo's surrogate is wrong: at each of its model proposals, what it predicted against what the
proposal's measurement then showed, per stage and end to end.

A diagnosis to choose changes of the model on, so it runs the *training* seeds by default (100-102; the reported
seeds of ``bench/tune_eval.py`` are 0-4). Each run is aquatope-bo with its defaults on the staging simulator of the
scenario, exactly as ``bench/tune_eval.py`` runs it (the recording reads the surrogate the sizer fitted for the
proposal and changes nothing). For every model proposal whose measurement did not fail it records

* per stage: the predicted location (mean log latency) and its standard deviation from the stage's model, the
  measured location, and two flags: the proposal gave the stage's function *more CPU* than any measurement the model
  was fitted on (the Amdahl trend extrapolates there), or *less memory* than any of them;
* end to end: the predicted location and its standard deviation (:meth:`DagSurrogate.predict_loc`), the measured
  location;
* cost: the predicted log cost per request (mean and standard deviation of the busy models' draws, as the
  acquisition prices it), the measured one (the objective of the proposal's measurement) and the true one
  (:func:`aquatope.experiments.tuning.true_cost_usd`);
* the acquisition of the proposal and of the *reach* configuration of ``bench/tune_reach.py`` (the within-5%
  configuration with the most room under the target; from ``--reach``, skipped where there is none), scored together:
  whether the search missed a configuration the model itself valued more;
* the model's per-stage prediction for the reach configuration at that step, against the reach configuration's
  true stage locations (measured once per run in the same world with ``REACH_REQUESTS`` requests): negative means
  the model thought the reach configuration slower than it is (pessimistic), which keeps the search away from it.

It prints, per scenario, the mean error (measured minus predicted, in log: positive means the model was optimistic)
and the mean z-score: of the stages, all and split by the flags; end to end; of the cost, all and split by whether
some function got more CPU than measured; how often the reach configuration scored higher; the reach
configuration's stage errors (all, by the memory flag, per workflow); end to end per workflow. Rows go to ``--out``
(JSON lines, one per proposal; rerun to replace).

    python bench/tune_model_errors.py [--seeds 3] [--first-seed 100] [--scenarios calm,noisy] [--workflows a,b]
        [--jobs 2] [--out bench/results/tune_model_errors.jsonl] [--reach PATH] [--variant V] [--summary]

About 2 minutes on 2 cores with the defaults (42 runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tune_eval import WORKFLOWS, as_config, problem_for

from aquatope.experiments.tuning import staging_config, true_cost_usd
from aquatope.sim import Simulator
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.bo import DEFAULT_VARIANT, AquatopeBO
from aquatope.sizing.bo_models import DagSurrogate, e2e_observation, stage_observations
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.sizer import Proposal

REACH_REQUESTS, REACH_SEED = 400, 500_000
"""The reach configuration's stage locations are measured once per run with 400 requests (a location's standard
error about 1/20 of the noise), on a simulator and measurer seeded away from the run's."""


class Recording(AquatopeBO):
    """aquatope-bo that keeps, for each model proposal, the prediction of the surrogate that proposed it."""

    def __init__(
        self, problem: SizingProblem, seed: int, scenario: str, reach: WorkflowConfig | None, variant: str
    ) -> None:
        super().__init__(problem, seed, variant=variant)
        self.scenario, self.reach = scenario, reach
        self.rows: list[dict[str, Any]] = []
        self._predicted: tuple[str, dict[str, Any]] | None = None

    def _model_step(self) -> Proposal | None:
        proposal = super()._model_step()
        surrogate = self._cached()
        if proposal is not None and isinstance(surrogate, DagSurrogate):
            row = self._predict(surrogate, proposal[0])
            if self.reach is not None:
                row["acq_chosen"], row["acq_reach"] = self._against_reach(surrogate, proposal[0], self.reach)
                row["reach_stages"] = self._stages(surrogate, self.reach, self.coords.many([self.reach]))
            self._predicted = (str(config_key(proposal[0])), row)
        return proposal

    def _against_reach(
        self, surrogate: DagSurrogate, chosen: WorkflowConfig, reach: WorkflowConfig
    ) -> tuple[float, float]:
        """The acquisition of the chosen proposal and of the reach configuration, scored together on one stream of
        draws (not the sizer's own, so the chosen one's value differs a little from what chose it)."""
        judged = judge_all(self.problem, self.history)
        noise = self.noise(judged)
        assert noise is not None
        seen = []
        for c in (chosen, reach):
            j = judged.get(config_key(c))
            seen.append((0, 0.0) if j is None or j.failed else (j.requests, j.loc))
        k = self.history.items[-1].k
        acq = self._score(surrogate, noise, [chosen, reach], seen, k, np.random.default_rng(5))
        return float(acq[0]), float(acq[1])

    def _predict(self, surrogate: DagSurrogate, config: WorkflowConfig) -> dict[str, Any]:
        x = self.coords.many([config])
        mean, std = surrogate.predict_loc([config], x)
        stages = self._stages(surrogate, config, x)
        cost = surrogate._log_objective([config], x, 256, np.random.default_rng(0))[:, 0]
        return {
            "evaluation": len(self.history), "pred": float(mean[0]), "sd": float(std[0]), "stages": stages,
            "pred_log_cost": float(cost.mean()), "sd_log_cost": float(cost.std()),
        }  # fmt: skip

    def _stages(self, surrogate: DagSurrogate, config: WorkflowConfig, x: np.ndarray) -> list[dict[str, Any]]:
        """Per stage: the stage model's predicted location of ``config`` (log coordinates ``x``), its sd, and whether
        ``config`` gives the function more CPU / less memory than every measurement the model was fitted on."""
        data = self._training()
        ran = [d for d in data if not d.failed]
        stages = []
        for s, model in zip(self.problem.workflow.stages, surrogate.stage_models, strict=True):
            f = s.function
            m, sd = model.posterior(x[:, surrogate.dims[f]], np.array([config[f].cpu]))
            stages.append({
                "stage": s.name, "function": f, "pred": float(m[0]), "sd": float(sd[0]),
                "cpu_beyond": bool(config[f].cpu > max(d.config[f].cpu for d in data)),
                "memory_below": bool(ran and config[f].memory_mb < min(d.config[f].memory_mb for d in ran)),
            })  # fmt: skip
        return stages

    def observed(self, config: WorkflowConfig, measurement: Measurement, source: str) -> None:
        if source == "model" and self._predicted is not None and self._predicted[0] == str(config_key(config)):
            row = self._predicted[1]
            if not measurement.failed:
                loc, _ = stage_observations(self.problem.workflow, measurement)
                for st, measured in zip(row["stages"], loc, strict=True):
                    st["measured"] = None if not np.isfinite(measured) else float(measured)
                row["measured"] = e2e_observation(self.problem, measurement)[0]
                row["measured_log_cost"] = math.log(self.problem.objective_usd(measurement))
                row["true_log_cost"] = math.log(true_cost_usd(self.problem, config, self.scenario))
                self.rows.append(row)
        self._predicted = None
        super().observed(config, measurement, source)


def one_run(task: tuple[str, str, int, int, int, dict[str, list[float]] | None, str]) -> list[dict[str, Any]]:
    warnings.simplefilter("ignore")
    scenario, workflow, seed, budget, k, reach, variant = task
    p = problem_for(workflow, budget, seed, None)
    sizer = Recording(p, seed, scenario, None if reach is None else as_config(reach), variant)
    run_sizer(sizer, Measurer(Simulator(staging_config(p, scenario), seed=p.seed), p, k=k, seed=p.seed), p.budget)
    if sizer.reach is not None:  # its stage locations in the same world, from many requests (another seed)
        world = Simulator(staging_config(p, scenario), seed=p.seed + REACH_SEED)
        truth, _ = stage_observations(p.workflow, Measurer(world, p, k=REACH_REQUESTS, seed=p.seed + REACH_SEED)
                                      .measure(sizer.reach))  # fmt: skip
        for r in sizer.rows:
            for st, loc in zip(r["reach_stages"], truth, strict=True):
                st["true"] = float(loc) if np.isfinite(loc) else None
    return [{"scenario": scenario, "workflow": workflow, "seed": seed, **r} for r in sizer.rows]


def _line(label: str, errors: list[tuple[float, float]]) -> str:
    if not errors:
        return f"    {label:34s} n    0"
    e = np.array(errors)
    return f"    {label:34s} n {len(e):4d}  error {e[:, 0].mean():+.3f}  z {e[:, 1].mean():+.2f}"


def _cost_error(row: dict[str, Any], key: str) -> tuple[float, float]:
    error = row[key] - row["pred_log_cost"]
    return error, error / max(row["sd_log_cost"], 1e-9)


def summarize(rows: list[dict[str, Any]]) -> None:
    print("\nmeasured minus predicted location (log; + = the model was optimistic), mean z-score")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        rs = [r for r in rows if r["scenario"] == scenario]
        stages = [s for r in rs for s in r["stages"] if s.get("measured") is not None]
        err = [(s["measured"] - s["pred"], (s["measured"] - s["pred"]) / s["sd"]) for s in stages]
        print(f"  {scenario}: {len(rs)} model proposals, {sum(any(s['cpu_beyond'] for s in r['stages']) for r in rs)} "
              "give some function more CPU than measured so far")  # fmt: skip
        print(_line("stages, all", err))
        for flag in ("cpu_beyond", "memory_below"):
            for value in (True, False):
                sel = [e for e, s in zip(err, stages, strict=True) if s[flag] is value]
                print(_line(f"stages, {flag} {value}", sel))
        print(_line("end to end", [(r["measured"] - r["pred"], (r["measured"] - r["pred"]) / r["sd"]) for r in rs]))
        for label, key in (("cost vs its measurement", "measured_log_cost"), ("cost vs the truth", "true_log_cost")):
            print(_line(label, [_cost_error(r, key) for r in rs]))
        for value in (True, False):
            sel = [_cost_error(r, "true_log_cost") for r in rs if any(s["cpu_beyond"] for s in r["stages"]) is value]
            print(_line(f"cost vs truth, cpu_beyond {value}", sel))
        pairs = [(r["acq_chosen"], r["acq_reach"]) for r in rs if "acq_reach" in r]
        if pairs:
            higher = sum(c > r for c, r in pairs)
            lower = sum(c < r for c, r in pairs)
            print(f"    acquisition, chosen proposal against the reach configuration: chosen higher at {higher} of "
                  f"{len(pairs)} steps, reach higher at {lower}, ties {len(pairs) - higher - lower}")  # fmt: skip
        reach = [(r["workflow"], st) for r in rs for st in r.get("reach_stages", []) if st.get("true") is not None]
        if reach:
            errs = [(st["true"] - st["pred"], (st["true"] - st["pred"]) / st["sd"]) for _, st in reach]
            print(_line("reach configuration's stages, true minus predicted", errs))
            for value in (True, False):
                sel = [e for e, (_, st) in zip(errs, reach, strict=True) if st["memory_below"] is value]
                print(_line(f"reach configuration's stages, memory_below {value}", sel))
            by_wf: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for e, (wf, _) in zip(errs, reach, strict=True):
                by_wf[wf].append(e)
            for wf, e in by_wf.items():
                print(_line(f"  reach configuration's stages, {wf}", e))
        per: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in rs:
            per[r["workflow"]].append((r["measured"] - r["pred"], (r["measured"] - r["pred"]) / r["sd"]))
        for wf, e in per.items():
            print(_line(f"  end to end, {wf}", e))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--scenarios", default="calm,noisy")
    ap.add_argument("--workflows", default=",".join(WORKFLOWS))
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--out", default="bench/results/tune_model_errors.jsonl")
    ap.add_argument("--variant", default=DEFAULT_VARIANT, help="aquatope-bo's variant (default: the default)")
    ap.add_argument("--reach", default="bench/results/tune_reach.headroom.json", help="bench/tune_reach.py's cache")
    ap.add_argument("--summary", action="store_true", help="print the summary of --out without running")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.summary:
        summarize([json.loads(line) for line in out.read_text().splitlines() if line.strip()])
        return
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    rooms = json.loads(Path(args.reach).read_text()) if Path(args.reach).exists() else {}
    tasks = [(s, w, seed, args.budget, args.k, rooms.get(f"{s}/{w}", {}).get("config"), args.variant)
             for s in args.scenarios.split(",") for w in args.workflows.split(",") for seed in seeds]  # fmt: skip
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, rs in enumerate(pool.map(one_run, tasks), 1):
            rows.extend(rs)
            print(f"[{i}/{len(tasks)}] {' '.join(map(str, tasks[i - 1][:3]))}: {len(rs)} model proposals", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, out)
    summarize(rows)


if __name__ == "__main__":
    sys.exit(main())
