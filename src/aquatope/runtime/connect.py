"""Joining a Ray cluster, or starting a local one, with errors that say what is wrong with an address.

``ray.init(address=...)`` waits minutes on an address where no Ray runs (its GCS client retries), so an address is
checked first: its form (``auto``, ``host:port``, ``ray://host:port``), that its host resolves and that something
accepts a TCP connection on its port within ``connect_timeout_s``. Whatever goes wrong becomes one
:class:`~aquatope.errors.InputError` naming the address.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from aquatope.errors import InputError


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``ray://host:port``; None for ``auto``/``local``; InputError otherwise."""
    text = address.strip()
    if text in ("auto", "local"):
        return None
    rest = text.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"expected auto, host:port or ray://host:port, got {address!r}", field="--ray-address")
    return host, int(port)


def check_reachable(address: str, connect_timeout_s: float = 5.0) -> None:
    """Refuse an address whose host does not resolve or whose port accepts no connection (InputError)."""
    target = parse_address(address)
    if target is None:
        return
    host, port = target
    try:
        socket.getaddrinfo(host, port)
    except OSError as exc:
        raise InputError(f"cannot resolve host {host!r} of {address!r}: {exc}", field="--ray-address") from None
    try:
        with socket.create_connection((host, port), timeout=connect_timeout_s):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise InputError(
            f"no Ray cluster answers at {address!r} ({why}); start one with 'ray start --head' or check the address",
            source="--ray-address",
        ) from None


def connect(address: str | None, num_cpus: int | None, init_kwargs: Mapping[str, Any] | None = None) -> bool:
    """Start a local Ray (``num_cpus``) or join the cluster at ``address`` (default: ``RAY_ADDRESS``), unless Ray
    is already initialized in this process (an address is checked either way). True if this call started or joined
    Ray (the caller shuts it down)."""
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_reachable(address)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    kwargs.update(init_kwargs or {})
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot join the Ray cluster at {address!r}: {text}", field="--ray-address") from None
    return True
