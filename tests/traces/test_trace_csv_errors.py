"""Malformed trace files are refused with an InputError naming the file, the line and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from aquatope.errors import InputError
from aquatope.traces import load_trace

HEAD = "HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3"


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("", 1, None, "empty file"),
        ("\n\n", 1, None, "empty file"),
        (HEAD + "\n", 2, None, "no data rows"),
        ("HashApp,HashOwner,minute_1\na,o,1\n", 1, "HashFunction", "missing column"),
        ("HashFunction,HashApp,minute_1\nf,a,1\n", 1, "HashOwner", "missing column"),
        ("HashFunction,HashApp,HashOwner\nf,a,o\n", 1, None, "no minute columns"),
        ("HashFunction,HashApp,HashOwner,minute_1,minute_3\nf,a,o,1,2\n", 1, "minute_3", "expected minute"),
        ("HashFunction,Extra,HashApp,HashOwner,minute_1\nf,x,a,o,1\n", 1, "Extra", "unexpected column"),
        (HEAD + "\nf1,a,o,1,2,3\nf2,a,o,1,1.5,3\n", 3, "minute_2", "not an integer"),
        (HEAD + "\nf1,a,o,1,2,3\nf2,a,o,1,,3\n", 3, "minute_2", "not an integer"),
        (HEAD + "\nf1,a,o,1,2,x\n", 2, "minute_3", "not an integer"),
        (HEAD + "\nf1,a,o,1,2,3\nf2,a,o,1,2,-4\n", 3, "minute_3", "negative count"),
        (HEAD + "\nf1,a,o,1,2,3\nf2,a,o,1,2\n", 3, None, "row has 5 fields"),
        (HEAD + "\nf1,a,o,1,2,3,4\n", 2, None, "row has 7 fields"),
        (HEAD + "\nf1,a,o,1,2,3\n\nf1,a,o,4,5,6\n", 4, "HashFunction", "duplicate function id"),
        (HEAD + "\n,a,o,1,2,3\n", 2, "HashFunction", "empty function id"),
    ],
)
def test_bad_invocations_file(tmp_path: Path, text: str, line: int, field: str | None, words: str) -> None:
    path = tmp_path / "invocations.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_trace(path)
    err = info.value
    assert (err.source, err.line, err.field) == (str(path), line, field)
    assert f"{path}:{line}" in str(err) and words in str(err)


def test_bad_cell_in_a_later_chunk_names_its_line(tmp_path: Path) -> None:
    rows = [f"f{i},a,o,1,2,3" for i in range(5000)]
    rows[4321] = "f4321,a,o,1,2,three"
    path = tmp_path / "invocations.csv"
    path.write_text(HEAD + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        load_trace(path)
    assert (info.value.line, info.value.field) == (4323, "minute_3")


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("durations.csv", "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum\no,a,f,1,x,1,1\n", 2, "Count"),
        ("durations.csv", "HashOwner,HashApp,HashFunction,Average,Count,Minimum\no,a,f,1,1,1\n", 1, "Maximum"),
        (
            "durations.csv",
            "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum\no,a,f,1,1,1,1\no,a,f,2,2,2,2\n",
            3,
            "HashFunction",
        ),
        (
            "memory.csv",
            "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pctX\no,a,1,2,3\n",
            1,
            "AverageAllocatedMb_pctX",
        ),
        ("memory.csv", "HashOwner,HashApp,SampleCount,AverageAllocatedMb\no,a,1,lots\n", 2, "AverageAllocatedMb"),
    ],
)
def test_bad_statistics_file(tmp_path: Path, name: str, text: str, line: int, field: str) -> None:
    (tmp_path / "invocations.csv").write_text(HEAD + "\nf,a,o,1,2,3\n")
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_trace(tmp_path)
    assert (info.value.source, info.value.line, info.value.field) == (str(path), line, field)


def test_official_header_and_utf8_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "invocations.csv"
    path.write_text("\ufeffHashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,0,9\n", encoding="utf-8")
    assert load_trace(path).counts.tolist() == [[0, 9]]
