"""Enforcing a container's CPU and memory inside its own process (a Ray actor), and saying how.

**CPU.** Where the cgroup file system is writable (root, or a delegated subtree), the actor's process moves into
its own cgroup with a CFS quota of ``cpu`` x period: ``/sys/fs/cgroup/cpu/aquatope/<name>`` with
``cpu.cfs_quota_us`` (cgroup v1), or ``/sys/fs/cgroup/aquatope/<name>`` with ``cpu.max`` (cgroup v2). The mode is
``cgroup-v1`` or ``cgroup-v2``. Elsewhere the mode is ``threads``: only the thread pools are limited. Thread pools
are limited to ``ceil(cpu)`` in every mode (OMP/MKL/OpenBLAS environment variables before user code is imported,
``threadpoolctl`` for pools already loaded, ``torch.set_num_threads``), so a quota never throttles idle threads.
Ray's ``num_cpus`` only reserves the CPU for scheduling; it enforces nothing.

**Memory.** Ray's ``memory`` resource reserves it for scheduling. After ``init`` the process's address space is
capped with ``RLIMIT_AS`` at what it has mapped plus what remains of ``memory_mb`` beyond its resident set (a Ray
worker maps gigabytes it never touches, so an absolute cap would break it; a Serve replica counts the budget from its
resident set before the function's init, since Serve's own machinery, about 140 MB, is the platform's): allocating
past the budget raises
``MemoryError`` in the handler, which fails that invocation with an out-of-memory error, and the container is
retired (as the simulator kills it). An init that leaves more than ``memory_mb`` resident fails the cold start. The
mode is ``rlimit`` (``ray`` when the limit cannot be set: scheduling only).

cgroups are removed when the actor exits gracefully (``release``); :func:`sweep_stale` removes empty ones left by
killed actors (run by every new container and by the platform at shutdown).
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "aquatope"
PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
CPU_MODES = ("cgroup-v1", "cgroup-v2", "threads")


@dataclass(frozen=True)
class Enforcement:
    """How a container's limits are enforced: ``cpu`` in :data:`CPU_MODES`, ``memory`` ``rlimit`` or ``ray``."""

    cpu: str
    memory: str
    threads: int

    def __str__(self) -> str:
        return f"cpu: {self.cpu}, memory: {self.memory}, threads: {self.threads}"


def detect_cpu_mode(root: Path = CGROUP_ROOT) -> str:
    """The CPU enforcement available to this process: ``cgroup-v1``, ``cgroup-v2`` or ``threads``."""
    v1 = root / "cpu"
    if (v1 / "cpu.cfs_quota_us").exists() and os.access(v1, os.W_OK):
        return "cgroup-v1"
    controllers = root / "cgroup.controllers"
    if controllers.exists() and os.access(root, os.W_OK):
        with contextlib.suppress(OSError):
            if "cpu" in controllers.read_text().split():
                return "cgroup-v2"
    return "threads"


def thread_count(cpu: float) -> int:
    """Threads a container of ``cpu`` vCPU may use: ``ceil(cpu)``, at least 1."""
    return max(1, math.ceil(cpu - 1e-9))


def set_thread_env(cpu: float) -> int:
    """Set the thread-pool environment variables (read when numeric libraries load); returns the count."""
    n = thread_count(cpu)
    for key in THREAD_ENV:
        os.environ[key] = str(n)
    return n


def limit_loaded_pools(n: int) -> None:
    """Limit thread pools of libraries already loaded in this process (BLAS/OpenMP via threadpoolctl, torch)."""
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(n)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def join_cpu_cgroup(name: str, cpu: float, mode: str, root: Path = CGROUP_ROOT, attempts: int = 3) -> Path | None:
    """Move this process into its own cgroup with a quota of ``cpu`` vCPU; the cgroup's path, None on failure.

    Retried: another container's :func:`sweep_stale` may remove the new, still empty cgroup before we join it."""
    for _ in range(attempts):
        group = _join(name, cpu, mode, root)
        if group is not None:
            return group
    return None


def _join(name: str, cpu: float, mode: str, root: Path) -> Path | None:
    quota = max(MIN_QUOTA_US, round(cpu * PERIOD_US))
    pid = str(os.getpid())
    try:
        if mode == "cgroup-v1":
            group = root / "cpu" / GROUP / name
            group.mkdir(parents=True, exist_ok=True)
            _write(group / "cpu.cfs_period_us", str(PERIOD_US))
            _write(group / "cpu.cfs_quota_us", str(quota))
            _write(group / "cgroup.procs", pid)
            return group
        if mode == "cgroup-v2":
            parent = root / GROUP
            parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                _write(root / "cgroup.subtree_control", "+cpu")
            _write(parent / "cgroup.subtree_control", "+cpu")
            group = parent / name
            group.mkdir(exist_ok=True)
            _write(group / "cpu.max", f"{quota} {PERIOD_US}")
            _write(group / "cgroup.procs", pid)
            return group
    except OSError:
        return None
    return None


def release_cgroup(group: Path | None, root: Path = CGROUP_ROOT) -> None:
    """Move this process back to the root cgroup and remove its own (best effort)."""
    if group is None:
        return
    top = group.parent.parent
    with contextlib.suppress(OSError):
        _write(top / "cgroup.procs", str(os.getpid()))
    with contextlib.suppress(OSError):
        group.rmdir()


def _parents(root: Path) -> list[Path]:
    """The directories holding per-container cgroups that exist here (cgroup v1's cpu hierarchy, v2's)."""
    return [p for p in (root / "cpu" / GROUP, root / GROUP) if p.is_dir()]


def sweep_stale(root: Path = CGROUP_ROOT) -> int:
    """Remove empty per-container cgroups (left by killed actors); returns how many were removed."""
    removed = 0
    for parent in _parents(root):
        with contextlib.suppress(OSError):
            for child in parent.iterdir():
                procs = child / "cgroup.procs"
                if not child.is_dir() or not procs.exists():
                    continue
                with contextlib.suppress(OSError):
                    if not procs.read_text().strip():
                        child.rmdir()
                        removed += 1
    return removed


def sweep_until_gone(prefix: str, timeout_s: float = 10.0, root: Path = CGROUP_ROOT) -> list[str]:
    """Sweep (:func:`sweep_stale`) until no cgroup whose name starts with ``prefix`` is left, or ``timeout_s``
    passes; the names still left. A killed actor's cgroup empties only when its process has exited, which may be
    after Ray reports the kill (and an actor killed while starting has no known pid to wait for)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sweep_stale(root)
        left = [c.name for p in _parents(root) for c in p.iterdir() if c.is_dir() and c.name.startswith(prefix)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _status_bytes(*keys: str) -> dict[str, int]:
    """The named ``Vm*`` figures of this process from /proc/self/status, in bytes (empty where unavailable)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in keys:
            values[key] = int(rest.split()[0]) * 1024
    return values


def memory_figures() -> tuple[int, int]:
    """(mapped address space, resident set) of this process in bytes, from /proc (0, 0 where unavailable)."""
    values = _status_bytes("VmSize", "VmRSS")
    return values.get("VmSize", 0), values.get("VmRSS", 0)


def peak_resident_mb(baseline_bytes: int = 0) -> float:
    """The most resident memory this process has held (``VmHWM`` in /proc), less ``baseline_bytes``, in MB; NaN
    where /proc does not tell."""
    peak = _status_bytes("VmHWM").get("VmHWM")
    return math.nan if peak is None else max(0.0, (peak - baseline_bytes) / 2**20)


class InitOutOfMemory(MemoryError):
    """The container's init left more resident memory than its configuration allows."""


def cap_memory(memory_mb: int, baseline_bytes: int = 0) -> str:
    """Cap the address space at what is mapped now plus what remains of ``memory_mb`` (counted from
    ``baseline_bytes`` of resident memory) beyond the resident set (module docstring); raises
    :class:`InitOutOfMemory` if the resident set already exceeds it. Returns the mode."""
    mapped, rss = memory_figures()
    budget = memory_mb * 1024 * 1024 + baseline_bytes
    if rss > budget:
        own = (rss - baseline_bytes) / 2**20
        raise InitOutOfMemory(f"out of memory: init left {own:.0f} MB resident, the limit is {memory_mb} MB")
    if mapped == 0:
        return "ray"
    limit = mapped + budget - rss
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        return "ray"
    return "rlimit"
