"""One invocation on a pool of container actors: take a container, call it, bound its time, retry if it died.

**Time limit.** Each function has a ``timeout_s`` (workflow YAML, default 60 s, OpenWhisk's action limit) on the
execution, counted from the moment a container takes the invocation (waiting for a container or a cold start is not
counted, as on FaaS platforms). An invocation that runs longer fails its request with ``timed out after N s`` and
its container is killed, since its handler may never return: the pool replaces it to keep its floor. A timeout is
not retried (a handler that hangs once hangs again, and a FaaS platform does not retry a synchronous call).

**Container deaths.** An actor that dies mid-invocation (its process killed, ``os._exit`` in the handler, its node
lost) is replaced and the invocation retried on another container, at most ``max_retries`` times; then the request
fails with the reason. A handler's own exception fails the request with that error, not retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aquatope.runtime.executor import RequestState
from aquatope.runtime.faults import first_line, is_actor_death
from aquatope.runtime.pool import Container, FunctionPool, InvocationFailed


class PoolDispatcher:
    """Invocations on :class:`FunctionPool` containers (module docstring); ``kill`` ends a container's actor now."""

    def __init__(
        self,
        pools: dict[str, FunctionPool],
        timeouts_s: dict[str, float],
        kill: Callable[[Container], None],
        max_retries: int = 2,
    ) -> None:
        self.pools = pools
        self.timeouts_s = timeouts_s
        self.kill = kill
        self.max_retries = max_retries
        self.timeouts = 0

    async def invoke(
        self, req: RequestState, function: str, meta: dict[str, Any], inputs: list[Any], arrival_w: float
    ) -> Any | None:
        pool = self.pools[function]
        pool.counters.begin()
        cold = False
        ran_s: float | None = None
        meta = {**meta, "memory_mb": pool.config.memory_mb}
        try:
            for failures in range(self.max_retries + 1):
                c, waited_cold = await pool.acquire(arrival_w)
                cold = cold or waited_cold
                if req.done:
                    pool.release(c)
                    return None
                status_ref, out_ref = c.handle.invoke.options(num_returns=2).remote(meta, *inputs)
                status = await self._status(pool, c, status_ref, failures)
                if status is None:
                    continue  # the container died: retry on another one
                peak = status.get("peak_mb")
                if peak is not None and peak == peak and not peak <= c.peak_mb:  # max; NaN: not told
                    c.peak_mb = float(peak)
                busy_s = pool.release(c, broken=bool(status.get("oom")))
                if not status["ok"]:
                    raise InvocationFailed(status["error"])
                ran_s = busy_s
                return out_ref
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            pool.counters.end(cold, ran_s)
            req.cold += int(cold)

    async def _status(self, pool: FunctionPool, c: Container, status_ref: Any, failures: int) -> Any | None:
        """The invocation's status, None if the container died and a retry is allowed; raises InvocationFailed."""
        limit_s = self.timeouts_s.get(pool.name)
        try:
            return await asyncio.wait_for(_awaitable(status_ref), timeout=limit_s)
        except TimeoutError:
            self.timeouts += 1
            pool.lost(c)
            self.kill(c)
            raise InvocationFailed(
                f"timed out after {limit_s:g} s (the function's timeout_s); its container was killed and replaced"
            ) from None
        except Exception as exc:
            if not is_actor_death(exc):
                pool.release(c)
                raise InvocationFailed(f"{type(exc).__name__}: {first_line(exc)}") from None
            pool.lost(c)
            if failures >= self.max_retries:
                raise InvocationFailed(
                    f"container died {failures + 1} times (retries exhausted): {first_line(exc)}"
                ) from None
            return None


async def _awaitable(ref: Any) -> Any:
    return await ref
