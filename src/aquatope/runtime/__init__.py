"""Real execution on Ray: workflows of Python functions in warm-container actors with enforced CPU and memory.

:class:`RayPlatform` implements :class:`aquatope.platform.Platform`, so the controller, pool policies and sizers run
on it unchanged. Importing this package does not import Ray; constructing a RayPlatform does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aquatope.runtime.functions import BoundFunction, Invocation, bind, bind_workflow
from aquatope.runtime.limits import Enforcement, detect_cpu_mode

if TYPE_CHECKING:
    from aquatope.runtime.platform import ContainerInfo, RayPlatform

__all__ = [
    "BoundFunction",
    "ContainerInfo",
    "Enforcement",
    "Invocation",
    "RayPlatform",
    "bind",
    "bind_workflow",
    "detect_cpu_mode",
    "ray_available",
]


def ray_available() -> bool:
    """True if Ray can be imported (install with ``pip install -c constraints.txt -e ".[ray]"``)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def __getattr__(name: str) -> Any:
    if name in ("RayPlatform", "ContainerInfo"):
        from aquatope.runtime import platform

        return getattr(platform, name)
    raise AttributeError(name)
