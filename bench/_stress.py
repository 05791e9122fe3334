"""Controlled stress load and a sampler of the machine's CPU demand, for the calibration scripts in ``bench/``.

**Stress.** :class:`Stress` starts ``ceil(vcpu)`` worker processes (this file run as a script), each busy a share
``vcpu / ceil(vcpu)`` of every ``period_s`` and asleep the rest, so the group asks for ``vcpu`` CPUs on average.
A ``cpu`` worker spins a pure-Python loop (registers and L1); a ``mem`` worker streams ``+= 1`` over its own
``array_mb`` array (far larger than the last-level cache, so it is memory-bandwidth bound). Each worker runs in its
own session: where the kernel groups tasks by session for fairness (``/proc/sys/kernel/sched_autogroup_enabled``,
on here), each worker then weighs as much as one container (a cgroup), as a co-located tenant's invocation would;
in one shared session all workers together would weigh as one task. Every worker is killed with SIGKILL when the
``with`` block ends (also on an exception); a worker whose parent is gone exits by itself, so none survives a
killed driver.

**Sampler.** :class:`DemandSampler` reads ``/proc/stat`` every ``period_s`` on a thread: ``procs_running`` (tasks
running or waiting for a CPU, the whole machine, other users' included, minus the sampler itself) and the
jiffies of the ``cpu`` line (busy, idle, steal). :meth:`DemandSampler.window` summarises a time window (on
``time.monotonic()``, which is the same clock in every process of the machine): mean demand in CPUs, the busy share
of the CPUs (which saturates at 1 and so cannot show demand above capacity), the hypervisor's steal share and the
histogram of the demand samples.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

KINDS = ("cpu", "mem")


# ----------------------------------------------------------------------------------------------- stress workers
def _orphaned(parent: int) -> bool:
    return os.getppid() != parent


def _cpu_worker(duty: float, period_s: float, parent: int) -> None:
    x = 1
    while not _orphaned(parent):
        began = time.perf_counter()
        busy_until = began + duty * period_s
        while time.perf_counter() < busy_until:
            for _ in range(2000):
                x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        rest = began + period_s - time.perf_counter()
        if rest > 0:
            time.sleep(rest)


def _mem_worker(duty: float, period_s: float, array_mb: int, parent: int) -> None:
    import numpy as np

    data = np.ones(array_mb * 1024 * 1024 // 8)
    chunk = 2 * 1024 * 1024  # 16 MB of float64 per step: fine-grained enough to follow the duty cycle
    pos = 0
    sys.stdout.buffer.write(b"r")
    sys.stdout.buffer.flush()
    while not _orphaned(parent):
        began = time.perf_counter()
        busy_until = began + duty * period_s
        while time.perf_counter() < busy_until:
            part = data[pos : pos + chunk]
            part += 1.0
            pos = 0 if pos + chunk >= data.size else pos + chunk
        rest = began + period_s - time.perf_counter()
        if rest > 0:
            time.sleep(rest)


def _worker_main(argv: list[str]) -> None:
    kind, duty, period_s, array_mb, parent = argv[0], float(argv[1]), float(argv[2]), int(argv[3]), int(argv[4])
    if kind == "mem":
        _mem_worker(duty, period_s, array_mb, parent)
        return
    sys.stdout.buffer.write(b"r")
    sys.stdout.buffer.flush()
    _cpu_worker(duty, period_s, parent)


class Stress:
    """``vcpu`` CPUs of ``kind`` stress while the ``with`` block runs (module docstring); ``vcpu=0`` starts nothing."""

    def __init__(self, kind: str, vcpu: float, *, period_s: float = 0.05, array_mb: int = 256) -> None:
        if kind not in KINDS:
            raise ValueError(f"stress kind must be one of {KINDS}, got {kind!r}")
        if not vcpu >= 0:
            raise ValueError(f"stress vcpu must be >= 0, got {vcpu}")
        self.kind = kind
        self.vcpu = vcpu
        self.period_s = period_s
        self.array_mb = array_mb
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def workers(self) -> int:
        return math.ceil(self.vcpu - 1e-9) if self.vcpu > 0 else 0

    def __enter__(self) -> Stress:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the workers and wait until each has set up (its array allocated and touched)."""
        if not self.workers:
            return
        duty = self.vcpu / self.workers
        args = [self.kind, f"{duty:.6f}", f"{self.period_s}", str(self.array_mb), str(os.getpid())]
        cmd = [sys.executable, str(Path(__file__).resolve()), "worker", *args]
        for _ in range(self.workers):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            if proc.stdout.read(1) != b"r":
                raise RuntimeError(f"stress worker {proc.pid} exited during setup (code {proc.wait()})")

    def stop(self) -> None:
        """Kill every worker (each leads its own process group) and reap it."""
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs = []


# ----------------------------------------------------------------------------------------------- demand sampler
@dataclass(frozen=True)
class Window:
    """What the machine did during a time window: demand and busy share in CPUs / capacity (see the module)."""

    demand_cpus: float  # mean tasks running or runnable (the sampler excluded)
    busy_share: float  # non-idle, non-steal jiffies / all jiffies (0..1)
    steal_share: float  # jiffies the hypervisor took / all jiffies
    samples: int
    hist: dict[int, int]  # demand samples: tasks -> count


class DemandSampler:
    """Samples ``/proc/stat`` every ``period_s`` on a daemon thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.cores = os.cpu_count() or 1
        self.times: list[float] = []
        self.running: list[int] = []
        self.jiffies: list[tuple[int, int, int]] = []  # (busy, total, steal)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demand-sampler", daemon=True)

    def __enter__(self) -> DemandSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _read(self) -> tuple[int, tuple[int, int, int]]:
        with open("/proc/stat") as f:
            text = f.read()
        running = 0
        jiffies = (0, 0, 0)
        for line in text.splitlines():
            if line.startswith("cpu "):
                v = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
                total = sum(v)
                jiffies = (total - v[3] - v[4] - v[7], total, v[7])
            elif line.startswith("procs_running"):
                running = int(line.split()[1]) - 1  # the sampler itself is running while it reads
        return running, jiffies

    def _run(self) -> None:
        while not self._stop.is_set():
            running, jiffies = self._read()
            self.times.append(time.monotonic())
            self.running.append(running)
            self.jiffies.append(jiffies)
            self._stop.wait(self.period_s)

    def window(self, t0: float, t1: float) -> Window:
        """Demand, busy and steal shares between monotonic times ``t0`` and ``t1``."""
        times = list(self.times)
        idx = [i for i, t in enumerate(times) if t0 <= t <= t1]
        if not idx:
            raise RuntimeError(f"no demand sample between {t0:.3f} and {t1:.3f} (is the sampler running?)")
        hist = Counter(self.running[i] for i in idx)
        lo = max(0, idx[0] - 1)
        hi = min(len(times) - 1, idx[-1] + 1)
        busy0, total0, steal0 = self.jiffies[lo]
        busy1, total1, steal1 = self.jiffies[hi]
        span = max(1, total1 - total0)
        return Window(
            demand_cpus=sum(k * c for k, c in hist.items()) / len(idx),
            busy_share=(busy1 - busy0) / span,
            steal_share=(steal1 - steal0) / span,
            samples=len(idx),
            hist=dict(sorted(hist.items())),
        )


def wait_quiet(sampler: DemandSampler, below_cpus: float, max_wait_s: float, window_s: float = 1.0) -> float:
    """Wait (at most ``max_wait_s``) until the machine's demand over the last ``window_s`` is at most ``below_cpus``;
    returns that last demand (the background a trial starts in)."""
    deadline = time.monotonic() + max_wait_s
    time.sleep(window_s)
    while True:
        now = time.monotonic()
        demand = sampler.window(now - window_s, now).demand_cpus
        if demand <= below_cpus or now >= deadline:
            return demand
        time.sleep(0.25)


def exit_on_signals() -> None:
    """SIGTERM (and SIGINT, which a shell ignores in background jobs) end the run through ``finally`` blocks, so
    Ray is shut down and no stress worker is left behind."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "worker":
    _worker_main(sys.argv[2:])
