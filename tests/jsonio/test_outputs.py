"""write_json_atomic: valid JSON (NaN -> null), a temporary file renamed into place, nothing half-written."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import aquatope.jsonio.outputs
from aquatope.errors import InputError
from aquatope.jsonio import write_json_atomic


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_writes_indented_json_and_returns_the_path(tmp_path: Path) -> None:
    data = {"requests": 3, "latency_ms": {"p50": 12.5}, "names": ["a", "b"], "ok": True, "none": None}
    out = write_json_atomic(tmp_path / "out.json", data)
    assert out == tmp_path / "out.json"
    text = out.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert text.endswith("}\n") and '\n  "requests": 3,' in text
    assert list(json.loads(text)) == list(data)  # keys keep their order
    assert _files(tmp_path) == ["out.json"]


def test_accepts_a_string_path(tmp_path: Path) -> None:
    write_json_atomic(str(tmp_path / "s.json"), [1, 2])
    assert json.loads((tmp_path / "s.json").read_text()) == [1, 2]


def test_nan_and_infinities_become_null_at_any_depth(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "numpy_nan": np.float64("nan"),
        "nested": {"list": [1.0, math.nan, {"x": math.inf}], "tuple": (math.nan, 2)},
        "fine": 0.25,
    }
    path = write_json_atomic(tmp_path / "out.json", data)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "nan": None,
        "inf": None,
        "ninf": None,
        "numpy_nan": None,
        "nested": {"list": [1.0, None, {"x": None}], "tuple": [None, 2]},
        "fine": 0.25,
    }
    assert data["nested"]["list"][1] != data["nested"]["list"][1]  # the caller's data is not modified


def test_non_string_keys_become_strings(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "out.json", {1: "a", 2.5: "b"})
    assert json.loads(path.read_text()) == {"1": "a", "2.5": "b"}


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("old contents, much longer than the new ones\n" * 10)
    write_json_atomic(path, {"new": 1})
    assert json.loads(path.read_text()) == {"new": 1}
    assert _files(tmp_path) == ["out.json"]


def test_relative_path_goes_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_json_atomic("rel.json", {"a": 1})
    assert json.loads((tmp_path / "rel.json").read_text()) == {"a": 1}
    assert _files(tmp_path) == ["rel.json"]


def test_missing_directory_is_an_input_error_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "out.json"
    with pytest.raises(InputError, match="does not exist") as info:
        write_json_atomic(target, {"a": 1})
    assert info.value.source == str(target)
    assert str(tmp_path / "no") in info.value.message
    assert _files(tmp_path) == []


def test_unserializable_data_leaves_no_temporary_file_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text('{"old": true}\n')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"ok": 1, "bad": object()})
    assert _files(tmp_path) == ["out.json"]
    assert path.read_text() == '{"old": true}\n'


def test_failing_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    renames: list[tuple[str, str]] = []

    def failing_replace(src: str, dst: str | Path) -> None:
        renames.append((str(src), str(dst)))
        raise OSError("disk on fire")

    monkeypatch.setattr(aquatope.jsonio.outputs.os, "replace", failing_replace)
    with pytest.raises(InputError, match="disk on fire"):
        write_json_atomic(tmp_path / "out.json", {"a": 1})
    assert _files(tmp_path) == []
    ((src, dst),) = renames
    # the temporary file sat next to the target (same file system, so the rename is atomic) and was hidden
    assert Path(src).parent == tmp_path and Path(src).name.startswith(".out.json.")
    assert dst == str(tmp_path / "out.json")


def test_interrupt_while_writing_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_dump(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(aquatope.jsonio.outputs.json, "dump", interrupted_dump)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(tmp_path / "out.json", {"a": 1})
    assert _files(tmp_path) == []


def test_a_directory_as_target_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError):
        write_json_atomic(tmp_path / "out", {"a": 1})


def test_a_directory_as_target_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError):
        write_json_atomic(tmp_path / "out", {"a": 1})
    assert _files(tmp_path) == ["out"]
    assert os.listdir(tmp_path / "out") == []
