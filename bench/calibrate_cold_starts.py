"""Calibrate the simulator's cold-start storm model on this machine's Ray runtime: start time against the number of
containers starting at once.

    python bench/calibrate_cold_starts.py --json storms.json   # full: n = 1, 2, 4, 8, 8 repetitions, ~10 min on 2 cores
    python bench/calibrate_cold_starts.py --quick              # n = 1, 2, 4 once: under a minute
    python bench/calibrate_cold_starts.py --reanalyse a.json   # fit the containers of earlier runs, pooled

**Model** (the simulator's): a container that starts while ``n - 1`` others are starting on its invoker takes
``cold_ms * (1 + b (n - 1))`` (linear) or ``cold_ms * n ** beta`` (power law); both are fitted and reported.
The simulator uses a third, ``cold_ms * max(1, n s / cores)`` (start-up CPU ``s`` vCPU per start, shared over the
cores): chosen after the first full run, for transfer rather than fit: a slope per extra start measured on 2 cores
would put 100 simultaneous starts on a 16-core invoker at 46x, where sharing 16 cores gives 6.7x. Its ``s`` is
printed as ``simulator_s``.

**Method.** One function on a :class:`RayPlatform` (8 logical CPUs so that 8 containers of 1 vCPU fit; the machine
has what it has): its ``init`` is the text pipeline example's ``train_topic_model`` (imports scikit-learn, fits
TF-IDF + naive Bayes on a generated corpus: a realistic Python cold start). A trial sets the pool floor to ``n``
(``set_pool``: ``n`` actors are created in the same instant), waits until all are ready, sends ``n`` requests at once
(each container answers with its own timings), then sets the floor to 0 and waits until every actor process is
gone before the next trial. Every repetition runs every ``n`` in a fresh seeded random order, after one unrecorded
storm that uses up the workers Ray starts in advance. Per container: the start time the platform sees
(``ready - start`` of its record) and where it went: waiting for a worker process (Ray starts at most
``min(cores, num_cpus)`` worker processes at once), the worker's own start (interpreter + Ray), the ``init``, and
its CPU time. The machine's CPU demand during each storm is sampled from ``/proc/stat`` (:mod:`_stress`).

**Fit.** Per ``n``: median start time and IQR over every container of every repetition, and the slowdown
``median(n) / median(1)``: the factor the simulator multiplies a function's own ``cold_ms`` by. ``b`` (linear) and
``beta`` (power law) are least-squares fits on the slowdowns at ``n > 1``, with standard errors and 95% intervals
from a bootstrap over repetitions (resampled with replacement, medians recomputed, refitted). The recommended model
is the linear one unless the power law's RMS residual is at least 10% lower (rule fixed before any run). The
machine's background matters: on a busy shared machine the ``n`` starting workers compete with other users'
sessions as few scheduling entities (the raylet's session, then the containers' cgroup parent), so storms look
worse than on a dedicated invoker; ``bg`` says how busy it was.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calib import (
    Fit,
    calibration_parser,
    check_json_path,
    least_squares,
    load_saved,
    machine_state,
    print_state,
    summary,
    write_json,
)
from _stress import DemandSampler, exit_on_signals, wait_quiet

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LEVELS_FULL = (1, 2, 4, 8)
LEVELS_QUICK = (1, 2, 4)
FN = "storm"
NUM_CPUS = 8
PERF = {
    "model": "parametric",
    "serial_ms": 1,
    "parallel_ms": 0,
    "max_parallelism": 1,
    "io_ms": 0,
    "working_set_mb": 200,
    "min_memory_mb": 150,
    "cv": 0.1,
    "cold_start_ms": 1500,
}
_TOPIC_INIT: Any = None  # the example's init, set in main() (shipped by value with storm_init)


# ----------------------------------------------------------------------------------------------- the function
def _proc_start_boot_s() -> float:
    """When this process started, in CLOCK_BOOTTIME seconds (field 22 of /proc/self/stat)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def storm_init() -> dict[str, Any]:
    """The text pipeline's ``train_topic_model``, with this container's timings kept for the driver."""
    cpu_before = time.process_time()
    began = time.clock_gettime(time.CLOCK_BOOTTIME)
    model = _TOPIC_INIT()
    diag = {
        "pid": os.getpid(),
        "proc_start_boot": _proc_start_boot_s(),
        "init_begin_boot": began,
        "init_end_boot": time.clock_gettime(time.CLOCK_BOOTTIME),
        "cpu_before_init_s": cpu_before,
        "cpu_init_s": time.process_time() - cpu_before,
    }
    return {"model": model, "diag": diag}


def storm_handler(payload: Any, ctx: Any) -> dict[str, Any]:
    return dict(ctx.state["diag"])


# ----------------------------------------------------------------------------------------------- measuring
@dataclass(frozen=True)
class Start:
    """One container's cold start in a storm of ``n`` (seconds; NaN where its own timings are missing)."""

    repetition: int
    n: int
    start_s: float  # ready - start, as the platform records it
    spawn_wait_s: float  # actor created -> its worker process started (negative: a worker started in advance)
    worker_boot_s: float  # process started -> init begins (interpreter, Ray worker, limits)
    init_s: float  # the function's init
    cpu_s: float  # CPU time of the process until init ended
    demand_cpus: float  # mean CPU demand of the machine during the storm
    background_cpus: float  # the machine's demand in the second before the storm


def start_platform() -> Any:
    from aquatope.runtime.platform import RayPlatform
    from aquatope.workflow import workflow_from_dict

    p = RayPlatform(num_cpus=NUM_CPUS, keep_outputs=True)
    try:
        p.bind(FN, storm_handler, init=storm_init)
        fn = {"resources": {"cpu": 1.0, "memory_mb": 512}, "perf": PERF}
        spec = {"name": FN, "qos": {"latency_ms": 60000}, "functions": {FN: fn}, "stages": {FN: {}}}
        p.deploy(workflow_from_dict(spec, base_dir=Path(".")))
    except BaseException:
        p.shutdown()
        raise
    return p


def wait_for(cond: Any, what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def _pid_gone(pid: int | None) -> bool:
    return pid is None or not Path(f"/proc/{pid}").exists()


def storm(p: Any, sampler: DemandSampler, n: int, rep: int, args: argparse.Namespace) -> list[Start]:
    """Wait for a quieter machine, start ``n`` containers at once, collect their timings, then remove them."""
    from aquatope.platform import PoolTarget

    background = wait_quiet(sampler, args.quiet_below, args.max_wait_s)

    known = {c.container_id for c in p.container_records()}
    boot_offset = time.clock_gettime(time.CLOCK_BOOTTIME) - p.wall()
    t_begin = time.monotonic()
    p.set_pool(FN, PoolTarget(n, 36000.0))
    wait_for(lambda: sum(c.state == "idle" for c in p.live_containers()) >= n, f"{n} containers to start")
    t_end = time.monotonic()
    p.submit(FN, np.full(n, p.now_s))
    p.advance(math.inf)
    diags = {}
    for rec in p.request_records()[-n:]:
        if not rec.failed:
            d = p.outputs(rec.request_id)[FN]
            diags[d["pid"]] = d
    pids = {c.container_id: c.pid for c in p.live_containers()}
    p.set_pool(FN, PoolTarget(0, 0.0))
    wait_for(lambda: not p.live_containers() and all(_pid_gone(pid) for pid in pids.values()), "containers to exit")
    demand = sampler.window(t_begin, t_end).demand_cpus
    out = []
    for c in p.container_records():
        if c.container_id in known:
            continue
        d = diags.get(pids.get(c.container_id))
        created = c.start_s + boot_offset
        if d is None:
            out.append(Start(rep, n, c.ready_s - c.start_s, *(math.nan,) * 4, demand, background))
            continue
        spawn = d["proc_start_boot"] - created
        boot = d["init_begin_boot"] - max(created, d["proc_start_boot"])
        init = d["init_end_boot"] - d["init_begin_boot"]
        out.append(
            Start(
                rep,
                n,
                c.ready_s - c.start_s,
                spawn,
                boot,
                init,
                d["cpu_init_s"] + d["cpu_before_init_s"],
                demand,
                background,
            )
        )
    return out


def run_all(args: argparse.Namespace, levels: Sequence[int]) -> list[Start]:
    rng = np.random.default_rng(args.seed)
    began = time.monotonic()
    starts: list[Start] = []
    p = start_platform()
    try:
        with DemandSampler(period_s=0.02) as sampler:
            warm = storm(p, sampler, max(levels) if not args.quick else 1, -1, args)
            print(f"warm-up storm done ({len(warm)} containers, not recorded), {time.monotonic() - began:.0f} s")
            for rep in range(args.repeats):
                for j in rng.permutation(len(levels)):
                    starts += storm(p, sampler, int(levels[j]), rep, args)
                done = (rep + 1) / args.repeats
                eta = (time.monotonic() - began) * (1 - done) / done
                print(f"  repetition {rep + 1}/{args.repeats} done, ~{eta:.0f} s left")
    finally:
        p.shutdown()
    return starts


# ----------------------------------------------------------------------------------------------- fitting
def linear_model(n: np.ndarray, b: float) -> np.ndarray:
    return 1 + b * (n - 1)


def power_model(n: np.ndarray, beta: float) -> np.ndarray:
    return n**beta


def shared_model(cores: int) -> Any:
    """Start-up CPU shared over the cores: ``max(1, n s / cores)``, ``s`` the vCPU one start computes on (the
    simulator's model: it transfers to an invoker of any size, which a slope per extra start does not)."""

    def f(n: np.ndarray, s: float) -> np.ndarray:
        return np.maximum(1.0, np.asarray(n, dtype=float) * s / cores)

    return f


MODELS = {"linear": (linear_model, ("b",)), "power": (power_model, ("beta",))}


def slowdowns(starts: Sequence[Start], levels: Sequence[int]) -> list[float]:
    """Median start time per ``n`` over the median at ``n = 1`` (``levels[0]``): the factor the simulator applies
    to a function's own ``cold_ms``."""
    meds = [summary([s.start_s for s in starts if s.n == n]).median for n in levels]
    return [m / meds[0] for m in meds]


def fit_models(levels: Sequence[int], slow: Sequence[float], cores: int) -> dict[str, Fit]:
    """The models on the slowdowns at ``n > 1`` (the one at ``n = 1`` is 1 by construction)."""
    n, y = levels[1:], slow[1:]
    models = {**MODELS, "shared": (shared_model(cores), ("s",))}
    return {name: least_squares(name, f, n, y, names, (0.5,)) for name, (f, names) in models.items()}


def bootstrap(
    starts: Sequence[Start], levels: Sequence[int], reps: int, rounds: int, seed: int, cores: int
) -> dict[str, Any]:
    """95% intervals of each fitted parameter, resampling whole repetitions with replacement."""
    rng = np.random.default_rng(seed)
    by_rep = {r: [s for s in starts if s.repetition == r] for r in range(reps)}
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        pick = [s for r in rng.integers(0, reps, reps) for s in by_rep[int(r)]]
        try:
            fits = fit_models(levels, slowdowns(pick, levels), cores)
        except (RuntimeError, ValueError):
            continue
        for model, fit in fits.items():
            for k, v in fit.params.items():
                draws.setdefault(f"{model}.{k}", []).append(v)
    return {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in draws.items()}


# ----------------------------------------------------------------------------------------------- report
def _nanmed(values: Sequence[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return summary(v).median if v else math.nan


def print_table(starts: Sequence[Start], levels: Sequence[int], fits: dict[str, Fit], cores: int) -> list[dict]:
    """Per n: start time (median, IQR), slowdown, where the time went, and the processor-sharing reference."""
    print(f"== start time of a container against n starting at once ({cores} cores); medians over containers")
    print(
        f"   {'n':>2} {'conts':>5} {'start s':>7} {'IQR s':>11} {'x n=1':>6} {'linear':>6} {'power':>6} "
        f"{'wait s':>6} {'boot s':>6} {'init s':>6} {'CPU s':>6} {'PS ref':>6} {'bg':>5} {'demand':>6}"
    )
    base = _nanmed([s.start_s for s in starts if s.n == levels[0]])
    cpu1 = _nanmed([s.cpu_s for s in starts if s.n == levels[0]])
    rows = []
    for n in levels:
        g = [s for s in starts if s.n == n]
        t = summary([s.start_s for s in g])
        row = {
            "n": n,
            "containers": t.n,
            "start_median_s": t.median,
            "start_q25_s": t.q25,
            "start_q75_s": t.q75,
            "slowdown": t.median / base,
            "linear_s": base * float(linear_model(np.array(n), **fits["linear"].params)),
            "power_s": base * float(power_model(np.array(n), **fits["power"].params)),
            "spawn_wait_s": _nanmed([s.spawn_wait_s for s in g]),
            "worker_boot_s": _nanmed([s.worker_boot_s for s in g]),
            "init_s": _nanmed([s.init_s for s in g]),
            "cpu_s": _nanmed([s.cpu_s for s in g]),
            "ps_reference_s": cpu1 * max(1.0, n / cores),
            "demand_cpus": _nanmed([s.demand_cpus for s in g]),
            "background_cpus": _nanmed([s.background_cpus for s in g]),
        }
        rows.append(row)
        print(
            f"   {n:>2} {t.n:>5} {t.median:>7.2f} {t.q25:>5.2f}..{t.q75:<5.2f} {row['slowdown']:>6.2f} "
            f"{row['linear_s']:>6.2f} {row['power_s']:>6.2f} {row['spawn_wait_s']:>6.2f} {row['worker_boot_s']:>6.2f} "
            f"{row['init_s']:>6.2f} {row['cpu_s']:>6.2f} {row['ps_reference_s']:>6.2f} {row['background_cpus']:>5.2f} "
            f"{row['demand_cpus']:>6.2f}"
        )
    print(
        "   wait = actor created -> worker process started; boot = process -> init; PS ref = CPU s at n=1 x "
        "max(1, n / cores): all-CPU processor sharing; bg, demand = the machine's CPU demand before / during it"
    )
    return rows


def recommend(fits: dict[str, Fit]) -> str:
    return "power" if fits["power"].rms < 0.9 * fits["linear"].rms else "linear"


def measure(args: argparse.Namespace, levels: Sequence[int]) -> tuple[list[Start], dict[str, Any], dict[str, Any]]:
    global _TOPIC_INIT
    sys.path.insert(0, str(EXAMPLES))
    import text_pipeline
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(text_pipeline)  # the workers cannot import examples/
    _TOPIC_INIT = text_pipeline.train_topic_model
    before = machine_state()
    print_state("before", before)
    starts = run_all(args, levels)
    return starts, before, machine_state()


def load_starts(paths: Sequence[str]) -> tuple[list[Start], dict[str, Any], dict[str, Any]]:
    """The containers saved by earlier runs (``--json``), pooled (repetitions renumbered run after run)."""
    runs, before, after = load_saved(paths, "containers")
    starts: list[Start] = []
    for run in runs:
        offset = 1 + max((s.repetition for s in starts), default=-1)
        starts += [Start(**{**c, "repetition": c["repetition"] + offset}) for c in run]
    return starts, before, after


def report(args: argparse.Namespace, starts: Sequence[Start], levels: Sequence[int], cores: int) -> dict[str, Any]:
    """Table, fits with standard errors and bootstrap intervals, recommendation."""
    fits = fit_models(levels, slowdowns(starts, levels), cores)
    rows = print_table(starts, levels, fits, cores)
    reps = 1 + max(s.repetition for s in starts)
    intervals = bootstrap(starts, levels, reps, args.bootstrap, args.seed, cores) if reps > 1 else {}
    for fit in fits.values():
        ci = "; ".join(f"{k} 95% [{v[0]:.3f}, {v[1]:.3f}]" for k, v in intervals.items() if k.startswith(fit.model))
        print(f"   fit of the slowdown {fit.text()}" + (f"; bootstrap over repetitions: {ci}" if ci else ""))
    best = recommend(fits)
    rec = {"model": best, **{k: round(v, 4) for k, v in fits[best].params.items()}}
    rec["simulator_s"] = round(fits["shared"].params["s"], 4)  # the simulator's cold_start_storm (module docstring)
    rec["cold_ms_here"] = round(rows[0]["start_median_s"] * 1000.0, 1)
    print(f"recommended: {rec}")
    return {
        "models": {
            "linear": "cold_ms * (1 + b (n - 1))",
            "power": "cold_ms * n ** beta",
            "shared": "cold_ms * max(1, n s / cores)",
        },
        "per_n": rows,
        "fits": {k: f.as_dict() for k, f in fits.items()},
        "bootstrap_95": intervals,
        "recommended": rec,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = calibration_parser(__doc__, 8, "n = 1, 2, 4 once (< 1 min)", "longest wait for it before a storm")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap rounds for the intervals")
    parser.add_argument("--reanalyse", nargs="+", metavar="JSON", help="fit the containers of earlier runs (pooled)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.max_wait_s = 1, 0.0
    levels = list(LEVELS_QUICK if args.quick else LEVELS_FULL)
    if args.levels:
        if any(v != int(v) for v in args.levels):
            parser.error(f"--levels: container counts must be whole numbers, got {args.levels}")
        levels = sorted({1, *(int(v) for v in args.levels)})  # the slowdown is relative to n = 1
    check_json_path(args.json)
    exit_on_signals()
    began = time.monotonic()
    starts, before, after = load_starts(args.reanalyse) if args.reanalyse else measure(args, levels)
    levels = [n for n in levels if any(s.n == n for s in starts)]
    result = report(args, starts, levels, before["cores"])
    print_state("after", after)
    print(f"run took {time.monotonic() - began:.0f} s")
    what = "cold-start storm calibration (bench/calibrate_cold_starts.py)"
    data = {"what": what, "args": vars(args), "machine_before": before, "machine_after": after, **result}
    write_json(args.json, {**data, "containers": [asdict(s) for s in starts]})


if __name__ == "__main__":
    main()
