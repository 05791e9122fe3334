"""Measuring a configuration on a Platform: warm requests, one after another, never disturbing each other.

``Measurer.measure(config)`` applies the configuration (``set_resources`` for every function), keeps cold starts
out by pre-warming as many containers per function as one request invokes it (``set_pool(min_warm=calls)``) and
waiting until they are ready, then sends ``k`` requests strictly one after another (each submitted when the
previous one has finished) and reads latencies and busy container time from the Platform's records. The same code
runs on the simulator and on a real Platform.

*Shared platforms.* The Measurer reads only its own workflow's request records (by workflow name) and its own
functions' container records, so other workflows and tenants may run on the same platform (e.g. shadow requests of
a renamed copy of a workflow next to live traffic). Requests are counted from the records present when the
measurement starts, so records of earlier measurements or of other workflows never enter it.

*Stragglers.* A request still running :data:`REQUEST_LIMIT_QOS` times the QoS target (plus :data:`REQUEST_LIMIT_S`)
after it was sent is a failed request, as a platform's function timeout would make it (in the ``noisy`` scenario one
invocation in 100,000 takes over 100 times its usual time, 1% drawing a Pareto(1.5) multiple and 0.1% of those above
100; a 2,000-request check of map-reduce hit a mapper of 715 s against a 7 s target, and the measurement used to
raise an error that ended the run). The measurement ends there, its remaining requests counted failed too: the
straggler still holds a warm container, so further requests would no longer run warm and undisturbed. A failed
measurement makes its configuration infeasible, as any failed request does; it is not an error that ends the sizing
run. When the straggler finishes later, during another measurement, its record is never taken for that measurement's
request.

*Resumable.* :meth:`Measurer.steps` is the measurement as a generator: it yields the platform time it needs the
platform to be advanced to, the caller calls ``platform.advance(t)`` (and may do other work on the platform in
between, e.g. a controller's pre-warming ticks) and resumes it; its return value is the :class:`Measurement`.
:meth:`Measurer.measure` drives it to the end.

*Disturbances* (``disturbance_prob`` > 0) inject bad measurements. With ``disturbance_run`` None each evaluation
is disturbed by an independent coin; given a run length they come the way a noisy neighbour makes them, in runs:
a two-state Markov chain over consecutive evaluations whose long-run share of disturbed evaluations is
``disturbance_prob`` and whose disturbed runs last ``disturbance_run`` evaluations on average (geometric). A disturbed
evaluation has every latency multiplied by ``disturbance_factor``. :attr:`Measurer.disturbed` records which
evaluations were disturbed (ground truth for tests and benchmarks; sizers never see it).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from typing import TypeVar

import numpy as np

from aquatope.platform import ContainerRecord, Platform, PoolTarget, RequestRecord
from aquatope.resources import ResourceConfig
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig

WARM_KEEP_ALIVE_S = 3600.0
READY_LIMIT_S = 600.0
"""How long a measurement waits for its warm containers before giving up: then the configuration's measurement is
failed (every request), as a configuration that cannot start is (a cold start of minutes is a fault)."""
READY_POLL_S = 1.0
REQUEST_LIMIT_QOS = 100.0
REQUEST_LIMIT_S = 60.0
"""A request still running ``REQUEST_LIMIT_QOS`` x the QoS target + ``REQUEST_LIMIT_S`` after it was sent is a failed
request, as a platform's function timeout would make it (module docstring)."""
START_FAILURES = 3
"""Containers of one function that may end while starting before a measurement gives the configuration up."""

Steps = Generator[float, None, Measurement]
T = TypeVar("T")


def drive(platform: Platform, gen: Generator[float, None, T]) -> T:
    """Run a generator of platform times to its end, advancing ``platform`` to each; its return value."""
    try:
        while True:
            platform.advance(next(gen))
    except StopIteration as done:
        result: T = done.value
        return result


class Measurer:
    """Measures configurations of ``problem.workflow`` on ``platform`` (deployed once, at the defaults, unless
    ``deploy=False``: the caller deployed it)."""

    def __init__(
        self,
        platform: Platform,
        problem: SizingProblem,
        k: int = 20,
        disturbance_prob: float = 0.0,
        disturbance_factor: float = 2.5,
        seed: int = 0,
        *,
        disturbance_run: float | None = None,
        deploy: bool = True,
    ) -> None:
        if k < 2:
            raise ValueError("measuring needs at least 2 requests per configuration")
        if not 0.0 <= disturbance_prob <= 1.0 or (disturbance_run is not None and disturbance_run < 1.0):
            raise ValueError("disturbance_prob must be in [0, 1] and disturbance_run >= 1 evaluation")
        self.platform = platform
        self.problem = problem
        self.k = k
        self.disturbance_prob = disturbance_prob
        self.disturbance_factor = disturbance_factor
        self.disturbance_run = disturbance_run
        self.rng = np.random.default_rng(seed)
        self.calls = problem.workflow.invocations_per_request()
        self.functions = frozenset(self.calls)
        self.evaluations = 0
        self.disturbed: list[bool] = []
        if deploy:
            platform.deploy(problem.workflow)

    # ---- the measurement as a generator ----------------------------------------------------------------------
    def measure(self, config: Mapping[str, ResourceConfig]) -> Measurement:
        """Measure ``config`` with ``k`` warm requests (see the module docstring)."""
        return drive(self.platform, self.steps(config))

    def steps(self, config: Mapping[str, ResourceConfig]) -> Steps:
        """The measurement of ``config`` as a generator of platform times to advance to (module docstring)."""
        wf = self.problem.workflow
        began = self.platform.now_s
        for name in wf.function_names:
            self.platform.set_resources(name, config[name])
            self.platform.set_pool(name, PoolTarget(min_warm=self.calls[name], keep_alive_s=WARM_KEEP_ALIVE_S))
        ready = yield from self._wait_warm(config, began)
        if not ready:  # the configuration's containers could not start (no room, a start that never ends): failed
            return self._measurement(config, [], {}, {}, self._own_containers())
        busy_before = busy_s(self._own_containers())
        first = len(self._own_requests())
        records: list[RequestRecord] = []
        taken: set[int] = set()
        for _ in range(self.k):
            record = yield from self._one_request(first, taken)
            if record is None:  # past the deadline: failed, and the rest are not sent (module docstring)
                break
            records.append(record)
            taken.add(record.request_id)
        after = self._own_containers()
        return self._measurement(config, records, busy_s(after), busy_before, after)

    def _measurement(
        self,
        config: Mapping[str, ResourceConfig],
        records: list[RequestRecord],
        busy_after: dict[str, float],
        busy_before: dict[str, float],
        containers: list[ContainerRecord],
    ) -> Measurement:
        """The measurement of ``config`` from its requests' ``records``, the busy seconds per function before and
        after them, and the workflow's ``containers`` at its end (their peak memory)."""
        wf = self.problem.workflow
        unsent = [np.nan] * (self.k - len(records))  # never ran, or past the deadline: failed requests
        latency = np.array([np.nan if r.failed else r.latency_ms for r in records] + unsent)
        stages = {
            s.name: np.array([r.stage_latency_ms.get(s.name, np.nan) for r in records] + unsent) for s in wf.stages
        }
        factor = self.disturbance_factor if self._disturb() else 1.0
        latency, stages = latency * factor, {n: v * factor for n, v in stages.items()}
        busy = {f: max(0.0, busy_after.get(f, 0.0) - busy_before.get(f, 0.0)) / self.k for f in self.calls}
        pricing = self.problem.pricing
        fees = pricing.requests_cost_usd(sum(self.calls.values()))
        compute = sum(pricing.container_cost_usd(config[f], busy[f]) for f in self.calls)
        peaks: dict[str, float] = {}
        for c in containers:
            if c.config == config.get(c.function) and not math.isnan(c.peak_memory_mb):
                peaks[c.function] = max(peaks.get(c.function, 0.0), c.peak_memory_mb)
        self.evaluations += 1
        return Measurement(
            config=dict(config),
            latency_ms=latency,
            stage_latency_ms=stages,
            cost_per_request_usd=compute + fees,
            quantile=self.problem.quantile,
            qos_ms=self.problem.qos_ms,
            busy_s=busy,
            memory_used_mb=peaks,
        )

    def _disturb(self) -> bool:
        """The next state of the disturbance chain (module docstring), recorded in :attr:`disturbed`."""
        p, run = self.disturbance_prob, self.disturbance_run
        was = bool(self.disturbed and self.disturbed[-1])
        if p <= 0.0 or p >= 1.0:
            now = p >= 1.0
        elif run is None:
            now = bool(self.rng.random() < p)
        else:
            leave = 1.0 / run
            enter = min(1.0, p * leave / (1.0 - p))
            u = self.rng.random()
            now = bool(u >= leave) if was else bool(u < enter)
        self.disturbed.append(now)
        return now

    # ---- platform interaction --------------------------------------------------------------------------------
    def _own_requests(self) -> list[RequestRecord]:
        name = self.problem.workflow.name
        return [r for r in self.platform.request_records() if r.workflow == name]

    def _own_containers(self) -> list[ContainerRecord]:
        return [c for c in self.platform.container_records() if c.function in self.functions]

    def _step_s(self) -> float:
        return max(0.01, self.problem.qos_ms / 1000.0 / 4.0)

    def _wait_warm(self, config: Mapping[str, ResourceConfig], began: float) -> Generator[float, None, bool]:
        """Wait until every function has its warm containers at ``config``; False after :data:`READY_LIMIT_S`, or
        as soon as a function's containers ended while starting (its initialisation fails at this size, e.g. out
        of memory) :data:`START_FAILURES` times, or once with none of it starting again: waiting would not help."""
        start = self.platform.now_s
        while self.platform.now_s - start < READY_LIMIT_S:
            now = self.platform.now_s
            ready: dict[str, int] = {}
            starting: dict[str, int] = {}
            died: dict[str, int] = {}
            for c in self._own_containers():
                if c.config != config.get(c.function):
                    continue
                if c.end_s >= now:
                    into = ready if c.ready_s <= now else starting
                    into[c.function] = into.get(c.function, 0) + 1
                elif c.start_s >= began and c.ready_s > c.end_s:  # started for this measurement, died starting
                    died[c.function] = died.get(c.function, 0) + 1
            if all(ready.get(f, 0) >= n for f, n in self.calls.items()):
                return True
            if any(n >= START_FAILURES or (n and not starting.get(f)) for f, n in died.items()):
                return False
            yield now + READY_POLL_S
        return False

    def _one_request(self, first: int, taken: set[int]) -> Generator[float, None, RequestRecord | None]:
        """Send one request and wait for its record: among this workflow's records from index ``first`` on (those
        of the measurement) and not ``taken`` by its earlier requests, the one that arrived when it was sent. A
        straggler of an earlier measurement finishing meanwhile is never taken for it: it was sent at least
        :data:`REQUEST_LIMIT_S` before, and a record may show an arrival a little before the send (a runtime's
        timer firing early, clock conversions), so half of that is the tolerance. None once the request has run
        past :data:`REQUEST_LIMIT_QOS` times the target plus :data:`REQUEST_LIMIT_S`."""
        wf = self.problem.workflow
        sent = self.platform.now_s
        self.platform.submit(wf.name, np.array([sent]))
        deadline = sent + REQUEST_LIMIT_QOS * self.problem.qos_ms / 1000.0 + REQUEST_LIMIT_S
        earliest = sent - REQUEST_LIMIT_S / 2.0
        while True:
            own = self._own_requests()[first:]
            mine = next((r for r in own if r.request_id not in taken and r.arrival_s >= earliest), None)
            if mine is not None:
                return mine
            if self.platform.now_s >= deadline:
                return None
            yield self.platform.now_s + self._step_s()


def busy_s(containers: list[ContainerRecord]) -> dict[str, float]:
    """Busy seconds per function, summed over ``containers``."""
    out: dict[str, float] = {}
    for c in containers:
        out[c.function] = out.get(c.function, 0.0) + c.busy_s
    return out


def measure_many(measurer: Measurer, configs: list[WorkflowConfig]) -> list[Measurement]:
    """Measure configurations one after another."""
    return [measurer.measure(c) for c in configs]
