"""Per-minute counts to individual arrival timestamps, vectorized (millions of invocations per second).

Minute ``m`` covers seconds ``[60 m, 60 m + 60)`` from ``start_s``. Within a minute with ``c`` invocations:

* ``"uniform"``: evenly spaced at ``60 m + 60 (j + 0.5) / c`` for ``j = 0 .. c-1`` (deterministic; no rng);
* ``"poisson"``: independent uniform times in the minute, i.e. a Poisson process conditioned on the
  minute's count (needs ``rng``).

Either way the result is sorted, has exactly ``sum(counts)`` entries, and never leaves its minute. At most
:data:`MAX_ARRIVALS` arrivals are expanded at once (a ``--scale`` of 1e12 is refused, not attempted).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from aquatope.errors import InputError
from aquatope.traces.model import FloatArray

ArrivalMode = Literal["uniform", "poisson"]
MINUTE_S = 60.0
MAX_ARRIVALS = 10**8
"""Most arrivals expanded at once: 0.8 GB of float64 times (about 1.6 GB at the peak of the expansion), and
far more requests than one replay handles in reasonable time (the simulator runs ~10^5-10^6 per second)."""


def expand_arrivals(
    counts_row: npt.ArrayLike,
    *,
    mode: ArrivalMode = "uniform",
    rng: np.random.Generator | None = None,
    start_s: float = 0.0,
) -> FloatArray:
    """Sorted arrival times in seconds, shape ``(sum(counts_row),)``, from per-minute counts.

    ``counts_row`` is one function's counts, shape ``(n_minutes,)``, non-negative integers. See the
    module doc for ``mode``; ``rng`` is required for ``"poisson"`` and ignored for ``"uniform"``.
    """
    counts = np.asarray(counts_row)
    if counts.ndim != 1:
        raise ValueError(f"counts_row must be 1-D, got shape {counts.shape}")
    if counts.size and (counts.min() < 0 or not np.issubdtype(counts.dtype, np.integer)):
        raise ValueError("counts_row must hold non-negative integers")
    counts = counts.astype(np.int64, copy=False)
    starts = start_s + MINUTE_S * np.arange(counts.size, dtype=np.float64)
    total = int(counts.sum())
    if total > MAX_ARRIVALS:
        raise InputError(
            f"{total:,} arrivals to replay, more than the limit of {MAX_ARRIVALS:,}; scale the trace down or "
            "replay fewer minutes",
            field="scale",
        )
    if mode == "uniform":  # in-place arithmetic: one array of `total` floats plus temporaries
        times = np.arange(total, dtype=np.float64)
        times -= np.repeat((np.cumsum(counts) - counts).astype(np.float64), counts)  # rank in minute
        times += 0.5
        times *= np.repeat(MINUTE_S / np.maximum(counts, 1), counts)
        times += np.repeat(starts, counts)
        return times
    if mode != "poisson":
        raise ValueError(f"unknown mode {mode!r}; use 'uniform' or 'poisson'")
    if rng is None:
        raise ValueError("mode='poisson' needs rng (a numpy.random.Generator)")
    times = rng.random(total)
    times *= MINUTE_S
    times += np.repeat(starts, counts)
    # rounding could carry a time onto the next minute's start: keep it inside its own minute
    np.minimum(times, np.repeat(np.nextafter(starts + MINUTE_S, -np.inf), counts), out=times)
    times.sort()
    return times
