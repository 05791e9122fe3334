"""What every measured sizer shares: ask/tell bookkeeping, the starting design, provenance, the answer rule, and
the confirmation of the answer before finishing. Subclasses only propose (:meth:`BaseSizer.propose`).

* ``suggest()`` is idempotent: until the suggestion is observed it returns the same configuration again, so asking
  twice never skips or loses a design point.
* Every observed evaluation gets the source of the suggestion it answers (:data:`aquatope.sizing.base.SOURCES`);
  a configuration the caller measured without being asked is ``external``.
* The answer is :func:`aquatope.sizing.answer.answer` (one rule for every sizer).
* *Confirmation*: once the sizer has no proposal left, or only :data:`CONFIRM_RESERVE` evaluations of the budget
  remain, it measures the current answer again if the answer rests on a single measurement (a configuration that
  looked feasible on k noisy requests by luck is then caught, and the next best takes its place, which is
  confirmed in turn while budget remains); then it stops, possibly before the budget is spent.
"""

from __future__ import annotations

from aquatope.sizing.answer import answer, judge_all
from aquatope.sizing.base import ConfigKey, History, Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.design import Design

CONFIRM_RESERVE = 2
"""Evaluations kept for confirmations: one for the answer, one for its successor if the first falls."""

Proposal = tuple[WorkflowConfig, str]


class BaseSizer:
    """Shared ask/tell machinery (module docstring); ``start`` is ``design`` or ``random``."""

    name = "base"
    confirms = True

    def __init__(self, problem: SizingProblem, seed: int | None = None, start: str = "design") -> None:
        self.problem = problem
        self.seed = problem.seed if seed is None else seed
        self.start = start
        self.design = Design(problem, start, self.seed)
        self.history = History()
        self._pending: Proposal | None = None
        self._proposals_done = False
        self._answer: tuple[int, Measurement | None] | None = None

    # ---- ask -------------------------------------------------------------------------------------------------
    def suggest(self) -> list[WorkflowConfig]:
        """The next configuration to measure (one), the same one again until it is observed, or [] when done."""
        if self._pending is None and len(self.history) < self.problem.budget:
            self._pending = self._next()
        return [] if self._pending is None else [dict(self._pending[0])]

    def _next(self) -> Proposal | None:
        remaining = self.problem.budget - len(self.history)
        if self.confirms and remaining <= CONFIRM_RESERVE and self.best() is not None:
            return self._confirmation()
        if not self._proposals_done:
            proposal = self.propose()
            if proposal is not None:
                return proposal
            self._proposals_done = True
        return self._confirmation() if self.confirms else None

    def propose(self) -> Proposal | None:
        """The next configuration and its source, or None when the sizer has nothing more to try."""
        return self.design_point()

    def design_point(self) -> Proposal | None:
        config = self.design.next(self.measured_keys())
        return None if config is None else (config, self.design.source)

    def _confirmation(self) -> Proposal | None:
        best = self.best()
        if best is None:
            return None
        judged = judge_all(self.problem, self.history)[config_key(best.config)]
        return None if len(judged.kept) >= 2 else (dict(best.config), "confirm")

    # ---- tell ------------------------------------------------------------------------------------------------
    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None:
        """Record a measurement with the source of the suggestion it answers."""
        pending, self._pending = self._pending, None
        source = pending[1] if pending is not None and config_key(pending[0]) == config_key(config) else "external"
        self.history.add(measurement, source)
        if len(self.history) == 1 and self.design.start == "design" and source == "design":
            self.design.pop(config)
            self.design.after_first(config, measurement.feasible)
        else:
            self.design.pop(config)
        self.observed(config, measurement, source)

    def observed(self, config: WorkflowConfig, measurement: Measurement, source: str) -> None:
        """Hook for subclasses (after the measurement is in the history)."""

    # ---- answer ----------------------------------------------------------------------------------------------
    def best(self) -> Measurement | None:
        """The answer (:func:`aquatope.sizing.answer.answer`), cached until the history grows."""
        if self._answer is None or self._answer[0] != len(self.history):
            self._answer = (len(self.history), answer(self.problem, self.history))
        return self._answer[1]

    def measured_keys(self) -> set[ConfigKey]:
        return {config_key(m.config) for m in self.history.items}


class DesignSizer(BaseSizer):
    """``aquatope-design``: the starting design and the shared answer rule, no model (the ablation of aquatope-bo)."""

    name = "aquatope-design"
