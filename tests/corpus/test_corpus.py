"""Runs every case of the bad-input corpus (``cases.yaml``) through the CLI and checks the promise: exit code 2,
one line ``error: ...`` naming the file/line/field, no traceback, inputs unchanged, no output left behind."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import aquatope
from aquatope.cli import app


@dataclass(frozen=True)
class Case:
    """One entry of ``cases.yaml`` (its header says what each field means)."""

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    owner: str | None = None
    setup: str | None = None
    isolate: bool = False
    fsize: int | None = None
    timeout_s: float = 60.0


def load_cases(path: Path) -> list[Case]:
    """The cases of the manifest, with the command prefixes (``{sim}``...) written out."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands: dict[str, str] = data["commands"]
    cases = []
    for entry in data["cases"]:
        run = entry.pop("run")
        for name, prefix in commands.items():
            run = run.replace("{" + name + "}", prefix)
        cases.append(Case(args=tuple(run.split()), expect=tuple(entry.pop("expect")), **entry))
    return cases


CASES = load_cases(Path(__file__).parent / "cases.yaml")
FILES = Path(__file__).parent / "files"
SRC = str(Path(aquatope.__file__).resolve().parent.parent)
SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
ISOLATED_AS_BYTES = 4 * 2**30


@dataclass
class Outcome:
    code: int | str
    stdout: str
    stderr: str


class CaseTimeout(Exception):
    """Raised in the test process when an in-process case runs past its time limit."""


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores modes: /sys refuses it too)."""
    if os.geteuid() != 0:
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o555)
        return locked
    try:
        (Path("/sys") / ".aquatope-corpus").touch()
    except OSError:
        return Path("/sys")
    pytest.skip("no unwritable directory for root here")


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: files by content hash, directories and links by kind."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"link:{os.readlink(path)}"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


# --- setups: inputs that cannot be small text files ------------------------------------------------------


def _symlink(inputs: Path, models: dict[str, Path]) -> None:
    (inputs / "link.yaml").symlink_to(inputs / "wf.yaml")


def _pickle(inputs: Path, models: dict[str, Path]) -> None:
    """A model file that is a pickle whose loading would run ``touch pwned`` in the working directory."""
    payload = b"cos\nsystem\n(S'touch pwned'\ntR."  # protocol 0: os.system("touch pwned")
    (inputs / "evil.pt").write_bytes(payload)


def _model(mutation: str) -> Callable[[Path, dict[str, Path]], None]:
    def setup(inputs: Path, models: dict[str, Path]) -> None:
        target = inputs / "model.pt"
        if mutation == "other_functions":
            shutil.copy(models["two"], target)
            return
        shutil.copy(models["three"], target)
        if mutation == "bitflip":
            data = bytearray(target.read_bytes())
            for at in range(len(data) // 3, len(data) // 3 + 64, 8):
                data[at] ^= 0xFF
            target.write_bytes(bytes(data))
            return
        _edit_model(target, mutation)

    return setup


def _edit_model(path: Path, mutation: str) -> None:
    """Rewrite a model file (the safetensors layout of :mod:`aquatope.forecast.persist`) with one thing broken and
    its checksum recomputed, as a hostile file would be: the case reaches the check it is about."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    index, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    header = json.loads(index["__metadata__"]["aquatope"])
    if mutation == "window":
        header["params"]["window"] = 10**9
    elif mutation == "threads":
        header["params"]["n_threads"] = 10**6
    elif mutation == "mc_passes":
        header["params"]["mc_passes"] = 10**9
    elif mutation == "period":
        header["period"] = [-5] * len(header["period"])
    elif mutation == "nan_scale":
        header["std_scale"] = [float("nan")] * len(header["std_scale"])
    elif mutation == "nan_weights":
        data = struct.pack(f"<{len(data) // 4}f", *[float("nan")] * (len(data) // 4))
    text = json.dumps(header)
    index["__metadata__"]["aquatope"] = text
    index["__metadata__"]["sha256"] = hashlib.sha256(text.encode() + b"\0" + data).hexdigest()
    meta = json.dumps(index).encode()
    path.write_bytes(struct.pack("<Q", len(meta)) + meta + data)


SETUPS: dict[str, Callable[[Path, dict[str, Path]], None]] = {"symlink": _symlink, "pickle": _pickle}
SETUPS.update({f"model:{m}": _model(m) for m in ("bitflip", "window", "threads", "period", "mc_passes")})
SETUPS.update({f"model:{m}": _model(m) for m in ("nan_weights", "nan_scale", "other_functions")})


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny valid bayes-lstm model files, on the corpus trace's 3 functions and on 2: untrained networks
    (epochs=0, min_steps=0) that serve, so the files hold weights (val_fraction=0.25: 10 of 40 minutes, the least
    validation a network needs)."""
    from aquatope.forecast import BayesLSTMForecaster, save_model
    from aquatope.traces import load_trace

    root = tmp_path_factory.mktemp("models")
    counts = load_trace(FILES / "trace.csv").counts[:, :40].astype(float)
    out = {}
    params = {"window": 8, "hidden": 4, "width": 8, "epochs": 0, "min_steps": 0, "val_fraction": 0.25}
    for name, rows in (("three", counts), ("two", counts[:2])):
        model = BayesLSTMForecaster(**params, n_windows=64, mc_passes=2, seed=0)
        save_model(model.fit(rows), root / f"{name}.pt")
        out[name] = root / f"{name}.pt"
    return out


# --- running a case -------------------------------------------------------------------------------------


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(args: list[str], timeout_s: float) -> Outcome:
    with time_limit(timeout_s):
        result = CliRunner().invoke(app, args, terminal_width=100)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        stderr += "Traceback (in process):\n" + "".join(traceback.format_exception(result.exception))
    return Outcome(result.exit_code, result.stdout, stderr)


def run_isolated(args: list[str], case: Case, cwd: Path) -> Outcome:
    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ISOLATED_AS_BYTES, ISOLATED_AS_BYTES))
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))

    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "100", "TERM": "dumb"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aquatope", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            preexec_fn=limits,
            timeout=case.timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        return Outcome(f"timeout after {case.timeout_s:g} s", str(exc.stdout or ""), str(exc.stderr or ""))
    return Outcome(done.returncode, done.stdout, done.stderr)


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"owner: {case.owner}")] if case.owner else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_is_refused_cleanly(
    case: Case, tmp_path: Path, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    shutil.copytree(FILES, inputs)
    outputs.mkdir()
    if case.setup is not None:
        SETUPS[case.setup](inputs, models)
    places = {"in": str(inputs), "out": str(outputs), "sample": str(SAMPLE)}
    if "{ro}" in " ".join(case.args):
        places["ro"] = str(unwritable_directory(tmp_path))
    args = [arg.format(**places) for arg in case.args]
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)  # anything written to the working directory is an output left behind
    outcome = run_isolated(args, case, tmp_path) if case.isolate else run_in_process(args, case.timeout_s)
    text = f"exit {outcome.code}\nstdout:\n{outcome.stdout[-2000:]}\nstderr:\n{outcome.stderr[-3000:]}"
    assert "Traceback" not in outcome.stdout + outcome.stderr, text
    assert outcome.code == 2, text
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    for expected in case.expect:
        assert expected.format(**places) in lines[0], f"{expected!r} not in the message\n{text}"
    assert snapshot(tmp_path) == before, f"inputs changed or outputs left behind\n{text}"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
