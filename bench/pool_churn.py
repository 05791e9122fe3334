"""Why one pool misses more windows than another with the same sizes: cold windows, warm windows, paired latencies.

``aquatope evaluate``'s halves show Aquatope's pool with the YAML sizes (``aquatope+defaults``) missing more
one-minute windows than OpenWhisk's 10-minute keep-alive (``openwhisk``), which uses the same sizes. This script
replays both (any two systems, ``--systems A,B``) exactly as ``evaluate`` does (``--scenario``, shared by default;
the peak hour; the same seeds, so both see the same arrivals and the same latency draws per function) and splits
the difference using only what a platform's records show:

* **violated windows**, split into *cold* (some request over the target waited on a cold start) and *warm* (every
  request over the target ran on warm containers);
* **paired latency**: each request that ran warm in both replays, B's end-to-end latency over A's. Each function
  draws its execution times from its own stream in invocation order, so a warm request gets the same draws in both
  replays and the ratio moves only with what the pool changed around it: contention on the machines its
  containers landed on;
* **containers**: how many each started for the workflow, and their median lifetime.

    python bench/pool_churn.py [--systems openwhisk,aquatope+defaults] [--workflows ml-pipeline,trip-booking]
        [--seeds 3] [--scenario shared] [--json bench/results/pool_churn.json]

About 20 s per replay plus a forecaster fit (about a minute) per replay of a forecasting pool: 5 minutes for the
defaults on 2 cores. Figures per (workflow, seed) and pooled; nothing here is tuned.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import aquatope
from aquatope.experiments.evaluate import EVALUATE_WORKFLOWS, EvaluateConfig
from aquatope.experiments.runner import RunSpec, run_one
from aquatope.experiments.study import study_inputs
from aquatope.numerics import pin_arithmetic
from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow

TRACE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
SLOWER, FASTER = 1.05, 1 / 1.05
"""Paired ratios beyond 5% either way are counted (a reporting threshold, not a tuned constant)."""


def windows(requests: list[RequestRecord], t0: float, minutes: int, target_ms: float, q: float) -> dict[str, int]:
    """One-minute windows with requests, and the violated ones split into cold and warm (module docstring)."""
    by_minute: dict[int, list[RequestRecord]] = {}
    for r in requests:
        m = int((r.arrival_s - t0) // 60)
        if 0 <= m < minutes:
            by_minute.setdefault(m, []).append(r)
    out = {"windows": 0, "violated": 0, "cold": 0, "warm": 0}
    for rs in by_minute.values():
        lat = np.array([np.inf if r.failed else r.latency_ms for r in rs])
        out["windows"] += 1
        if np.percentile(lat, 100 * q) > target_ms:
            out["violated"] += 1
            cold = any(r.cold_starts > 0 and (r.failed or r.latency_ms > target_ms) for r in rs)
            out["cold" if cold else "warm"] += 1
    return out


def paired(a: list[RequestRecord], b: list[RequestRecord]) -> np.ndarray:
    """B's latency over A's for each request that ran warm (and did not fail) in both replays."""
    warm_a = {r.request_id: r.latency_ms for r in a if r.cold_starts == 0 and not r.failed}
    return np.array(
        [
            r.latency_ms / warm_a[r.request_id]
            for r in b
            if r.cold_starts == 0 and not r.failed and r.request_id in warm_a
        ]
    )


def containers(records: list[ContainerRecord]) -> dict[str, float]:
    life = [c.lifetime_s for c in records]
    return {"started": len(records), "median_lifetime_s": float(statistics.median(life)) if life else 0.0}


def main(argv: list[str] | None = None) -> None:
    pin_arithmetic()  # before any network runs (aquatope.numerics)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="openwhisk,aquatope+defaults", help="A,B: B is compared with A")
    ap.add_argument("--workflows", default=",".join(EVALUATE_WORKFLOWS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scenario", default="shared", help="a scenario name or file (bench/scenarios/shared-spread.yaml)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    systems = [s.strip() for s in args.systems.split(",")]
    if len(systems) != 2:
        sys.exit("--systems: give exactly two systems, A,B")
    config = EvaluateConfig(scenarios=(args.scenario,), systems=tuple(systems))
    inputs = study_inputs(load_trace(str(TRACE), seed=0), config.protocol, config.budgets, config.retune)
    minutes = config.protocol.window_minutes
    rows: list[dict[str, Any]] = []
    ratios: list[np.ndarray] = []
    for wf_name in args.workflows.split(","):
        wf = load_workflow(wf_name)
        for seed in range(args.seeds):
            kept: dict[str, dict[str, Any]] = {}
            for system in systems:
                keep: dict[str, Any] = {}
                figures = run_one(RunSpec(args.scenario, system, wf_name, seed, "peak"), inputs, keep=keep)
                keep["rate"] = figures["metrics"]["window_violation_rate"]  # evaluate's figure, as a cross-check
                kept[system] = keep
            a, b = (kept[s] for s in systems)
            r = paired(a["requests"], b["requests"])
            ratios.append(r)
            row: dict[str, Any] = {"workflow": wf_name, "seed": seed}
            for s in systems:
                k = kept[s]
                row[s] = windows(k["requests"], k["t0_s"], minutes, wf.qos.latency_ms, wf.qos.quantile)
                row[s] |= containers(k["containers"]) | {"evaluate_window_violation_rate": k["rate"]}
            row["paired"] = {
                "requests": int(r.size),
                "median": float(np.median(r)) if r.size else None,
                "mean": float(r.mean()) if r.size else None,
                "slower_5pct": float(np.mean(r > SLOWER)) if r.size else None,
                "faster_5pct": float(np.mean(r < FASTER)) if r.size else None,
            }
            rows.append(row)
            print_row(row, systems)
    pooled = np.concatenate(ratios) if ratios else np.array([])
    totals = {s: {k: sum(row[s][k] for row in rows) for k in ("windows", "violated", "cold", "warm")} for s in systems}
    print("\npooled:")
    for s in systems:
        t = totals[s]
        print(f"  {s:28s} {t['violated']}/{t['windows']} windows violated: {t['cold']} cold, {t['warm']} warm")
    if pooled.size:
        print(f"  paired latency {systems[1]} / {systems[0]} over {pooled.size} warm requests: median "
              f"{np.median(pooled):.4f}, mean {pooled.mean():.4f}, {np.mean(pooled > SLOWER):.1%} over 5% slower, "
              f"{np.mean(pooled < FASTER):.1%} over 5% faster")  # fmt: skip
    if args.json:
        out = {"scenario": args.scenario, "systems": systems, "runs": rows, "totals": totals}
        args.json.write_text(json.dumps(out, indent=1) + "\n")


def print_row(row: dict[str, Any], systems: list[str]) -> None:
    p = row["paired"]
    parts = [f"{row['workflow']:13s} seed {row['seed']}"]
    for s in systems:
        w = row[s]
        parts.append(
            f"{s}: {w['violated']}/{w['windows']} ({w['cold']} cold, {w['warm']} warm; evaluate: "
            f"{w['evaluate_window_violation_rate']:.3f}), "
            f"{w['started']} containers, median life {w['median_lifetime_s']:.0f} s"
        )
    if p["requests"]:
        parts.append(
            f"paired {p['requests']} warm requests: mean {p['mean']:.3f}, {p['slower_5pct']:.1%} slower, "
            f"{p['faster_5pct']:.1%} faster"
        )
    print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
