"""Calibrate the simulator's interference model on this machine's Ray runtime: slowdown against CPU utilisation.

    python bench/calibrate_interference.py --json interference.json   # full: 10 repetitions, 12-25 min on 2 cores
    python bench/calibrate_interference.py --quick                    # 1 repetition, 3 levels: under a minute
    python bench/calibrate_interference.py --reanalyse a.json b.json  # fit the trials of earlier runs, pooled

**Model** (the simulator's): an invoker has ``C`` vCPUs; its demand ``D`` is the vCPU limits of the invocations in
their CPU phase, ``u = D / C``; a CPU-phase invocation progresses at ``r(u) = 1 / ((1 + a min(u, 1)) max(1, u))``.
So an invocation of unloaded duration ``t0`` takes ``t0 (1 + a min(u, 1)) max(1, u)`` at a steady ``u``: a contention
slope ``a`` below capacity, processor sharing above it. ``a_cpu`` is fitted on CPU-bound code, ``a_mem`` on
memory-bandwidth-bound code.

**Method.** Two functions on a :class:`RayPlatform`, each in a warm 1-vCPU container (CFS quota where cgroups are
writable): ``cpu`` (a pure-Python loop and 64x64 matrix products, all in L1/L2) and ``mem`` (``+= 1`` passes over
a 256 MB array made by its ``init``; the L3 here is 32 MB). A block starts a controlled stress load
(:mod:`_stress`: ``cpu`` busy loops or ``mem`` streaming processes asking for ``level`` CPUs in total, duty-cycled
for fractions, each in its own session so that it weighs as much as one container), lets it settle, then invokes
the two functions alternately (ABAB, the order flipping from block to block), ``--per-block`` times each. Every
repetition runs every block (no stress, and each kind x level) in a fresh seeded random order; before a block at or
below capacity it waits (up to ``--max-wait-s``) for the machine's background demand to drop below
``--quiet-below`` CPUs, since the slope below capacity can only be seen when the other users leave a CPU idle.
Each invocation's duration and CPU time are taken inside the handler; ``u`` is *measured* over exactly that
window (the machine is shared: other users' load counts): ``u = mean(procs_running) / cores`` from ``/proc/stat``
sampled every 10 ms (tasks running or waiting for a CPU, ours included). The busy share of the CPUs is reported
next to it; it saturates at 1, so it cannot show demand above capacity, which is why the demand is the ``u`` of
the fit. Caveat: the kernel shares a CPU fairly between scheduling entities (a cgroup, or a session when
``sched_autogroup_enabled`` is 1, as here), not between tasks, so another user's session with several runnable
tasks counts several times in ``u`` but competes as one.

**Fit** (:mod:`_interference_fit`). Trials are grouped in bins of measured ``u`` (width 0.25); per bin the median
``u``, the median duration and its IQR. Per function, ``t0`` and ``a`` are fitted by least squares on the bin
medians (bins with at least ``--min-bin`` trials), pooled over both stress kinds (the simulator's ``D`` does not
know what the neighbours do); per-kind fits are printed too. ``a`` needs bins below capacity (above it only
``t0 (1 + a)`` is seen); without two, the script says it is not identifiable and recommends nothing. Checks: ``a``
from the handler's CPU time against the busy share (contention without the waits), a time-resolved fit over every
10 ms demand sample, and processor sharing above capacity (``t = k u^gamma`` and ``wall / CPU = k u^gamma``,
``gamma ~ 1`` if it holds). The recommended defaults are the pooled binned fits, clipped at 0 (rule fixed before
any run).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calib import Fit, calibration_parser, check_json_path, load_saved, machine_state, print_state, write_json
from _interference_fit import (
    bins_of,
    fit_contention,
    fit_cpu_time,
    fit_ps,
    fit_stress_increment,
    fit_time_resolved,
    print_bins,
)
from _stress import KINDS, DemandSampler, Stress, exit_on_signals, wait_quiet

LEVELS_FULL = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
LEVELS_QUICK = (1.0, 3.0)
HANDLERS = ("cpu", "mem")
ARRAY_MB = 256
MEM_PASSES = 20
CPU_LOOP = 2_500_000
CPU_MATMULS = 2500
PERF = {
    "model": "parametric",
    "serial_ms": 400,
    "parallel_ms": 0,
    "max_parallelism": 1,
    "io_ms": 0,
    "working_set_mb": 400,
    "min_memory_mb": 300,
    "cv": 0.1,
    "cold_start_ms": 1000,
}


# ----------------------------------------------------------------------------------------------- the two functions
def cpu_handler(payload: Any) -> dict[str, float]:
    """CPU-bound, in cache: a pure-Python LCG loop, then small matrix products (one thread)."""
    t0, c0 = time.monotonic(), time.process_time()
    x = 1
    for _ in range(CPU_LOOP):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    m = np.full((64, 64), 1.0 / 64)
    acc = np.eye(64)
    for _ in range(CPU_MATMULS):
        acc = acc @ m
    return {"t0": t0, "t1": time.monotonic(), "cpu_s": time.process_time() - c0, "check": float(acc[0, 0] + x)}


def make_array() -> np.ndarray:
    return np.ones(ARRAY_MB * 1024 * 1024 // 8)


def mem_handler(payload: Any, ctx: Any) -> dict[str, float]:
    """Memory-bandwidth bound: ``MEM_PASSES`` read-modify-write passes over the container's 256 MB array."""
    t0, c0 = time.monotonic(), time.process_time()
    data = ctx.state
    for _ in range(MEM_PASSES):
        data += 1.0
    return {"t0": t0, "t1": time.monotonic(), "cpu_s": time.process_time() - c0, "check": float(data[0])}


# ----------------------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Trial:
    repetition: int
    handler: str
    stress: str  # cpu | mem | none
    level_vcpu: float
    duration_s: float
    cpu_s: float
    u: float
    busy_share: float
    steal_share: float
    samples: int
    hist: dict[int, int]
    background_cpus: float  # the machine's demand in the second before the block (no stress, no invocation)


def start_platform() -> Any:
    """A platform with the two functions deployed, one warm 1-vCPU container each, first calls done."""
    from aquatope.platform import PoolTarget
    from aquatope.runtime.platform import RayPlatform
    from aquatope.workflow import workflow_from_dict

    p = RayPlatform(num_cpus=2, keep_outputs=True)
    try:
        p.bind("cpu", cpu_handler)
        p.bind("mem", mem_handler, init=make_array)
        for name, memory_mb in (("cpu", 512), ("mem", 1024)):
            fn = {"resources": {"cpu": 1.0, "memory_mb": memory_mb}, "perf": PERF}
            spec = {"name": name, "qos": {"latency_ms": 60000}, "functions": {name: fn}, "stages": {name: {}}}
            p.deploy(workflow_from_dict(spec, base_dir=Path(".")))
            p.set_pool(name, PoolTarget(1, 36000.0))
        for name in HANDLERS:
            invoke(p, name)  # waits for the cold start; the first (warm-up) calls are not recorded
            invoke(p, name)
    except BaseException:
        p.shutdown()
        raise
    return p


def invoke(p: Any, name: str) -> dict[str, float]:
    """One request to workflow ``name``; the handler's own timing."""
    p.submit(name, np.array([p.now_s]))
    p.advance(math.inf)
    rec = p.request_records()[-1]
    if rec.failed:
        raise RuntimeError(f"{name} failed: {rec.error}")
    return p.outputs(rec.request_id)[name]


def run_block(
    p: Any, sampler: DemandSampler, block: tuple[str, float], args: argparse.Namespace, rep: int, flip: bool
) -> list[Trial]:
    """One stress block: wait for a quieter machine (blocks at or below capacity only), start the stress, settle,
    then invoke cpu and mem alternately (ABAB..., BABA... if ``flip``), ``--per-block`` times each."""
    kind, level = block
    background = wait_quiet(sampler, args.quiet_below, args.max_wait_s if level <= 1.0 else 0.0)
    out = []
    with Stress(kind if kind != "none" else "cpu", level, array_mb=ARRAY_MB):
        time.sleep(0.3)
        for i in range(args.per_block):
            for name in HANDLERS if (i + flip) % 2 == 0 else HANDLERS[::-1]:
                r = invoke(p, name)
                w = sampler.window(r["t0"], r["t1"])
                u = w.demand_cpus / sampler.cores
                dur = r["t1"] - r["t0"]
                out.append(
                    Trial(
                        rep,
                        name,
                        kind,
                        level,
                        dur,
                        r["cpu_s"],
                        u,
                        w.busy_share,
                        w.steal_share,
                        w.samples,
                        w.hist,
                        background,
                    )
                )
    return out


def blocks(levels: Sequence[float]) -> list[tuple[str, float]]:
    return [("none", 0.0)] + [(k, lv) for k in KINDS for lv in levels]


def run_all(args: argparse.Namespace, levels: Sequence[float]) -> list[Trial]:
    rng = np.random.default_rng(args.seed)
    trials: list[Trial] = []
    began = time.monotonic()
    p = start_platform()
    try:
        print(f"platform ready in {time.monotonic() - began:.0f} s; enforcement {p.enforcement()}")
        with DemandSampler() as sampler:
            todo = blocks(levels)
            for rep in range(args.repeats):
                for i, j in enumerate(rng.permutation(len(todo))):
                    trials += run_block(p, sampler, todo[j], args, rep, bool((rep + i) % 2))
                done = (rep + 1) / args.repeats
                eta = (time.monotonic() - began) * (1 - done) / done
                last = trials[-2 * args.per_block * len(todo) :]
                print(
                    f"  repetition {rep + 1}/{args.repeats}: {len(last)} trials, measured u "
                    f"{min(t.u for t in last):.2f}..{max(t.u for t in last):.2f}, ~{eta:.0f} s left"
                )
    finally:
        p.shutdown()
    return trials


# ----------------------------------------------------------------------------------------------- analysis
def analyse(name: str, trials: Sequence[Trial], min_bin: int, cores: int) -> dict[str, Any]:
    """Bins and fits for one function (see :mod:`_interference_fit`)."""
    mine = [t for t in trials if t.handler == name]
    pooled = bins_of(mine)
    fits: dict[str, Fit | None] = {"pooled": fit_contention(f"a_{name} (pooled)", pooled, min_bin)}
    for kind in KINDS:
        sub = bins_of([t for t in mine if t.stress in (kind, "none")])
        fits[f"{kind}_stress"] = fit_contention(f"a_{name} ({kind} stress only)", sub, min_bin)
    fits["cpu_time"] = fit_cpu_time(f"a_{name} from CPU time vs busy share", mine)
    fits["time_resolved"] = fit_time_resolved(f"a_{name} time-resolved", mine, cores)
    fits["ps_time"] = fit_ps(f"{name}: t = k u^gamma above capacity", pooled, min_bin, ratio=False)
    fits["ps_wall_over_cpu"] = fit_ps(f"{name}: wall/CPU = k u^gamma above capacity", pooled, min_bin, ratio=True)
    fits["stress_increment"] = fit_stress_increment(f"{name}: wall/CPU = c + m x stress CPUs", mine, cores)
    print_bins(name, pooled, fits["pooled"], min_bin)
    for f in fits.values():
        if f is not None:
            print(f"   fit {f.text()}")
    return {"bins": [asdict(b) for b in pooled], "fits": {k: (f.as_dict() if f else None) for k, f in fits.items()}}


def recommend(results: dict[str, Any]) -> dict[str, Any]:
    """The pooled contention fits clipped at 0 (None where not identifiable) and the processor-sharing exponents."""
    out: dict[str, Any] = {}
    for name in HANDLERS:
        fits = results[name]["fits"]
        pooled = fits["pooled"]
        out[f"a_{name}"] = None if pooled is None else round(max(0.0, pooled["params"]["a"]), 3)
        out[f"a_{name}_stderr"] = None if pooled is None else round(pooled["stderr"]["a"], 3)
        for key in ("ps_time", "ps_wall_over_cpu"):
            f = fits[key]
            out[f"gamma_{name}_{key[3:]}"] = None if f is None else round(f["params"]["gamma"], 3)
        inc = fits["stress_increment"]
        out[f"stress_weight_{name}"] = None if inc is None else round(inc["params"]["weight"], 3)
    return out


def load_trials(paths: Sequence[str]) -> tuple[list[Trial], dict[str, Any], dict[str, Any]]:
    """The trials saved by earlier runs (``--json``), pooled."""
    runs, before, after = load_saved(paths, "trials")
    trials = [Trial(**{**t, "hist": {int(k): c for k, c in t["hist"].items()}}) for run in runs for t in run]
    return trials, before, after


def main(argv: Sequence[str] | None = None) -> None:
    quick = "1 repetition, levels 0/1/3 (< 1 min)"
    parser = calibration_parser(__doc__, 10, quick, "longest wait for it, per block at u <= 1")
    parser.add_argument("--per-block", type=int, default=1, help="invocations of each function per block")
    parser.add_argument("--min-bin", type=int, default=3, help="trials a u bin needs to enter the fit")
    parser.add_argument("--reanalyse", nargs="+", metavar="JSON", help="fit the trials of earlier runs (pooled)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.per_block, args.min_bin, args.max_wait_s = 1, 1, 1, 0.0
    levels = LEVELS_QUICK if args.quick else LEVELS_FULL
    if args.levels:
        levels = args.levels
    check_json_path(args.json)
    exit_on_signals()
    began = time.monotonic()
    if args.reanalyse:
        trials, before, after = load_trials(args.reanalyse)
    else:
        before = machine_state()
        print_state("before", before)
        print(
            f"levels (stress CPUs): 0 and {', '.join(f'{v:g}' for v in levels)} x {KINDS}; {args.repeats} repetitions"
        )
        trials = run_all(args, levels)
        after = machine_state()
    results = {name: analyse(name, trials, args.min_bin, before["cores"]) for name in HANDLERS}
    rec = recommend(results)
    print(f"recommended: {rec}")
    print_state("after", after)
    print(f"run took {time.monotonic() - began:.0f} s")
    data = {
        "what": "interference calibration (bench/calibrate_interference.py)",
        "args": vars(args),
        "machine_before": before,
        "machine_after": after,
        "model": "t = t0 (1 + a min(u, 1)) max(1, u), u = measured CPU demand / cores",
        "recommended": rec,
        "results": results,
        "trials": [asdict(t) for t in trials],
    }
    write_json(args.json, data)


if __name__ == "__main__":
    main()
