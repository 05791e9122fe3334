"""Classify each function's invocation pattern as periodic, sporadic, bursty or steady.

The rule, applied in this order to one function's per-minute counts (thresholds in :class:`ClassRule`):

1. **periodic** — a timer: it is active (count > 0) in at least 5 minutes, its active minutes span at
   least half the trace, and at least 80% of the gaps between consecutive active minutes equal the
   most common gap (within 10% of it, rounded). A most-common gap of 1 minute (active every minute)
   counts only if at least 80% of active minutes also have the same count (a sub-minute timer),
   which tells a timer from a busy function.
2. **sporadic** — rarely invoked: active in fewer than 5% of minutes and fewer than 1,440 invocations
   a day (a mean below one per minute).
3. **bursty** — more variable than a Poisson process can explain: the squared coefficient of variation
   of the per-minute counts in excess of Poisson noise, ``(var - mean) / mean²``, is above 1. (A
   smooth daily cycle stays below 1/2; on/off traffic is far above 1.)
4. **steady** — everything else: invoked often, at a rate that changes slowly.

Deterministic and cheap: the statistics are vectorized over functions; the gap test runs one row at
a time on that row's active minutes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from aquatope.traces.model import IntArray, InvocationTrace

MINUTES_PER_DAY = 1440


class TrafficClass(StrEnum):
    """Invocation-pattern classes, in the order the rule tests them."""

    PERIODIC = "periodic"
    SPORADIC = "sporadic"
    BURSTY = "bursty"
    STEADY = "steady"


@dataclass(frozen=True)
class ClassRule:
    """Thresholds of the classification rule (see the module doc)."""

    periodic_min_active: int = 5
    periodic_min_span: float = 0.5
    periodic_share: float = 0.8
    sporadic_active_fraction: float = 0.05
    sporadic_per_day: float = 1440.0
    bursty_excess_cv2: float = 1.0

    def __post_init__(self) -> None:
        for name in ("periodic_min_span", "periodic_share", "sporadic_active_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def _is_timer(row: IntArray, rule: ClassRule) -> bool:
    """Whether one function's counts (shape ``(n_minutes,)``) repeat at a regular gap (rule step 1)."""
    active = np.flatnonzero(row)
    if active.size < rule.periodic_min_active:
        return False
    if active[-1] - active[0] < rule.periodic_min_span * row.size:
        return False
    gaps = np.diff(active)
    values, freq = np.unique(gaps, return_counts=True)
    mode = int(values[np.argmax(freq)])
    tolerance = round(0.1 * mode)
    if np.mean(np.abs(gaps - mode) <= tolerance) < rule.periodic_share:
        return False
    if mode >= 2:
        return True
    _, same = np.unique(row[active], return_counts=True)
    return bool(same.max() >= rule.periodic_share * active.size)


def classify_counts(counts: npt.ArrayLike, rule: ClassRule | None = None) -> tuple[TrafficClass, ...]:
    """Class of each row of ``counts`` (shape ``(n_functions, n_minutes)``), by the module's rule."""
    rule = rule or ClassRule()
    matrix = np.asarray(counts, dtype=np.int64)
    if matrix.ndim != 2:
        raise ValueError(f"counts must be 2-D (n_functions, n_minutes), got shape {matrix.shape}")
    n_minutes = max(matrix.shape[1], 1)
    mean = matrix.mean(axis=1) if matrix.shape[1] else np.zeros(matrix.shape[0])
    var = matrix.var(axis=1) if matrix.shape[1] else np.zeros(matrix.shape[0])
    active_fraction = np.count_nonzero(matrix, axis=1) / n_minutes
    per_day = mean * MINUTES_PER_DAY
    sporadic = (active_fraction < rule.sporadic_active_fraction) & (per_day < rule.sporadic_per_day)
    excess_cv2 = np.where(mean > 0, (var - mean) / np.where(mean > 0, mean, 1.0) ** 2, 0.0)
    bursty = excess_cv2 > rule.bursty_excess_cv2
    classes = []
    for i in range(matrix.shape[0]):
        if _is_timer(matrix[i], rule):
            classes.append(TrafficClass.PERIODIC)
        elif sporadic[i]:
            classes.append(TrafficClass.SPORADIC)
        elif bursty[i]:
            classes.append(TrafficClass.BURSTY)
        else:
            classes.append(TrafficClass.STEADY)
    return tuple(classes)


def classify(trace: InvocationTrace, rule: ClassRule | None = None) -> tuple[TrafficClass, ...]:
    """Class of each function of ``trace``, aligned with ``trace.function_ids``."""
    return classify_counts(trace.counts, rule)


def class_counts(classes: tuple[TrafficClass, ...]) -> dict[str, int]:
    """``{class name: number of functions}`` for every class (zeros included), in rule order."""
    return {c.value: sum(1 for x in classes if x is c) for c in TrafficClass}
