"""The evaluation protocol: which trace minutes train, which replay, and which trace functions drive a workflow.

Held out by construction:

* **Training part**: the trace's first ``train_minutes``. Everything fitted or chosen from data uses only these
  minutes: the forecasters, the traffic classes that pick functions, a workflow's scale factor, the cluster's size
  (:mod:`aquatope.scenarios.world`), and any tuned pool parameter (``keepalive:auto``).
* **Replay windows**: in the held-out rest of the trace, windows of ``window_minutes`` starting on the hour;
  ``peak`` is the one with the most invocations of the whole trace and ``quiet`` the one with the fewest (the
  trace's aggregate load is part of the evaluation's design, never an input of a system). A run starts
  ``settle_minutes + warmup_minutes`` before its window: for ``settle_minutes`` the tenants alone run, until their
  long invocations (a tenth of the Azure sample's functions average over a minute; the cluster's computing load
  ramps up for about an hour from an empty start, measured on the bundled trace) fill the cluster as they would
  in a running system; then for ``warmup_minutes`` right-sizing measures (in production, on the live cluster)
  before the workflow's first request.
* **Workflow arrivals**: a workflow's requests per minute are the summed counts of ``functions_per_workflow``
  trace functions, one per traffic class in turn (sporadic, periodic, bursty, steady, classes of the training
  part), each drawn at random among the functions of its class that were invoked in training; the draw depends only
  on the seed and the workflow's name, so a workflow gets the same functions whichever others are run. The counts
  are scaled down (never up) so that the training part's mean rate is at most ``max_rps``, with stochastic rounding
  from the same seed.
* **History**: what a controller has seen when the window starts is every minute before the window (the training
  part and any held-out minutes before it), never a minute of the window.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from aquatope.errors import InputError
from aquatope.traces import InvocationTrace
from aquatope.traces.classify import classify
from aquatope.workflow import Workflow

CLASS_ORDER = ("sporadic", "periodic", "bursty", "steady")
WINDOW_NAMES = ("peak", "quiet")


@dataclass(frozen=True)
class Protocol:
    """The evaluation protocol's parameters (module docstring); every field is recorded with the results."""

    train_minutes: int = 960
    window_minutes: int = 120
    windows: tuple[str, ...] = ("peak",)
    warmup_minutes: int = 30
    settle_minutes: int = 60
    functions_per_workflow: int = 3
    max_rps: float = 2.0

    def __post_init__(self) -> None:
        for name in ("train_minutes", "window_minutes", "functions_per_workflow"):
            if getattr(self, name) < 1:
                raise InputError(f"must be >= 1, got {getattr(self, name)}", field=name)
        for name in ("warmup_minutes", "settle_minutes"):
            if getattr(self, name) < 0:
                raise InputError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if not (self.max_rps > 0 and np.isfinite(self.max_rps)):
            raise InputError(f"must be a finite number > 0, got {self.max_rps}", field="--max-rps")
        unknown = [w for w in self.windows if w not in WINDOW_NAMES]
        if unknown or not self.windows:
            raise InputError(f"windows must be among {', '.join(WINDOW_NAMES)}, got {self.windows}", field="--windows")

    def check(self, trace: InvocationTrace) -> None:
        """Refuse a trace too short for this protocol, saying what would fit."""
        need = self.train_minutes + self.window_minutes
        if trace.n_minutes < need:
            raise InputError(
                f"the trace has {trace.n_minutes} minutes; training {self.train_minutes} + a "
                f"{self.window_minutes}-minute window need {need}",
                field="--window-hours",
            )
        if self.warmup_minutes + self.settle_minutes > self.train_minutes:
            raise InputError(
                "the settling and warm-up minutes must fit before the held-out part", field="warmup_minutes"
            )

    @property
    def lead_minutes(self) -> int:
        """Minutes a run simulates before its window: tenants settle, then right-sizing measures."""
        return self.settle_minutes + self.warmup_minutes


def window_starts(trace: InvocationTrace, protocol: Protocol) -> dict[str, int]:
    """Start minute of each named replay window in the held-out part (module docstring)."""
    protocol.check(trace)
    total = trace.counts.sum(axis=0)
    first, last = protocol.train_minutes, trace.n_minutes - protocol.window_minutes
    starts = [m for m in range(first, last + 1) if m % 60 == 0] or [first]
    load = {m: int(total[m : m + protocol.window_minutes].sum()) for m in starts}
    chosen = {"peak": max(starts, key=lambda m: (load[m], -m)), "quiet": min(starts, key=lambda m: (load[m], m))}
    return {w: chosen[w] for w in protocol.windows}


def training_classes(trace: InvocationTrace, protocol: Protocol) -> list[str]:
    """Traffic class of every trace function, from the training part only."""
    return [str(c) for c in classify(trace.slice_minutes(0, protocol.train_minutes))]


def workflow_rows(classes: list[str], train_totals: np.ndarray, workflow: str, k: int, seed: int) -> list[int]:
    """``k`` trace rows for ``workflow``: one per class in turn, drawn at random (seed, workflow name) among the
    functions of that class invoked in training; classes with none are passed over."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(workflow.encode()),)))
    pools = {c: [i for i, cl in enumerate(classes) if cl == c and train_totals[i] > 0] for c in CLASS_ORDER}
    if not any(pools.values()):
        raise InputError("no function of the trace is invoked in the training part", field="--trace")
    out: list[int] = []
    turn = 0
    while len(out) < k and any(pools.values()):
        cls = CLASS_ORDER[turn % len(CLASS_ORDER)]
        turn += 1
        if pools[cls]:
            out.append(pools[cls].pop(int(rng.integers(len(pools[cls])))))
    return out


@dataclass(frozen=True)
class Workload:
    """One workflow's arrivals for one seed and window: its trace rows and their classes, the scale factor,
    requests per minute over the whole trace (scaled), and where the window starts."""

    workflow: Workflow
    window: str
    rows: tuple[int, ...]
    function_ids: tuple[str, ...]
    classes: tuple[str, ...]
    scale: float
    requests: np.ndarray
    start_minute: int
    minutes: int
    train_minutes: int

    @property
    def history(self) -> np.ndarray:
        """Requests per minute before the window (what a controller has seen)."""
        return self.requests[: self.start_minute].astype(float)

    @property
    def replay(self) -> np.ndarray:
        return self.requests[self.start_minute : self.start_minute + self.minutes]

    @property
    def training(self) -> np.ndarray:
        return self.requests[: self.train_minutes].astype(float)

    def function_history(self) -> np.ndarray:
        """Per-function invocations per minute before the window, ``(n_functions, start_minute)``."""
        calls = self.workflow.invocations_per_request()
        return np.stack([self.history * calls[f] for f in self.workflow.function_names])

    def mapping(self) -> dict[str, object]:
        return {
            "trace_functions": list(self.function_ids),
            "classes": list(self.classes),
            "scale": self.scale,
            "window": self.window,
            "window_start_minute": self.start_minute,
            "replay_requests": int(self.replay.sum()),
            "mean_rps": float(self.replay.mean() / 60.0) if self.minutes else 0.0,
        }


def make_workload(
    trace: InvocationTrace, protocol: Protocol, workflow: Workflow, seed: int, window: str, classes: list[str]
) -> Workload:
    """The arrivals of ``workflow`` for ``seed`` and ``window`` (module docstring)."""
    starts = window_starts(trace, protocol)
    train = trace.counts[:, : protocol.train_minutes]
    rows = workflow_rows(classes, train.sum(axis=1), workflow.name, protocol.functions_per_workflow, seed)
    counts = trace.counts[rows].sum(axis=0).astype(float)
    mean_rps = float(counts[: protocol.train_minutes].mean()) / 60.0
    scale = min(1.0, protocol.max_rps / mean_rps) if mean_rps > 0 else 1.0
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(workflow.name.encode()), 1)))
    scaled = counts * scale
    base = np.floor(scaled)
    requests = (base + (rng.random(scaled.shape) < scaled - base)).astype(np.int64)
    ids = trace.function_ids
    return Workload(
        workflow,
        window,
        tuple(rows),
        tuple(ids[r] if ids else str(r) for r in rows),
        tuple(classes[r] for r in rows),
        scale,
        requests,
        starts[window],
        protocol.window_minutes,
        protocol.train_minutes,
    )
