"""The pinned arithmetic: entry points cap oneDNN at AVX2 unless the user chose a cap, the cap set after torch's import
still decides how a network trains, and results record what they were computed with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aquatope
from aquatope.cli import app
from aquatope.numerics import ISA_VARIABLE, PINNED_ISA, arithmetic, pin_arithmetic, ray_env_vars

SRC = str(Path(aquatope.__file__).resolve().parent.parent)

TRAIN = """
import sys
import torch
if sys.argv[1] == "pin":
    from aquatope.numerics import pin_arithmetic
    pin_arithmetic()  # after torch's import, before the first network call
torch.manual_seed(0)
lstm, head = torch.nn.LSTM(8, 32, batch_first=True), torch.nn.Linear(32, 1)
opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], 1e-2)
x, y = torch.randn(64, 48, 8), torch.randn(64, 1)
for _ in range(20):
    opt.zero_grad()
    loss = ((head(lstm(x)[0][:, -1]) - y) ** 2).mean()
    loss.backward()
    opt.step()
print(repr(loss.item()), torch.backends.cpu.get_cpu_capability())
"""


def _train(mode: str, cap: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ISA_VARIABLE}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if cap is not None:
        env[ISA_VARIABLE] = cap
    out = subprocess.run([sys.executable, "-c", TRAIN, mode], env=env, capture_output=True, text=True, check=True)
    loss, capability = out.stdout.split()
    return loss, capability


def test_pin_sets_the_cap_only_where_the_user_set_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ISA_VARIABLE, "unset")  # so that the teardown restores the variable as it was
    monkeypatch.delenv(ISA_VARIABLE)
    assert ray_env_vars() == {}
    assert pin_arithmetic() == PINNED_ISA == os.environ[ISA_VARIABLE] == "AVX2"
    assert ray_env_vars() == {ISA_VARIABLE: "AVX2"} and arithmetic()[ISA_VARIABLE] == "AVX2"
    monkeypatch.setenv(ISA_VARIABLE, "AVX512_CORE")
    assert pin_arithmetic() == "AVX512_CORE" == os.environ[ISA_VARIABLE]
    assert ray_env_vars() == {ISA_VARIABLE: "AVX512_CORE"}


def test_every_command_pins_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ISA_VARIABLE, "unset")  # so that the teardown restores the variable as it was
    monkeypatch.delenv(ISA_VARIABLE)
    result = CliRunner().invoke(app, ["workflows", "list"])
    assert result.exit_code == 0, result.output
    assert os.environ.get(ISA_VARIABLE) == PINNED_ISA


def test_a_pin_after_torchs_import_trains_the_network_a_shell_cap_trains() -> None:
    pinned, capability = _train("pin", None)
    assert pinned == _train("plain", "AVX2")[0]  # the same network to the last digit
    if capability.startswith("AVX512"):  # where the CPU has wider kernels, unpinned training takes another path
        assert pinned != _train("plain", None)[0]
