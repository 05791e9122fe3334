"""Live requests as evidence: the deployed configuration's warm requests re-judged with its tuning measurements.

A sizer's answer is judged on what it measured (:mod:`aquatope.sizing.answer`), in the minutes it measured. Live,
the same configuration runs next to other tenants at another moment, on other machines; when that makes it slower
than measured, the answer's margin no longer holds, and the re-tune rule (:mod:`aquatope.retune`) needs a window
of enough requests (20) before it even looks. Yet every warm request the platform serves at the deployed
configuration is a measurement of it, taken where it matters.

:func:`rejudge` adds a batch of such latencies to the sizer's history as one evaluation (source ``live``) and asks
the same answer rule again. Nothing else changes: a live batch is pooled, disputed and located like any other
evaluation of that configuration, so one slow batch among faster tuning ones is taken for a disturbance (the rule
drops a measurement slower than the reference by more than :data:`~aquatope.sizing.answer.DISPUTE_Z` standard
errors; with two, the faster is the reference), while slow batches that come to outnumber them move the
configuration's location, its spread between evaluations (``tau``) and, through ``tau``, every configuration's
margin. The answer may then be another configuration already measured; no new measurement is taken and nothing is
paid for. A batch holds as many requests as one tuning evaluation, so it weighs as much.

A live batch is priced like the configuration's tuning measurements (their busy seconds and cost per request): what
the objective ranks is unchanged, only what is feasible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.answer import answer
from aquatope.sizing.base import History, Measurement, SizingProblem, config_key


def live_measurement(history: History, config: Mapping[str, ResourceConfig], latency_ms: np.ndarray) -> Measurement:
    """One evaluation of ``config`` from live latencies, priced as its latest tuning measurement (ValueError when
    the history never measured ``config``)."""
    key = config_key(config)
    seen = [m for m in history.items if config_key(m.config) == key]
    if not seen:
        raise ValueError("the deployed configuration was never measured: live requests cannot be judged with it")
    last = seen[-1]
    lat = np.asarray(latency_ms, dtype=float)
    return Measurement(
        dict(last.config),
        lat,
        {},
        last.cost_per_request_usd,
        last.quantile,
        last.qos_ms,
        last.busy_s,
        last.memory_used_mb,
    )


def rejudge(
    problem: SizingProblem, history: History, config: Mapping[str, ResourceConfig], latency_ms: np.ndarray
) -> Measurement | None:
    """Add ``latency_ms`` (warm live requests of the deployed ``config``) to ``history`` as a ``live`` evaluation
    and return the answer rule's answer now (None: nothing is judged feasible any more)."""
    history.add(live_measurement(history, config, latency_ms), "live")
    return answer(problem, history)
