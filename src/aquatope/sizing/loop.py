"""The measuring loop around any ask/tell sizer: suggest, measure one at a time, observe, until done or out of budget.

:func:`run_sizer` measures with :meth:`Measurer.measure`; :func:`run_sizer_steps` is the same loop as a generator
over :meth:`Measurer.steps` (it yields platform times to advance to, see :mod:`aquatope.sizing.measure`), so a
controller can interleave a sizing run with its own work on a live platform.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from aquatope.sizing.base import History, Measurement, Sizer, config_key
from aquatope.sizing.measure import Measurer, drive

ProgressFn = Callable[[int, Measurement], None]


@dataclass(frozen=True)
class SizingResult:
    """Every measurement in order with its source, the answer (None: nothing met the QoS) and which evaluation it
    is, and the answer after each evaluation (``answer_index``: its position in ``history``, or None)."""

    method: str
    history: tuple[Measurement, ...]
    best: Measurement | None
    sources: tuple[str, ...] = ()
    answer_index: tuple[int | None, ...] = ()

    @property
    def evaluations(self) -> int:
        return len(self.history)

    @property
    def best_index(self) -> int | None:
        """Position of the answer in ``history`` (0-based), or None."""
        return None if self.best is None else next(i for i, m in enumerate(self.history) if m is self.best)

    @property
    def origin_index(self) -> int | None:
        """Position of the *first* measurement of the answer's configuration: where the answer came from (later
        measurements of it are rechecks or confirmations)."""
        if self.best is None:
            return None
        key = config_key(self.best.config)
        return next(i for i, m in enumerate(self.history) if config_key(m.config) == key)

    @property
    def best_source(self) -> str | None:
        """Where the answer came from: the source of the first measurement of its configuration."""
        i = self.origin_index
        return None if i is None or i >= len(self.sources) else self.sources[i]

    @property
    def best_measured_at(self) -> list[int]:
        """Every evaluation (0-based) of the answer's configuration."""
        if self.best is None:
            return []
        key = config_key(self.best.config)
        return [i for i, m in enumerate(self.history) if config_key(m.config) == key]

    def best_cost_curve(self) -> list[float | None]:
        """Cost per request of the answer after each evaluation (None while there is none): the curve the final
        answer ends on, so a plot of it and the answer agree."""
        return [None if i is None else self.history[i].cost_per_request_usd for i in self.answer_index]

    def to_dict(self) -> dict[str, Any]:
        """Plain data; in ``best``, ``evaluation`` and ``source`` say where the answer came from (its
        configuration's first evaluation) and ``measured_at`` lists every evaluation of it (1-based)."""
        best, origin = self.best, self.origin_index
        history = []
        for i, m in enumerate(self.history):
            source = self.sources[i] if i < len(self.sources) else "external"
            history.append({"evaluation": i + 1, "source": source, **m.to_dict()})
        return {
            "method": self.method,
            "evaluations": self.evaluations,
            "best": None
            if best is None or origin is None
            else {
                "evaluation": origin + 1,
                "source": self.best_source,
                "measured_at": [i + 1 for i in self.best_measured_at],
                **best.to_dict(),
            },
            "feasible_found": best is not None,
            "history": history,
        }


class _Recorder:
    """Collects a run: the answer after each evaluation, progress callbacks."""

    def __init__(self, sizer: Sizer, progress: ProgressFn | None) -> None:
        self.sizer = sizer
        self.progress = progress
        self.measurements: list[Measurement] = []
        self.answers: list[int | None] = []

    def observe(self, config: dict[str, Any], m: Measurement) -> None:
        self.sizer.observe(config, m)
        self.measurements.append(m)
        best = self.sizer.best()
        self.answers.append(next((i for i, x in enumerate(self.measurements) if x is best), None))
        if self.progress:
            self.progress(len(self.measurements), m)

    def result(self) -> SizingResult:
        history: History | None = getattr(self.sizer, "history", None)
        sources = tuple(history.sources) if history is not None and len(history) == len(self.measurements) else ()
        return SizingResult(
            getattr(self.sizer, "name", type(self.sizer).__name__),
            tuple(self.measurements),
            self.sizer.best(),
            sources,
            tuple(self.answers),
        )


def run_sizer(sizer: Sizer, measurer: Measurer, budget: int, progress: ProgressFn | None = None) -> SizingResult:
    """Ask ``sizer`` for configurations and measure them one after another until it stops or ``budget`` is spent."""
    return drive(measurer.platform, run_sizer_steps(sizer, measurer, budget, progress))


def run_sizer_steps(
    sizer: Sizer, measurer: Measurer, budget: int, progress: ProgressFn | None = None
) -> Generator[float, None, SizingResult]:
    """:func:`run_sizer` as a generator: yields the platform times to advance to; returns the result."""
    recorder = _Recorder(sizer, progress)
    while len(recorder.measurements) < budget:
        suggestions = sizer.suggest()
        if not suggestions:
            break
        for config in suggestions[: budget - len(recorder.measurements)]:
            m = yield from measurer.steps(config)
            recorder.observe(config, m)
    return recorder.result()
