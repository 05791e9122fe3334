"""Forecast accuracy and calibration per rate class and per component, over seeds, on an Azure trace.

Every forecaster is fit on the first ``--train-end`` minutes (bayes-lstm holds back the last 20% of those for its
component choice and calibration) and forecasts one step ahead at each later minute (one batched predict call per
minute for all functions). Figures: MAE of the median forecast, and the share of intervals inside the central 90%
interval, per rate class (mean training rate: sporadic < 1/min, mid 1-100/min, high > 100/min) and, for
bayes-lstm, per component (``lstm``, ``phase``, ``moving-average``) with the moving average's MAE on the same
functions. bayes-lstm (and each ``--variant``) is trained once per seed; figures are medians with [min, max].

Next to the baselines, a non-causal *reference* (not a forecaster): each test minute taken as the median of the
5 minutes on either side of it, future included. It shows how far below the moving average's error knowing the
local level from both sides gets, in each class; it is not a bound.

Targets (issue #13, on held-out functions): bayes-lstm MAE <= 0.8x the 48-minute moving average in every rate
class; 90% coverage in [0.88, 0.92] in every class; stable components across seeds; training < 5 min on 750
functions (timed by ``bench/forecast_train_time.py``).

    python bench/forecast_eval.py [--trace PATH] [--seeds 3] [--variant NAME:key=value,...] [--holdout-folds K]
        [--holdout-trace DIR [--holdout-part all|even|odd]] [--json OUT]

Default trace: the bundled 250-function sample (what constants were tuned on, so its figures are not held out).
The issue's 750 held-out functions are in ``bench/data/azure2019-heldout-750`` (see its README): ``--holdout-trace
bench/data/azure2019-heldout-750`` scores them, about 4 minutes per 3 seeds, and ``--holdout-part even`` or ``odd``
one half of them (per rate class, sorted by name, dealt alternately: a choice between variants is made on ``even``
and reported on ``odd``). About 2 min per seed on the 250-function sample on a loaded 2-core machine.

Next to the forecasters, two non-causal references, neither a forecaster nor a bound: the *two-sided median* (below)
and the *Poisson floor*, the error a forecast that knew each minute's rate exactly would still make if the minute's
count were Poisson at that rate. Class figures are ratios of means over the class's functions, which one large
function can set, so each class also gets the median of its functions' own ratios and the share of them at or under
0.8x.

``--holdout-folds K`` adds, for bayes-lstm and each variant, figures on functions its network never trained on:
the functions are split into K folds (stratified by rate class, seeded), and each fold is forecast by a network
trained on the other folds' functions only, so every function is held out once (K trainings per seed). The scale,
component choice and calibration of a held-out function still come from its own validation split, as they would
for a function newly added to a deployed model. The network's hyperparameters were still chosen on this sample, so
these are held-out *functions*, not a held-out *trace*.

``--holdout-trace DIR`` scores bayes-lstm (and each variant) on another trace instead: each seed's network is trained
on ``--trace``'s functions only, and the functions of ``DIR`` (stacked under them; the two traces must have the same
minutes) are forecast by it, next to the baselines on the same functions. The in-trace runs are skipped. With
``tests/data/azure2019-official-10`` (10 functions, none in the sample) this takes about a minute.

The network's figures depend on the machine's floating point: where oneDNN runs AVX-512 kernels instead of AVX2
ones, the same code and seeds train other networks. So the script caps oneDNN at AVX2 unless ``ONEDNN_MAX_CPU_ISA``
is set (:mod:`aquatope.numerics`), and the JSON records what it ran with (``numerics``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import aquatope
from aquatope.errors import InputError
from aquatope.forecast import (
    RATE_CLASSES,
    BayesLSTMForecaster,
    Forecaster,
    grouped_figures,
    make_forecaster,
    rate_classes,
)
from aquatope.forecast.metrics import local_rate, per_function_accuracy, poisson_mae
from aquatope.jsonio.outputs import write_json_atomic
from aquatope.numerics import arithmetic, pin_arithmetic
from aquatope.traces import load_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calib import check_json_path  # the bench scripts' shared --json check

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
PER_FUNCTION = ("mae", "coverage_90", "pit_coverage_90", "interval_vetoed")
"""Per-function arrays of a run: the forecast's figures and whether the 90% interval decided its component."""
BASELINES: dict[str, dict[str, object]] = {
    "last-value": {},
    "moving-average": {"window": 48},
    "ewma": {"alpha": 0.1},
}
TARGET_RATIO, TARGET_COVERAGE = 0.8, (0.88, 0.92)


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME:key=value,key=value`` -> (name, params); values parsed as JSON where possible."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def run(model: Forecaster, counts: np.ndarray, train_end: int) -> dict[str, Any]:
    """Fit, then one batched one-step forecast per later minute: per-function MAE, plain and PIT 90% coverage,
    components, fit and predict time."""
    t0 = time.perf_counter()
    model.fit(counts[:, :train_end])
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    forecasts = [model.predict(counts[:, :t]) for t in range(train_end, counts.shape[1])]
    predict_ms = 1e3 * (time.perf_counter() - t1) / len(forecasts)
    comps = getattr(model, "components_", None) or (model.name,) * counts.shape[0]
    out: dict[str, Any] = per_function_accuracy(forecasts, counts[:, train_end:])
    out["interval_vetoed"] = vetoed(model, counts.shape[0])
    return {**out, "components": list(comps), "fit_s": fit_s, "predict_ms": predict_ms}


def vetoed(model: Any, n: int) -> np.ndarray:
    """Per function, 1 where the 90% interval decided the component (``interval_vetoed``), 0 for other models."""
    state = getattr(model, "state_", None)
    return np.asarray(state.figures["interval_vetoed"], dtype=float) if state is not None else np.zeros(n)


def holdout_folds(classes: list[str], folds: int, seed: int) -> np.ndarray:
    """Fold of each function: within each rate class, a seeded shuffle dealt round-robin, so every fold holds its
    share of every class (a class with fewer functions than folds leaves some folds without it)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(classes), dtype=np.int64)
    for c in RATE_CLASSES:
        rows = rng.permutation([i for i, k in enumerate(classes) if k == c])
        fold[rows] = np.arange(rows.size) % folds
    return fold


REFERENCE = "two-sided median (reference)"
REFERENCE_HALF = 5
FLOOR = "Poisson floor (reference)"


def two_sided_reference(counts: np.ndarray, train_end: int, half: int = REFERENCE_HALF) -> dict[str, Any]:
    """Not a forecaster: each test minute "forecast" by the median of the ``half`` minutes on either side of it
    (the minute itself excluded), future included. What knowing the local level, from both sides, buys: a reference
    for how far below the moving average's error a forecast can go, not a bound (a periodic timer's phase, for one,
    beats it). MAE only; coverage is NaN."""
    n = counts.shape[0]
    est = local_rate(counts, train_end, half, np.median)
    mae = np.abs(counts[:, train_end:] - est).mean(axis=1)
    nan = np.full(n, np.nan)
    return {
        "mae": mae,
        "coverage_90": nan,
        "pit_coverage_90": nan,
        "components": [REFERENCE] * n,
        "fit_s": 0.0,
        "predict_ms": 0.0,
    }


def poisson_floor(counts: np.ndarray, train_end: int, half: int = REFERENCE_HALF) -> dict[str, Any]:
    """Not a forecaster: the error a forecast would still make if it knew each test minute's rate exactly and the
    minute's count were Poisson at that rate (:func:`poisson_mae`), the rate taken as the mean of the ``half``
    minutes on either side (the minute itself excluded, future included). Where arrivals come from many independent
    callers no forecast beats it by much; a timer's exact counts do (their ``dispersion``, the squared deviation
    from that rate over the rate, is far below 1). MAE and per-function dispersion; coverage is NaN."""
    n = counts.shape[0]
    rate = local_rate(counts, train_end, half)
    test = counts[:, train_end:]
    mean_rate = rate.mean(axis=1)
    dispersion = np.where(mean_rate > 0, ((test - rate) ** 2).mean(axis=1) / np.maximum(mean_rate, 1e-12), np.nan)
    nan = np.full(n, np.nan)
    return {
        "mae": poisson_mae(rate).mean(axis=1),
        "coverage_90": nan,
        "pit_coverage_90": nan,
        "components": [FLOOR] * n,
        "fit_s": 0.0,
        "predict_ms": 0.0,
        "dispersion": dispersion,
    }


def run_holdout(
    params: dict[str, Any], counts: np.ndarray, train_end: int, splits: list[tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """Cross-fitting over functions: per split ``(forecast_rows, train_rows)``, the network is trained on
    ``train_rows`` only, and ``forecast_rows`` are forecast by it (their scale, component choice and calibration
    still come from their own validation split, as for a function added to a deployed model). Figures as
    :func:`run` for the forecast rows (NaN elsewhere); ``fit_s`` is the splits' total."""
    n = counts.shape[0]
    out: dict[str, Any] = {k: np.full(n, np.nan) for k in PER_FUNCTION}
    comps: list[str] = [""] * n
    fit_s = predict_s = 0.0
    for rows, train_rows in splits:
        model = BayesLSTMForecaster(**params)
        t0 = time.perf_counter()
        model.fit(counts[:, :train_end], train_functions=train_rows)
        fit_s += time.perf_counter() - t0
        served = model.select(rows)
        t1 = time.perf_counter()
        forecasts = [served.predict(counts[rows, :t]) for t in range(train_end, counts.shape[1])]
        predict_s += time.perf_counter() - t1
        for k, v in per_function_accuracy(forecasts, counts[rows, train_end:]).items():
            out[k][rows] = v
        out["interval_vetoed"][rows] = vetoed(served, len(rows))
        for r, c in zip(rows, served.components_, strict=True):
            comps[r] = c
    predict_ms = 1e3 * predict_s / max(counts.shape[1] - train_end, 1)
    return {**out, "components": comps, "fit_s": fit_s, "predict_ms": predict_ms}


def fold_splits(fold: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold splits over functions: each fold forecast by a network trained on the other folds."""
    return [(np.flatnonzero(fold == j), np.flatnonzero(fold != j)) for j in range(int(fold.max()) + 1)]


def summarize(out: dict[str, Any], ma_mae: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Per class and per component figures of one run (means over functions), with the MA's MAE alongside."""
    figures = {k: out[k] for k in ("mae", "coverage_90", "pit_coverage_90")} | {"moving_average_mae": ma_mae}
    by_class = grouped_figures(classes, figures, RATE_CLASSES)
    by_component = grouped_figures(out["components"], figures)
    for row in [*by_class.values(), *by_component.values()]:
        row["ratio_to_ma"] = row["mae"] / row["moving_average_mae"] if row["moving_average_mae"] > 0 else float("nan")
    # the class figure is a ratio of means, which one large function can set; per function, too:
    per_function = np.where(ma_mae > 0, out["mae"] / np.where(ma_mae > 0, ma_mae, 1.0), np.nan)
    for c, row in by_class.items():
        r = per_function[[k == c for k in classes]]
        r = r[np.isfinite(r)]
        row["median_function_ratio"] = float(np.median(r)) if r.size else float("nan")
        row["share_functions_within_target"] = float(np.mean(r <= TARGET_RATIO)) if r.size else float("nan")
    comps = {c: out["components"].count(c) for c in sorted(set(out["components"]))}
    return {
        "by_class": by_class,
        "by_component": by_component,
        "components": comps,
        "interval_vetoed": int(np.nansum(out.get("interval_vetoed", np.zeros(0)))),
        "fit_s": out["fit_s"],
        "predict_ms": out["predict_ms"],
    }


def spread(values: list[float], fmt: str) -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "-"
    if len(v) == 1:
        return format(v[0], fmt)
    return f"{format(statistics.median(v), fmt)} [{format(min(v), fmt)}, {format(max(v), fmt)}]"


def print_runs(name: str, runs: list[dict[str, Any]]) -> None:
    """One line per class and per component: MAE, ratio to the MA, 90% coverage (median [min, max] over seeds)."""
    print(
        f"\n{name}: {len(runs)} run(s); fit {spread([r['fit_s'] for r in runs], '.1f')} s, predict "
        f"{spread([r['predict_ms'] for r in runs], '.1f')} ms/interval"
    )
    print(
        f"  {'group':<22}{'functions':>12}  {'MAE':>22}  {'MAE / MA':>22}  {'90% coverage':>22}  {'PIT 90% cov.':>22}"
    )
    for key in ("by_class", "by_component"):
        groups = sorted({g for r in runs for g in r[key]}, key=lambda g: ((*RATE_CLASSES, g)).index(g))
        for g in groups:
            rows = [r[key][g] for r in runs if g in r[key]]
            print(
                f"  {key[3:] + ' ' + g:<22}{spread([x['functions'] for x in rows], '.0f'):>12}  "
                f"{spread([x['mae'] for x in rows], '.3f'):>22}  {spread([x['ratio_to_ma'] for x in rows], '.3f'):>22}"
                f"  {spread([x['coverage_90'] for x in rows], '.3f'):>22}  {spread([x['pit_coverage_90'] for x in rows], '.3f'):>22}"
            )
    cls = [c for c in RATE_CLASSES if any("median_function_ratio" in r["by_class"].get(c, {}) for r in runs)]
    if cls and any(np.isfinite(r["by_class"][c]["median_function_ratio"]) for r in runs for c in cls):
        print(
            f"  per function, MAE / MA median (share <= {TARGET_RATIO}x): "
            + ", ".join(
                f"{c} {spread([r['by_class'][c]['median_function_ratio'] for r in runs], '.3f')} "
                f"({spread([r['by_class'][c]['share_functions_within_target'] for r in runs], '.2f')})"
                for c in cls
            )
        )
    print("  components per run: " + "; ".join(json.dumps(r["components"]) for r in runs))
    if any(r.get("interval_vetoed") for r in runs):
        print(
            "  decided by the 90% interval (median alone chose otherwise): "
            + ", ".join(str(r.get("interval_vetoed", 0)) for r in runs)
        )


def check_targets(runs: list[dict[str, Any]]) -> dict[str, bool]:
    ok: dict[str, bool] = {}
    for c in RATE_CLASSES:
        rows = [r["by_class"][c] for r in runs if c in r["by_class"]]
        if rows:
            ok[f"MAE <= {TARGET_RATIO}x MA, {c}, every seed"] = all(x["ratio_to_ma"] <= TARGET_RATIO for x in rows)
            lo, hi = TARGET_COVERAGE
            ok[f"90% coverage in [{lo}, {hi}], {c}, every seed"] = all(lo <= x["coverage_90"] <= hi for x in rows)
            ok[f"PIT 90% coverage in [{lo}, {hi}], {c}, every seed"] = all(
                lo <= x["pit_coverage_90"] <= hi for x in rows
            )
    return ok


def load_counts(path: str, flag: str) -> np.ndarray:
    """A trace's counts, or one line naming the flag and the problem (exit 2)."""
    return load_checked(path, flag).counts.astype(float)


def load_checked(path: str, flag: str) -> Any:
    """A trace, or one line naming the flag and the problem (exit 2)."""
    try:
        return load_trace(path)
    except InputError as exc:
        print(f"error: {flag}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def baseline_runs(
    args: argparse.Namespace, counts: np.ndarray, classes: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], np.ndarray]:
    """The baselines and the non-causal reference on ``counts``, printed; (their summaries, the moving average's
    per-function MAE that every ratio is taken against)."""
    baselines = {"moving-average": BASELINES["moving-average"]} if args.no_baselines else BASELINES
    raw = {name: run(make_forecaster(name, **kw), counts, args.train_end) for name, kw in baselines.items()}
    raw[REFERENCE] = two_sided_reference(counts, args.train_end)
    raw[FLOOR] = poisson_floor(counts, args.train_end)
    ma_mae = raw["moving-average"]["mae"]
    results: dict[str, list[dict[str, Any]]] = {n: [summarize(o, ma_mae, classes)] for n, o in raw.items()}
    dispersion = raw[FLOOR]["dispersion"]
    results[FLOOR][0]["dispersion_by_class"] = {
        c: float(np.nanmedian(dispersion[[k == c for k in classes]])) for c in RATE_CLASSES if c in classes
    }
    for name in results:
        print_runs(name, results[name])
    print(
        "  median dispersion (squared deviation from the local rate, over the rate; Poisson 1): "
        + ", ".join(f"{c} {v:.2f}" for c, v in results[FLOOR][0]["dispersion_by_class"].items())
    )
    return results, ma_mae


def holdout_part(names: list[str], classes: list[str], part: str) -> np.ndarray:
    """The rows of one half of a held-out trace, fixed before any forecast: within each rate class the functions
    sorted by name and dealt alternately, ``even`` (where a choice between variants is made) and ``odd`` (where the
    choice is reported)."""
    rows: list[int] = []
    for c in RATE_CLASSES:
        ranked = sorted((names[i], i) for i, k in enumerate(classes) if k == c)
        rows += [i for j, (_, i) in enumerate(ranked) if j % 2 == (0 if part == "even" else 1)]
    return np.array(sorted(rows), dtype=int)


def holdout_trace_runs(
    args: argparse.Namespace, counts: np.ndarray, variants: list[tuple[str, dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """A held-out *trace*: each variant's network is trained on ``--trace``'s functions only and forecasts the
    functions of ``--holdout-trace`` (stacked under them, same minutes); figures are over the held-out functions,
    next to the baselines on the same functions."""
    held_trace = load_checked(args.holdout_trace, "--holdout-trace")
    held = held_trace.counts.astype(float)
    if held.shape[1] != counts.shape[1]:
        print(f"error: --holdout-trace: {held.shape[1]} minutes, --trace has {counts.shape[1]}", file=sys.stderr)
        raise SystemExit(2)
    classes = [RATE_CLASSES[k] for k in rate_classes(held[:, : args.train_end])]
    if args.holdout_part != "all":
        keep = holdout_part(list(held_trace.function_ids), classes, args.holdout_part)
        held, classes = held[keep], [classes[i] for i in keep]
    print(
        f"held-out trace {args.holdout_trace} ({args.holdout_part} functions): {held.shape[0]} functions x "
        f"{held.shape[1]} minutes, forecast by "
        f"networks trained on {args.trace}'s {counts.shape[0]}; "
        + ", ".join(f"{c} {classes.count(c)}" for c in RATE_CLASSES)
    )
    results, ma_mae = baseline_runs(args, held, classes)
    both = np.vstack([counts, held])
    held_rows, train_rows = np.arange(counts.shape[0], both.shape[0]), np.arange(counts.shape[0])
    for name, params in variants:
        key = f"{name} held-out trace"
        results[key] = []
        for seed in range(args.seeds):
            out = run_holdout({**params, "seed": seed}, both, args.train_end, [(held_rows, train_rows)])
            out = {k: (v[held_rows] if k in PER_FUNCTION else v) for k, v in out.items()}
            out["components"] = [out["components"][r] for r in held_rows]
            results[key].append(summarize(out, ma_mae, classes))
            print(f"  [{key} seed {seed}: fit {results[key][-1]['fit_s']:.0f} s]", file=sys.stderr, flush=True)
        print_runs(f"{key} {json.dumps(params)}", results[key])
        for what, ok in check_targets(results[key]).items():
            print(f"  target {what}: {'PASS' if ok else 'FAIL'}")
    return results


def main() -> None:
    pin_arithmetic()  # before any network runs (aquatope.numerics)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--train-end", type=int, default=960)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], help="NAME:key=value,... (bayes-lstm parameters)")
    parser.add_argument("--no-default", action="store_true", help="skip bayes-lstm with default parameters")
    parser.add_argument("--no-baselines", action="store_true", help="only the moving average among the baselines")
    parser.add_argument(
        "--holdout-folds",
        type=int,
        default=0,
        help="K >= 2: also score bayes-lstm on held-out functions, K-fold over functions (K trainings per seed)",
    )
    parser.add_argument(
        "--holdout-trace",
        default=None,
        help="DIR: score bayes-lstm on this trace's functions with a network trained on --trace's functions only",
    )
    parser.add_argument(
        "--holdout-part",
        choices=("all", "even", "odd"),
        default="all",
        help="with --holdout-trace: all its functions, or one half (per class, by name, alternately)",
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.holdout_folds == 1 or args.holdout_folds < 0:
        parser.error("--holdout-folds must be 0 (off) or at least 2")
    if args.holdout_folds and args.holdout_trace:
        parser.error("--holdout-folds and --holdout-trace are separate runs: give one")
    check_json_path(args.json)
    counts = load_counts(args.trace, "--trace")
    default: list[tuple[str, dict[str, Any]]] = [] if args.no_default else [("bayes-lstm", {})]
    variants = default + [parse_variant(v) for v in args.variant]
    if args.holdout_trace:
        held = holdout_trace_runs(args, counts, variants)
        if args.json:
            doc = {
                "trace": args.trace,
                "holdout_trace": args.holdout_trace,
                "holdout_part": args.holdout_part,
                "numerics": arithmetic(),
                "results": held,
            }
            write_json_atomic(Path(args.json), doc)
        return
    classes = [RATE_CLASSES[k] for k in rate_classes(counts[:, : args.train_end])]
    print(f"numerics: {json.dumps(arithmetic())}")
    print(
        f"trace {args.trace}: {counts.shape[0]} functions x {counts.shape[1]} minutes; train {args.train_end}; "
        + ", ".join(f"{c} {classes.count(c)}" for c in RATE_CLASSES)
    )
    results, ma_mae = baseline_runs(args, counts, classes)
    for name, params in variants:
        results[name] = []
        for seed in range(args.seeds):
            model = BayesLSTMForecaster(**{**params, "seed": seed})
            results[name].append(summarize(run(model, counts, args.train_end), ma_mae, classes))
            results[name][-1]["validation"] = model.validation_report.to_dict()
            print(f"  [{name} seed {seed}: fit {results[name][-1]['fit_s']:.0f} s]", file=sys.stderr, flush=True)
        print_runs(f"{name} {json.dumps(params)}", results[name])
        for what, ok in check_targets(results[name]).items():
            print(f"  target {what}: {'PASS' if ok else 'FAIL'}")
    for name, params in variants if args.holdout_folds else []:
        key = f"{name} held-out functions ({args.holdout_folds} folds)"
        results[key] = []
        for seed in range(args.seeds):
            fold = holdout_folds(classes, args.holdout_folds, seed)
            results[key].append(
                summarize(
                    run_holdout({**params, "seed": seed}, counts, args.train_end, fold_splits(fold)), ma_mae, classes
                )
            )
            print(f"  [{key} seed {seed}: fit {results[key][-1]['fit_s']:.0f} s]", file=sys.stderr, flush=True)
        print_runs(f"{key} {json.dumps(params)}", results[key])
        for what, ok in check_targets(results[key]).items():
            print(f"  target {what}: {'PASS' if ok else 'FAIL'}")
    if args.json:
        write_json_atomic(Path(args.json), {"trace": args.trace, "numerics": arithmetic(), "results": results})


if __name__ == "__main__":
    main()
