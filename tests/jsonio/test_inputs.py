"""read_json / read_text: every hostile file is one InputError naming the file (and the line where known)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aquatope.errors import InputError
from aquatope.jsonio import guard_inputs, inputs_read, read_json, read_text


def _write(tmp_path: Path, data: bytes | str, name: str = "in.json") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def test_reads_plain_json(tmp_path: Path) -> None:
    assert read_json(_write(tmp_path, '{"a": [1, 2.5, "x[{"], "b": {"c": null}}')) == {
        "a": [1, 2.5, "x[{"],
        "b": {"c": None},
    }


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"{}\n\x89PNG\r\n\x1a\n", "not UTF-8", 2),
        (b'{"a": 1,\n "b": }', "malformed JSON", 2),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64", 1),
        (b'{"a":\n {"b": NaN}}', "NaN is not a JSON number", 2),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number", 1),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'", None),
        (b'{"x": 1e999}', "out of range", None),
        (b'{"x": ' + b"9" * 5000 + b"}", "malformed JSON", None),
        (b"", "malformed JSON", 1),
    ],
)
def test_hostile_json_is_one_clear_error(tmp_path: Path, content: bytes, message: str, line: int | None) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(InputError, match=message) as info:
        read_json(path, field="--config")
    assert info.value.source == str(path) and info.value.line == line
    assert "\n" not in str(info.value)


def test_nan_and_infinity_are_refused_naming_their_key(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"f": {"cpu": 1},\n "g": {"cpu": [1, 2], "memory_mb": -Infinity}, "h": NaN}')
    with pytest.raises(InputError, match="-Infinity is not a JSON number") as info:
        read_json(path, field="--config")
    assert (info.value.line, info.value.field) == (2, "--config.g.memory_mb")
    with pytest.raises(InputError) as info:
        read_json(_write(tmp_path, "[1, NaN,"))  # malformed besides: the constant is still named, without a key
    assert (info.value.line, info.value.field) == (1, None)


def test_strings_may_hold_brackets_and_the_words_nan_and_infinity(tmp_path: Path) -> None:
    text = '{"note": "NaN [[[[ Infinity \\" }}}", "deep": ' + "[" * 10 + "]" * 10 + "}"
    assert read_json(_write(tmp_path, text))["note"] == 'NaN [[[[ Infinity " }}}'


def test_size_is_checked_before_the_file_is_held(tmp_path: Path) -> None:
    path = _write(tmp_path, "[" + "0," * 1000 + "0]")
    with pytest.raises(InputError, match="larger than 1 KiB, the limit for a cluster file"):
        read_json(path, max_bytes=1024, what="cluster file")
    assert read_json(path)[-1] == 0


def test_missing_file_directory_and_device(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="JSON file not found"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(InputError, match="is a directory"):
        read_json(tmp_path)
    with pytest.raises(InputError, match="larger than"):
        read_json("/dev/zero", max_bytes=4096)


def test_text_reader_names_the_line_of_a_binary_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, b"name: x\nkind: \xff\n", "wf.yaml")
    with pytest.raises(InputError, match="byte 0xff") as info:
        read_text(path, max_bytes=1000, what="workflow file")
    assert info.value.line == 2


def test_files_read_in_a_guarded_command_are_recorded(tmp_path: Path) -> None:
    path = _write(tmp_path, "{}")
    read_json(path)
    assert inputs_read() == {}
    with guard_inputs():
        read_json(path)
        assert list(inputs_read().values()) == [str(path)]
    assert inputs_read() == {}
