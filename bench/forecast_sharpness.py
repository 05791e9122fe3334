"""How wide the forecasts that Aquatope's pool reads get: per workflow function, its calibration and its largest quantile.

``aquatope evaluate`` fits one global forecaster per seed on the evaluation workflows' request histories
(:func:`aquatope.experiments.study.fit_forecasters`), and the pool sizes from each forecast's q-quantile. A forecast
can be calibrated (its 90% interval covers 90% of validation minutes, by the randomized PIT) and still be useless
for that: a std factor near the bisection's bound (20) on a log-space spread gives quantiles of 10^5 and more
invocations a minute. This script fits the study's forecasters exactly as the study does and, for each workflow
function over the replay window (forecasts from the true request history, one step ahead), prints its component,
its std factor (its own or its rate class's), and the largest q-quantile over the window next to the largest count
in its history and, for reading only (the forecaster never sees it), the largest count of the replay window itself.
A quantile beyond 1000x the history's largest count is what the pool's guard rejects (its ticks fall back); one
between 10x and 1000x passes and is flagged here as a warning sign, not a tuned limit.

    python bench/forecast_sharpness.py [--trace DIR] [--seeds 3] [--q 0.9] [--json OUT]

About 20 s per seed. Found on 2026-11-27: on ``bench/data/azure2019-heldout-750``, trip-booking seed 1 had its own
factor 19.49 on all four functions (the phase expert) and quantiles up to 10^38 against a history maximum of 708.
Since a component must also be no worse at the 90% interval than the network to serve
(:func:`aquatope.forecast.validation.choose_components`), the network serves them there, with quantiles under 0.5x.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import aquatope
from aquatope.experiments.evaluate import EVALUATE_WORKFLOWS, EvaluateConfig
from aquatope.experiments.protocol import make_workload
from aquatope.experiments.study import StudyDesign, fit_forecasters, study_inputs
from aquatope.jsonio.outputs import write_json_atomic
from aquatope.numerics import arithmetic, pin_arithmetic
from aquatope.prewarm.forecast_pool import UNUSABLE_FACTOR
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
WARN_FACTOR = 10.0
"""Largest quantile over the history's largest count above which a row is flagged (a reading aid, not a limit)."""


def workflow_rows(trace: Any, cfg: EvaluateConfig, seed: int, q: float) -> list[dict[str, Any]]:
    """Per evaluation workflow and function: component, std factor (own or class), largest q-quantile over the
    replay window, and the history's largest count."""
    inputs = study_inputs(trace, cfg.protocol, cfg.budgets, cfg.retune)
    design = StudyDesign(("shared",), ("aquatope",), EVALUATE_WORKFLOWS, (seed,), ("peak",))
    models = fit_forecasters(inputs, design)[seed]
    out = []
    for name in EVALUATE_WORKFLOWS:
        wf, model = load_workflow(name), models[name]
        w = make_workload(trace, cfg.protocol, wf, seed, "peak", list(inputs.classes))
        calls = wf.invocations_per_request()
        full = np.stack([w.requests * calls[f] for f in wf.function_names])
        start = w.start_minute
        top = np.zeros(full.shape[0])
        for t in range(start, start + w.minutes):
            with np.errstate(over="ignore"):
                top = np.maximum(top, np.asarray(model.predict(full[:, :t]).quantile(q)[:, 0], dtype=float))
        state = model.state_
        for i, f in enumerate(wf.function_names):
            seen = float(full[i, :start].max())
            replay = float(full[i, start : start + w.minutes].max())
            out.append(
                {
                    "seed": seed,
                    "workflow": name,
                    "function": f,
                    "component": str(state.components[i]),
                    "std_factor": float(state.std_scale[i]),
                    "own_factor": bool(state.own_scale[i]),
                    "max_quantile": float(top[i]),
                    "history_max": seen,
                    "replay_max": replay,
                    "ratio": float(top[i] / max(seen, 1.0)),
                }
            )
    return out


def main() -> None:
    pin_arithmetic()  # before any network runs (aquatope.numerics)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", default=str(SAMPLE))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--q", type=float, default=0.9)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    trace = load_trace(args.trace)
    cfg = EvaluateConfig()
    rows = [r for seed in range(args.seeds) for r in workflow_rows(trace, cfg, seed, args.q)]
    print(f"{args.trace}: the pool's {args.q}-quantile over each replay window, against the history's largest count")
    print(
        f"{'seed':>4}  {'workflow':<14}{'function':<20}{'component':<16}{'factor':>14}  {'max quantile':>12}  {'seen':>6}"
        f"  {'replay':>6}"
    )
    for r in rows:
        kind = "own" if r["own_factor"] else "class"
        flag = ""
        if r["ratio"] > UNUSABLE_FACTOR:
            flag = "  beyond the pool's guard (those ticks fall back)"
        elif r["ratio"] > WARN_FACTOR:
            flag = f"  over {WARN_FACTOR:g}x the largest count seen, under the guard"
        print(
            f"{r['seed']:>4}  {r['workflow']:<14}{r['function']:<20}{r['component']:<16}"
            f"{r['std_factor']:>8.2f} {kind:>5}  {r['max_quantile']:>12.3g}  {r['history_max']:>6.0f}"
            f"  {r['replay_max']:>6.0f}{flag}"
        )
    if args.json:
        write_json_atomic(args.json, {"trace": args.trace, "q": args.q, "numerics": arithmetic(), "rows": rows})


if __name__ == "__main__":
    main()
