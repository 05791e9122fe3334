"""The arithmetic the forecaster's network runs with, pinned so that a figure reproduces across x86 machines.

torch runs the network's LSTM and linear layers on oneDNN kernels, and oneDNN picks them by the CPU's vector width.
The same code, data and seed train a different network on an AVX-512 machine than on an AVX2 one: the floating
point sums in another order, training amplifies the last-digit differences, and on the bundled sample's 3-function
high-rate class the network's error moved from 0.83 to 0.93 of the moving average's (``bench/forecast_eval.py``).
That reaches the evaluation: 3 of its 10 (workflow, seed) pairs pre-warm differently.

So every entry point (the ``aquatope`` command, the forecasting benches) calls :func:`pin_arithmetic` first: it caps
oneDNN at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``), which any x86 CPU of the last decade can run, unless the user has set
a cap of their own. oneDNN reads the variable once, at its first call in the process, so the pin must come before
any network trains or predicts (importing torch is fine). Ray workers get it through the job's ``runtime_env``
(:func:`ray_env_vars`). A library call never sets it: only entry points do. On a CPU without AVX2, or another
architecture, oneDNN ignores the cap.

:func:`arithmetic` says what a result was computed with; studies and benches record it next to their figures.
"""

from __future__ import annotations

import os
from typing import Any

ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
PINNED_ISA = "AVX2"


def pin_arithmetic() -> str:
    """Cap oneDNN at :data:`PINNED_ISA` unless ``ONEDNN_MAX_CPU_ISA`` is already set; returns the cap in effect.
    For entry points only (module docstring)."""
    return os.environ.setdefault(ISA_VARIABLE, PINNED_ISA)


def ray_env_vars() -> dict[str, str]:
    """The variables Ray workers need to compute as this process does (for ``runtime_env={"env_vars": ...}``)."""
    cap = os.environ.get(ISA_VARIABLE)
    return {} if cap is None else {ISA_VARIABLE: cap}


def arithmetic() -> dict[str, Any]:
    """What decides the network's floating point here: torch's version, the CPU capability of torch's own kernels,
    and the oneDNN cap (None: none, so oneDNN uses the widest vectors the CPU has)."""
    import torch

    return {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        ISA_VARIABLE: os.environ.get(ISA_VARIABLE),
    }
