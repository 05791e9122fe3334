"""Workflows: a DAG of stages, each invoking one function, with an end-to-end QoS target.

Shapes supported by one mechanism:

* *sequence*: ``b`` lists ``a`` in ``after``;
* *parallel branches*: two stages list the same predecessor; a later stage lists both (fan-in);
* *map / fan-out*: a stage with ``fanout: N`` runs N parallel copies and ends when all have ended;
  stages that share a *map group* (``map: chunks``) run element-wise: copy i of ``transcode`` starts when
  copy i of ``watermark`` ends, so a group is N independent pipelines. An edge from outside a group into it
  broadcasts (every copy waits for the predecessor); an edge out of a group is a fan-in (waits for all copies).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aquatope.errors import InputError, brief
from aquatope.resources import ResourceConfig

if TYPE_CHECKING:
    from aquatope.perf import PerfModel

WORKFLOW_KINDS = ("analytics", "interactive")
FUNCTION_BOUNDS = ("cpu", "memory")
DEFAULT_TIMEOUT_S = 60.0
"""Time limit of one invocation on a real platform when the YAML gives no ``timeout_s``: OpenWhisk's default action
time limit (60 s; AWS Lambda's is 3 s, Cloud Run functions' 60 s)."""
MAX_TIMEOUT_S = 3600.0
"""The longest ``timeout_s`` accepted: Cloud Run's maximum request timeout (60 min; AWS Lambda's is 15 min)."""
MAX_STAGES = 1000
"""Most stages in a workflow (the built-in ones have 3-9); validation and simulation are per stage."""
MAX_FANOUT = 10_000
"""Largest fan-out of a stage: AWS Step Functions' distributed map runs at most 10,000 child workflows at once."""
MAX_INVOCATIONS_PER_REQUEST = 10_000
"""Most function invocations one request may cause (fan-out copies included); each is sampled per request."""


@dataclass(frozen=True)
class QoS:
    """End-to-end latency target: the ``percentile`` (e.g. 95 for p95) of request latency must be <= ``latency_ms``."""

    latency_ms: float
    percentile: float = 95.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency_ms) and self.latency_ms > 0):
            raise InputError(f"QoS latency must be > 0 ms, got {brief(self.latency_ms)}", field="qos.latency_ms")
        if not (0 < self.percentile < 100):
            raise InputError(
                f"QoS percentile must be in (0, 100), got {brief(self.percentile)}", field="qos.percentile"
            )

    @property
    def quantile(self) -> float:
        """The percentile as a quantile level in (0, 1)."""
        return self.percentile / 100.0

    def __str__(self) -> str:
        return f"p{self.percentile:g} <= {self.latency_ms:g} ms"


@dataclass(frozen=True)
class FunctionSpec:
    """A serverless function: its performance model and the configuration it runs with by default.

    ``handler`` and ``init`` bind the function to code for a real platform (the Ray runtime): ``module:function``
    references, the handler called per invocation and the optional init run once per container (its cold start).
    The simulator ignores them.

    ``output_mb`` is the payload one invocation emits to the stages after it (MB; it crosses object storage, so it
    costs a transfer delay on every outgoing edge in a scenario with transfers); ``bound`` says what limits its
    compute, ``cpu`` or ``memory`` (memory bandwidth): the simulator's interference model slows the two
    differently under contention (see :mod:`aquatope.sim.contention`). ``timeout_s`` bounds one invocation on a real
    platform (the invocation fails and its container is replaced; default :data:`DEFAULT_TIMEOUT_S`); the simulator
    ignores it.
    """

    name: str
    perf: PerfModel
    resources: ResourceConfig
    description: str = ""
    handler: str | None = None
    init: str | None = None
    output_mb: float = 0.0
    bound: str = "cpu"
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if isinstance(self.output_mb, bool) or not (
            isinstance(self.output_mb, int | float) and math.isfinite(self.output_mb) and 0 <= self.output_mb <= 1e6
        ):
            raise InputError(f"must be a number of MB in [0, 1e6], got {brief(self.output_mb)}", field="output_mb")
        if self.bound not in FUNCTION_BOUNDS:
            raise InputError(f"must be one of {', '.join(FUNCTION_BOUNDS)}, got {brief(self.bound)}", field="bound")
        if isinstance(self.timeout_s, bool) or not (
            isinstance(self.timeout_s, int | float) and 0 < self.timeout_s <= MAX_TIMEOUT_S
        ):
            raise InputError(
                f"must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], got {brief(self.timeout_s)}", field="timeout_s"
            )


@dataclass(frozen=True)
class Stage:
    """One node of the DAG: invokes ``function`` ``fanout`` times in parallel once all ``after`` stages end.

    ``map_group`` names the map group the stage belongs to (stages of one group are element-wise); a stage with
    ``fanout > 1`` and no declared group forms a group of its own, named after the stage.
    """

    name: str
    function: str
    after: tuple[str, ...] = ()
    fanout: int = 1
    map_group: str | None = None


@dataclass(frozen=True)
class Workflow:
    """A validated workflow: functions, a DAG of stages in topological order, and a QoS target."""

    name: str
    qos: QoS
    functions: Mapping[str, FunctionSpec]
    stages: tuple[Stage, ...]
    kind: str = "analytics"
    description: str = ""
    source: Path | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_dag(self.stages, self.functions, source=str(self.source) if self.source else None)
        order = topological_order(self.stages)
        by_name = {s.name: s for s in self.stages}
        object.__setattr__(self, "stages", tuple(by_name[n] for n in order))
        object.__setattr__(self, "_index", {s.name: i for i, s in enumerate(self.stages)})

    def stage(self, name: str) -> Stage:
        if name not in self._index:
            raise InputError(f"workflow {brief(self.name)} has no stage {brief(name)}; stages: {list(self._index)}")
        return self.stages[self._index[name]]

    @property
    def function_names(self) -> tuple[str, ...]:
        """Functions in first-use order along the topological order of stages."""
        seen: dict[str, None] = {}
        for s in self.stages:
            seen.setdefault(s.function, None)
        return tuple(seen)

    def default_configs(self) -> dict[str, ResourceConfig]:
        """Each function's default ResourceConfig, as written in the YAML."""
        return {name: self.functions[name].resources for name in self.function_names}

    def renamed(self, prefix: str) -> Workflow:
        """A copy whose workflow and function names start with ``prefix`` (stages keep their names): a shadow
        deployment of the same code next to the original on one platform."""
        functions = {prefix + n: dataclasses.replace(f, name=prefix + n) for n, f in self.functions.items()}
        stages = tuple(dataclasses.replace(s, function=prefix + s.function) for s in self.stages)
        return Workflow(prefix + self.name, self.qos, functions, stages, self.kind, self.description, self.source)

    def successors(self, name: str) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if name in s.after)

    def sources(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if not s.after)

    def sinks(self) -> tuple[str, ...]:
        used = {p for s in self.stages for p in s.after}
        return tuple(s.name for s in self.stages if s.name not in used)

    def invocations_per_request(self) -> dict[str, int]:
        """How many times each function is invoked by one workflow request (fan-out copies included)."""
        counts: dict[str, int] = {}
        for s in self.stages:
            counts[s.function] = counts.get(s.function, 0) + s.fanout
        return counts

    def elementwise(self, pred: str, stage: str) -> bool:
        """True if copy i of ``stage`` waits only for copy i of ``pred`` (same map group)."""
        a, b = self.stage(pred), self.stage(stage)
        return a.map_group is not None and a.map_group == b.map_group

    def end_to_end_ms(self, stage_latency_ms: Mapping[str, np.ndarray], transfer_ms: float = 0.0) -> np.ndarray:
        """End-to-end latency of requests from per-stage, per-copy latencies (critical path through the DAG).

        ``stage_latency_ms[name]`` has shape (n,) or (n, fanout): n requests, one column per copy. A stage's copy
        starts when what it waits for has ended (see :meth:`elementwise`) plus ``transfer_ms`` per edge; the
        request ends when every sink has ended. NaN (a failed invocation) propagates to NaN. Returns shape (n,).
        """
        finish: dict[str, np.ndarray] = {}
        n = _request_count(stage_latency_ms)
        for s in self.stages:
            lat = np.asarray(stage_latency_ms[s.name], dtype=float).reshape(n, -1)
            if lat.shape[1] not in (1, s.fanout):
                raise ValueError(f"stage {s.name!r}: expected {s.fanout} columns, got {lat.shape[1]}")
            start = np.zeros((n, s.fanout))
            for p in s.after:
                ready = finish[p] + transfer_ms
                if not self.elementwise(p, s.name):
                    ready = np.max(ready, axis=1, keepdims=True)
                start = np.maximum(start, ready)  # NaN (a failed invocation) propagates
            finish[s.name] = start + lat
        ends = np.concatenate([finish[name] for name in self.sinks()], axis=1)
        return np.max(ends, axis=1)

    def sample_end_to_end_ms(
        self,
        configs: Mapping[str, ResourceConfig] | None,
        n: int,
        rng: np.random.Generator,
        transfer_ms: float = 0.0,
    ) -> np.ndarray:
        """Warm end-to-end latency of ``n`` requests, shape (n,), each function at ``configs`` (default: its own).

        Every copy of every stage draws from the function's performance model; NaN marks a failed request.
        """
        configs = configs or self.default_configs()
        samples = {}
        for s in self.stages:
            lat = self.functions[s.function].perf.sample_latency_ms(configs[s.function], n * s.fanout, rng)
            samples[s.name] = lat.reshape(n, s.fanout)
        return self.end_to_end_ms(samples, transfer_ms)

    def critical_path(self, stage_latency_ms: Mapping[str, float]) -> tuple[list[str], float]:
        """The longest chain of stages for scalar per-stage latencies: (stage names, total ms)."""
        best: dict[str, tuple[float, list[str]]] = {}
        for s in self.stages:
            prev = max((best[p] for p in s.after), key=lambda t: t[0], default=(0.0, []))
            best[s.name] = (prev[0] + float(stage_latency_ms[s.name]), [*prev[1], s.name])
        total, path = max((best[name] for name in self.sinks()), key=lambda t: t[0])
        return path, total


def _request_count(stage_latency_ms: Mapping[str, np.ndarray]) -> int:
    sizes = {np.asarray(v).shape[0] for v in stage_latency_ms.values()}
    if len(sizes) != 1:
        raise ValueError(f"all stages need the same number of requests, got {sorted(sizes)}")
    return sizes.pop()


def validate_dag(stages: tuple[Stage, ...], functions: Mapping[str, FunctionSpec], source: str | None = None) -> None:
    """Refuse unknown functions or predecessors, duplicate names, bad fan-out and inconsistent map groups."""
    if not stages:
        raise InputError("a workflow needs at least one stage", source=source, field="stages")
    if len(stages) > MAX_STAGES:
        raise InputError(
            f"{len(stages):,} stages, more than the limit of {MAX_STAGES:,}", source=source, field="stages"
        )
    names = [s.name for s in stages]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"duplicate stage names {dupes}", source=source, field="stages")
    group_fanout: dict[str, int] = {}
    for s in stages:
        where = f"stages.{s.name}"
        if s.function not in functions:
            raise InputError(
                f"unknown function {brief(s.function)}; defined: {brief(sorted(functions))}",
                source=source,
                field=f"{where}.function",
            )
        for p in s.after:
            if p not in names:
                raise InputError(
                    f"edge from unknown stage {brief(p)}; stages: {brief(names)}", source=source, field=f"{where}.after"
                )
        if isinstance(s.fanout, bool) or not isinstance(s.fanout, int) or not 1 <= s.fanout <= MAX_FANOUT:
            raise InputError(
                f"fanout must be an integer in 1..{MAX_FANOUT:,}, got {brief(s.fanout)}",
                source=source,
                field=f"{where}.fanout",
            )
        if s.map_group is not None:
            expected = group_fanout.setdefault(s.map_group, s.fanout)
            if expected != s.fanout:
                raise InputError(
                    f"map group {brief(s.map_group)} has fanout {expected}, stage has {s.fanout}",
                    source=source,
                    field=f"{where}.fanout",
                )
    total = sum(s.fanout for s in stages)
    if total > MAX_INVOCATIONS_PER_REQUEST:
        raise InputError(
            f"one request would invoke {total:,} functions, more than the limit of {MAX_INVOCATIONS_PER_REQUEST:,}",
            source=source,
            field="stages",
        )
    topological_order(stages, source=source)


def topological_order(stages: tuple[Stage, ...], source: str | None = None) -> list[str]:
    """Stage names in a deterministic topological order (Kahn, ties by declaration order); refuses cycles."""
    remaining = {s.name: set(s.after) for s in stages}
    order: list[str] = []
    while remaining:
        ready = [s.name for s in stages if s.name in remaining and not remaining[s.name]]
        if not ready:
            raise InputError(
                f"the stages form a cycle: {' -> '.join(_find_cycle(remaining))}",
                source=source,
                field="stages",
            )
        for name in ready:
            order.append(name)
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _find_cycle(deps: dict[str, set[str]]) -> list[str]:
    """One cycle among stages that all still wait on something (every node here has a predecessor left)."""
    node = next(iter(deps))
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = sorted(deps[node])[0]
    cycle = [*path[path.index(node) :], node]
    return list(reversed(cycle))
