"""A dedicated thread running an asyncio loop that owns a platform's state; other threads hand it work.

Both real platforms (:mod:`aquatope.runtime.platform`, :mod:`aquatope.runtime.serve`) keep every piece of mutable
state on this loop, so the caller's own computing (forecasts, sizing) never stalls the replay, and nothing needs a
lock: ``call(fn)`` runs ``fn`` on the loop and returns its result (or raises its exception) in the caller's thread.
An exception escaping a callback on the loop is kept and raised by :meth:`LoopThread.raise_errors`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on a daemon thread (module docstring)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._on_error)
        self.errors: list[BaseException] = []
        self.stopped = False
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def on_loop(self) -> bool:
        return threading.current_thread() is self.thread

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and return its result (raising its exception). After :meth:`stop`, or
        from the loop itself, ``fn`` runs directly (read-only access to the final state)."""
        if self.on_loop() or self.stopped:
            return fn(*args)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result()

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop without waiting."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout_s: float = 5.0) -> None:
        if not self.stopped:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=timeout_s)
            self.stopped = True

    def raise_errors(self) -> None:
        if self.errors:
            raise RuntimeError(f"the platform's event loop failed: {self.errors[0]!r}") from self.errors[0]

    def _on_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.errors.append(exc if isinstance(exc, BaseException) else RuntimeError(str(context.get("message"))))
