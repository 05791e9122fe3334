"""Model files: round trip, and every bad file refused fast with one InputError naming the file and the field.

Bad headers are written with a valid checksum (recomputed here from the documented layout), so each case reaches
the range check it is about instead of stopping at the checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast import BayesLSTMForecaster, load_model, match_functions, save_model

SMALL = {"hidden": 8, "width": 16, "window": 24, "n_windows": 500, "epochs": 1, "min_steps": 0, "mc_passes": 5}
NAMES = ["f-a", "f-b", "f-c"]


def _counts(n_intervals: int = 200) -> np.ndarray:
    t = np.arange(n_intervals)
    rng = np.random.default_rng(0)
    return np.stack([rng.poisson(20, t.size), rng.poisson(0.3, t.size), np.where(t % 10 == 0, 50, 0)]).astype(float)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[BayesLSTMForecaster, Path]:
    model = BayesLSTMForecaster(**SMALL).fit(_counts()[:, :150])
    path = save_model(model, tmp_path_factory.mktemp("m") / "model.safetensors", functions=NAMES)
    return model, path


def _split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _join(index: dict[str, Any], data: bytes) -> bytes:
    meta = json.dumps(index).encode()
    return struct.pack("<Q", len(meta)) + meta + data


def _rewrite(
    src: Path,
    dst: Path,
    header_edit: Callable[[dict[str, Any]], None] | None = None,
    weights_edit: Callable[[np.ndarray], None] | None = None,
) -> Path:
    """A copy of ``src`` with its Aquatope header and/or weights edited and the checksum recomputed."""
    index, data = _split(src.read_bytes())
    header = json.loads(index["__metadata__"]["aquatope"])
    if header_edit:
        header_edit(header)
    if weights_edit:
        weights = np.frombuffer(data, dtype="<f4").copy()
        weights_edit(weights)
        data = weights.tobytes()
    text = json.dumps(header)
    index["__metadata__"]["aquatope"] = text
    index["__metadata__"]["sha256"] = hashlib.sha256(text.encode() + b"\0" + data).hexdigest()
    dst.write_bytes(_join(index, data))
    return dst


def test_round_trip_gives_identical_predictions_reports_and_names(model_file: tuple[BayesLSTMForecaster, Path]) -> None:
    model, path = model_file
    loaded = load_model(path)
    counts = _counts()
    a, b = model.predict(counts, horizon=2), loaded.predict(counts, horizon=2)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    assert loaded.validation_report == model.validation_report
    assert loaded.components_ == model.components_ and loaded.function_names_ == tuple(NAMES)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.safetensors"]  # no temporary file left
    assert path.read_bytes()[8:9] == b"{"  # no pickle: the safetensors layout


def test_a_file_written_before_the_interval_figure_loads_with_zeros(
    model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path
) -> None:
    """Files of format 3 written before ``interval_vetoed`` existed load, with the figure at 0; any other missing
    figure is still refused."""
    _, path = model_file
    older = _rewrite(path, tmp_path / "older.safetensors", header_edit=lambda h: h["figures"].pop("interval_vetoed"))
    loaded = load_model(older)
    assert loaded.state_ is not None and not loaded.state_.figures["interval_vetoed"].any()
    assert loaded.validation_report.interval_vetoed == 0
    bad = _rewrite(path, tmp_path / "bad.safetensors", header_edit=lambda h: h["figures"].pop("pinball"))
    with pytest.raises(InputError) as info:
        load_model(bad)
    assert info.value.field == "figures"


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(header: dict[str, Any]) -> None:
        if isinstance(value, dict) and value:  # merge several values
            header[key].update(value)
            return
        target = header
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value

    return edit


BAD_HEADERS = [
    ("params.window", 10**6),  # a huge window
    ("params.window", -3),
    ("params.n_threads", 10**6),  # a huge thread count
    ("params.mc_passes", 10**7),  # a huge mc_passes
    ("params", {"hidden": 1024, "width": 4096, "mc_passes": 1000}),  # each in range, together too much work
    ("params.seed", "x"),
    ("period", [-10, 0, 10]),  # a negative period
    ("period", [0, 0, 5000]),
    ("std_scale", [1.0, float("nan"), 1.0]),  # a NaN calibration factor
    ("std_scale", [1.0, 1.0]),  # too short
    ("scale", [1.0, 1.0, float("inf")]),
    ("noise_var", [0.0, -1.0, 0.0]),
    ("components", ["lstm", "lstm", "prophet"]),
    ("rate_class", [0, 7, 0]),
    ("functions", ["a", "a", "b"]),
    ("n_nets", 3),
]


@pytest.mark.parametrize(("key", "value"), BAD_HEADERS)
def test_bad_header_values_are_refused_naming_file_and_field(
    model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path, key: str, value: Any
) -> None:
    _, path = model_file
    bad = _rewrite(path, tmp_path / "bad.safetensors", header_edit=_set(key, value))
    field = key
    began = time.perf_counter()
    with pytest.raises(InputError) as info:
        load_model(bad)
    assert time.perf_counter() - began < 2.0  # refused before any heavy work
    assert info.value.source == str(bad) and info.value.field is not None
    assert info.value.field.startswith(field)
    assert "\n" not in str(info.value)


def test_a_usable_model_with_a_class_factor_at_the_bound_is_refused(
    model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path
) -> None:
    """fit() now calls a class factor at the bisection's upper bound a failed calibration; a file trained before
    that must not load as usable (it would serve intervals no factor could widen enough). Unusable files, and a
    factor at the lower bound, still load."""
    model, path = model_file
    assert model.validation_report.usable

    def wide(usable: bool, factor: float) -> Callable[[dict[str, Any]], None]:
        def edit(header: dict[str, Any]) -> None:
            header["model_wide"]["usable"] = usable
            header["model_wide"]["std_scale"] = {"sporadic": 1.0, "mid": factor}

        return edit

    stale = _rewrite(path, tmp_path / "stale.safetensors", header_edit=wide(True, 20.0))
    with pytest.raises(InputError, match="mid class's calibration reached its bound 20") as info:
        load_model(stale)
    assert info.value.field == "model_wide.std_scale" and "retrain" in str(info.value)
    assert load_model(_rewrite(path, tmp_path / "unusable.safetensors", header_edit=wide(False, 20.0))) is not None
    assert load_model(_rewrite(path, tmp_path / "low.safetensors", header_edit=wide(True, 0.05))) is not None


def test_nan_weights_are_refused(model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path) -> None:
    _, path = model_file
    bad = _rewrite(path, tmp_path / "nan.safetensors", weights_edit=lambda w: w.__setitem__(7, np.nan))
    with pytest.raises(InputError, match="finite") as info:
        load_model(bad)
    assert info.value.field is not None and info.value.field.startswith("weights")


@pytest.mark.parametrize("offset", [3, 200, -5])
def test_bit_flipped_files_are_refused(
    model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path, offset: int
) -> None:
    """A flipped bit anywhere (header length, JSON header, weights) is refused with one line."""
    raw = bytearray(model_file[1].read_bytes())
    raw[offset] ^= 0x10
    bad = tmp_path / "flipped.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputError) as info:
        load_model(bad)
    assert info.value.source == str(bad)
    assert any(w in str(info.value) for w in ("checksum", "not an Aquatope model file", "tensor index"))


def test_foreign_pickled_missing_and_old_files_are_refused(tmp_path: Path) -> None:
    import torch

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(InputError, match=r"corrupt\.pt: not an Aquatope model file"):
        load_model(corrupt)
    pickled = tmp_path / "pickled.pt"
    torch.save({"header": '{"format_version": 2}', "state": {}}, pickled)
    with pytest.raises(InputError, match=r"pickled\.pt: not an Aquatope model file"):
        load_model(pickled)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="not a regular file"):
        load_model(tmp_path)
    with pytest.raises(InputError, match="not fitted"):
        save_model(BayesLSTMForecaster(), tmp_path / "x.safetensors")


def test_old_format_version_is_refused(model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path) -> None:
    bad = _rewrite(model_file[1], tmp_path / "v2.safetensors", header_edit=_set("format_version", 2))
    with pytest.raises(InputError, match="version 2, expected 3"):
        load_model(bad)


def test_a_trace_is_matched_to_the_model_by_function_name(model_file: tuple[BayesLSTMForecaster, Path]) -> None:
    model, path = model_file
    loaded = load_model(path)
    counts = _counts()
    part = match_functions(loaded, ["f-c", "f-a"], source=path)
    np.testing.assert_allclose(part.predict(counts[[2, 0]]).mean, model.predict(counts).mean[[2, 0]])
    assert part.validation_report.functions == 2
    assert match_functions(loaded, NAMES) is loaded
    for names in (["f-a", "other"], ["x"], [*NAMES, "f-d"]):  # unknown, one unknown, more functions than fitted
        with pytest.raises(InputError, match="not in the model") as info:
            match_functions(loaded, names, source=path)
        assert info.value.field == "functions" and info.value.source == str(path)


def test_a_model_without_names_needs_the_same_number_of_functions(tmp_path: Path) -> None:
    model = BayesLSTMForecaster(**SMALL).fit(_counts()[:, :150])
    path = save_model(model, tmp_path / "anon.safetensors")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # a model file has the normal mode (mkstemp's is 0600)
    loaded = load_model(path)
    assert loaded.function_names_ is None
    assert match_functions(loaded, ["x", "y", "z"]) is loaded
    for names in (["x"], ["x", "y"], ["w", "x", "y", "z"]):  # one, fewer, more
        with pytest.raises(InputError, match="fitted on 3 functions"):
            match_functions(loaded, names, source="anon.safetensors")


@pytest.mark.parametrize("junk", ["x", None, [], {}, -1, 1e308, [float("nan")] * 3])
def test_any_header_value_of_the_wrong_type_is_an_input_error(
    model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path, junk: Any
) -> None:
    """Every top-level header key and every parameter replaced by junk: always one InputError, never a traceback."""
    _, path = model_file
    header = json.loads(_split(path.read_bytes())[0]["__metadata__"]["aquatope"])
    keys = [k for k in header if k != "format_version"] + [f"params.{k}" for k in header["params"]]
    for key in keys:
        bad = _rewrite(path, tmp_path / "junk.safetensors", header_edit=_set(key, junk))
        try:
            load_model(bad)
        except InputError as exc:
            assert exc.source == str(bad), key
        else:  # only "no function names" is a valid replacement
            assert (key, junk) == ("functions", None), f"{key}={junk!r} was accepted"


def test_random_bit_flips_are_always_input_errors(model_file: tuple[BayesLSTMForecaster, Path], tmp_path: Path) -> None:
    raw = model_file[1].read_bytes()
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(raw), 40):
        flipped = bytearray(raw)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        bad = tmp_path / "flip.safetensors"
        bad.write_bytes(bytes(flipped))
        with pytest.raises(InputError):
            load_model(bad)
