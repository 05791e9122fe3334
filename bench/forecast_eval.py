"""Forecast accuracy and calibration on the bundled 250-function Azure sample (one day of minutes).

Every forecaster is fit on the first 960 minutes (bayes-lstm holds back the last 20% of those for validation
and calibration) and forecasts one step ahead at each of the remaining 480 minutes (one batched predict call per
minute for all functions). Printed per forecaster: MAE of the mean and coverage of the central 90% interval,
overall and per rate class (mean training rate: sporadic < 1/min, mid 1-100/min, high > 100/min); fit time and
predict time per interval. bayes-lstm is trained ``--repeats`` times with seeds 0, 1, ...: figures are medians.

Targets (issue): bayes-lstm 90% coverage within 85-95%; MAE no worse than moving-average(48) in each class.

    python bench/forecast_eval.py [--repeats 3] [--train-end 960] [--epochs 10] [--trace PATH]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import aquatope
from aquatope.forecast import BacktestResult, BayesLSTMForecaster, Forecaster, backtest, make_forecaster
from aquatope.traces import load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
BASELINES: dict[str, dict[str, object]] = {
    "last-value": {},
    "moving-average": {"window": 48},
    "seasonal-naive": {},
    "ewma": {"alpha": 0.1},
}


def rate_classes(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks per rate class from the mean rate per minute of ``counts`` (n_functions, n_minutes)."""
    rate = counts.mean(axis=1)
    return {"all": rate >= 0, "sporadic": rate < 1, "mid": (rate >= 1) & (rate <= 100), "high": rate > 100}


def evaluate(model: Forecaster, counts: np.ndarray, train_end: int) -> dict[str, float]:
    """Fit, backtest and time one forecaster; per-class MAE and 90% coverage as ``mae:<class>``, ``cov:<class>``."""
    t0 = time.perf_counter()
    model.fit(counts[:, :train_end])
    fit_s = time.perf_counter() - t0
    result: BacktestResult = backtest(model, counts, train_end, fit=False)
    predict_s = []
    for t in range(train_end, train_end + 20):
        t1 = time.perf_counter()
        model.predict(counts[:, :t])
        predict_s.append(time.perf_counter() - t1)
    out = {"fit_s": fit_s, "predict_ms": 1e3 * statistics.median(predict_s)}
    per_fn_mae, per_fn_cov = result.mae(axis=1), result.coverage(0.9, axis=1)
    for name, mask in rate_classes(counts[:, :train_end]).items():
        out[f"mae:{name}"] = float(per_fn_mae[mask].mean())
        out[f"cov:{name}"] = float(per_fn_cov[mask].mean())
    return out


def print_row(name: str, figures: dict[str, float], classes: list[str]) -> None:
    cells = "  ".join(f"{figures[f'mae:{c}']:8.3f} {100 * figures[f'cov:{c}']:5.1f}%" for c in classes)
    print(f"{name:<16} {cells}  {figures['fit_s']:8.2f} {figures['predict_ms']:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--train-end", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    counts = load_trace(args.trace).counts.astype(float)
    masks = rate_classes(counts[:, : args.train_end])
    classes = list(masks)
    print(f"trace {args.trace}: {counts.shape[0]} functions x {counts.shape[1]} minutes; train {args.train_end}")
    print("functions per class: " + ", ".join(f"{c}={int(m.sum())}" for c, m in masks.items()))
    print(f"{'forecaster':<16} " + "  ".join(f"{c + ' MAE':>8} {'cov90':>6}" for c in classes) + "    fit_s predict_ms")
    for name, kw in BASELINES.items():
        print_row(name, evaluate(make_forecaster(name, **kw), counts, args.train_end), classes)
    runs, reports = [], []
    for seed in range(args.repeats):
        model = BayesLSTMForecaster(seed=seed, epochs=args.epochs)
        runs.append(evaluate(model, counts, args.train_end))
        reports.append(model.validation_report)
        print_row(f"bayes-lstm s={seed}", runs[-1], classes)
    print_row("bayes-lstm med", {k: statistics.median(r[k] for r in runs) for k in runs[0]}, classes)
    for seed, rep in enumerate(reports):
        cov = ", ".join(f"{int(100 * lv)}%={100 * c:.1f}" for lv, c in rep.coverage.items())
        print(
            f"seed {seed} validation: usable={rep.usable} {rep.reason!r} coverage {cov}; raw 90%="
            f"{100 * rep.raw_coverage_90:.1f}; std scale per class {rep.std_scale}; MAE {rep.mae:.3f} vs MA "
            f"{rep.moving_average_mae:.3f}; model used for {rep.model_functions} functions; "
            f"train {rep.train_time_s:.1f} s"
        )


if __name__ == "__main__":
    main()
