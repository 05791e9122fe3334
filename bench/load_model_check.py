"""The sizer's load model against the simulator: containers each pool holds, predicted and replayed.

A sizer with a load (every system's in ``aquatope evaluate``; ``aquatope tune --load-rps``) minimises the expected
total cost, whose idle part is :func:`aquatope.sizing.load.expected_containers`: the containers a pool policy holds
for a function at a rate and an execution time, under Poisson arrivals. This script replays the same policies on
the simulator and compares. It reads nothing but the model's output and the replay's containers.

* ``poisson``: one function with Poisson arrivals (``synthetic:poisson:rate=R`` per minute) and a constant
  execution time, where the model's assumption holds, at several rates and execution times (a sizer ranks
  configurations by the model, so an error that changes with the execution time matters most).
* ``azure``: the functions of the bundled Azure sample, per rate class (bursty, timers: the assumption does not
  hold), each predicted at its own mean replayed rate and mean duration (the trace's ``Average``), summed over the
  class.

Replay: the pre-warming evaluation (:mod:`aquatope.experiments.prewarm_eval`): the first 960 minutes train (the
learned keep-alives, the EWMA forecaster of ``aquatope``'s pool), the last 480 are replayed; containers alive are
averaged over the replay, cold starts included. Predicted: the model at the replay's own mean rate (what a perfect
rate forecast would give it). Figures: predicted / replayed containers per pool; 1.0 is exact.

    python bench/load_model_check.py [--rates 0.05,0.5,5,50,300] [--durations 0.2,1,5] [--no-azure] [--json OUT]

About 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

import aquatope
from aquatope.errors import InputError
from aquatope.experiments.prewarm_eval import EvalConfig, evaluate_prewarm, split_trace
from aquatope.forecast import RATE_CLASSES, rate_classes
from aquatope.jsonio.outputs import check_output_path, write_json_atomic
from aquatope.prewarm import make_policy
from aquatope.sim.singlefn import DEFAULT_DURATION_MS
from aquatope.sizing.load import expected_containers
from aquatope.traces import InvocationTrace, load_trace
from aquatope.traces.model import DurationStats

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
POOLS = (
    "keepalive:600",
    "keepalive:auto",
    "hybrid-histogram",
    "reactive",
    "provisioned",
    "aquatope:q=0.9",
    "clairvoyant-interval",
)
TRAIN_MINUTES = 960


def positive_list(text: str, flag: str) -> list[float]:
    """Comma-separated positive numbers, or an InputError naming ``flag``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise InputError(f"must be positive numbers, comma-separated, got {text!r}", field=flag)
    return values


def with_duration(trace: InvocationTrace, seconds: float) -> InvocationTrace:
    """``trace`` with every function running exactly ``seconds`` (a constant durations row)."""
    n = trace.n_functions
    ms = np.full(n, seconds * 1e3)
    stats = DurationStats(ms, ms, ms, np.ones(n), (0.0, 100.0), np.stack([ms, ms], axis=1))
    return dataclasses.replace(trace, durations=stats)


def replayed(trace: InvocationTrace) -> dict[str, float]:
    """Mean containers alive over the replay, per pool."""
    result = evaluate_prewarm(trace, EvalConfig(policies=POOLS, train_minutes=TRAIN_MINUTES))
    return {name: fig["mean_warm_containers"] for name, fig in result.policies.items()}


def predicted(trace: InvocationTrace, durations_s: np.ndarray) -> dict[str, float]:
    """The model's containers per pool, summed over the trace's functions, each at its mean replayed rate."""
    _, test = split_trace(trace, TRAIN_MINUTES)
    rates = test.counts.mean(axis=1) / 60.0
    return {
        pool: float(sum(expected_containers(pool, r, d) for r, d in zip(rates, durations_s, strict=True) if r > 0))
        for pool in POOLS
    }


def compare(label: str, trace: InvocationTrace, durations_s: np.ndarray) -> dict[str, Any]:
    model, sim = predicted(trace, durations_s), replayed(trace)
    rows = {p: {"predicted": model[p], "replayed": sim[make_policy(p).name]} for p in POOLS}
    for row in rows.values():
        row["ratio"] = row["predicted"] / row["replayed"] if row["replayed"] > 0 else float("nan")
    print(f"{label:<28}" + "".join(f"{rows[p]['ratio']:>10.2f}" for p in POOLS), flush=True)
    return {"functions": trace.n_functions, "pools": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="0.05,0.5,5,50,300", help="Poisson rates, invocations per minute")
    parser.add_argument("--durations", default="0.2,1,5", help="Poisson functions' execution times, seconds")
    parser.add_argument("--no-azure", action="store_true", help="only the Poisson functions")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    try:
        if args.json:
            try:
                check_output_path(args.json)
            except InputError as exc:
                raise InputError(exc.message, field="--json") from None
        rates = positive_list(args.rates, "--rates")
        durations = positive_list(args.durations, "--durations")
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print("predicted / replayed containers alive (1.00 = exact)")
    print(f"{'function':<28}" + "".join(f"{p.split(':')[0][:9]:>10}" for p in POOLS))
    out: dict[str, Any] = {"pools": list(POOLS), "poisson": {}, "azure": {}}
    for d in durations:
        for rate in rates:
            trace = with_duration(load_trace(f"synthetic:poisson:rate={rate:g},minutes=1440,seed=0"), d)
            out["poisson"][f"{rate:g}/min, {d:g} s"] = compare(f"poisson {rate:g}/min, {d:g} s", trace, np.array([d]))
    if not args.no_azure:
        sample = load_trace(SAMPLE)
        assert sample.durations is not None
        avg_s = np.asarray(sample.durations.average_ms, dtype=float) / 1e3
        avg_s = np.where(np.isfinite(avg_s) & (avg_s > 0), avg_s, DEFAULT_DURATION_MS / 1e3)
        classes = rate_classes(sample.counts[:, :TRAIN_MINUTES].astype(float))
        for k, name in enumerate(RATE_CLASSES):
            rows = np.flatnonzero(classes == k)
            if rows.size:
                label = f"azure {name} ({rows.size})"
                out["azure"][name] = compare(label, sample.select(rows.tolist()), avg_s[rows])
    if args.json:
        write_json_atomic(args.json, out)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
