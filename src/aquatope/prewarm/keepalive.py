"""Fixed keep-alive, no pre-warming: the OpenWhisk default (``keepalive:600``) and ``keepalive:0`` (no reuse)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import PolicyContext, PoolDecision, uniform_decision

OPENWHISK_KEEP_ALIVE_S = 600.0


@dataclass(frozen=True)
class FixedKeepAlive:
    """Every function: ``PoolTarget(min_warm=0, keep_alive_s)``; containers start only on demand (cold)."""

    keep_alive_s: float = OPENWHISK_KEEP_ALIVE_S
    needs_forecast: bool = False
    needs_future: bool = False

    def __post_init__(self) -> None:
        if not (self.keep_alive_s >= 0 and math.isfinite(self.keep_alive_s)):
            raise InputError(f"keep-alive must be a finite number >= 0, got {self.keep_alive_s}", field="keepalive")

    @property
    def name(self) -> str:
        return f"keepalive:{self.keep_alive_s:g}"

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        return uniform_decision(context, PoolTarget(0, float(self.keep_alive_s))), None
