"""Azure 2019 loader: both real layouts, single files, and a hand-written multi-day directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import aquatope
from aquatope.errors import InputError
from aquatope.traces import load_azure2019, load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
OFFICIAL = Path(__file__).parents[1] / "data" / "azure2019-official-10"


def test_invitro_sample_directory() -> None:
    trace = load_trace(SAMPLE)
    assert (trace.n_functions, trace.n_minutes) == (250, 1440)
    assert trace.total_invocations == 2_137_036
    assert trace.counts.dtype == np.int64
    assert trace.function_ids[0].startswith("7aa0f8b2")
    assert trace.counts[0, :5].tolist() == [14, 0, 0, 0, 0]
    assert trace.counts.sum(axis=1)[:5].tolist() == [2017, 11, 112, 14, 501]
    assert trace.triggers is None
    assert trace.source == "aquatope/data/azure2019-sample-250"  # the same name in every install and checkout
    assert load_trace(OFFICIAL).source == str(OFFICIAL)  # a trace outside the package keeps its path
    # durations are matched by hash, not by row order (durations.csv is ordered differently)
    assert trace.durations is not None and trace.memory is not None
    i = trace.function_ids.index("083a6af60313d47da4f35bc2f765630cc7e31432e3fcba8b0f895735f7fd556a")
    assert (trace.durations.average_ms[i], trace.durations.count[i]) == (2733.0, 2.0)
    assert trace.memory.average_mb[0] == 794.0
    assert not np.isnan(trace.durations.average_ms).any()
    assert not np.isnan(trace.memory.average_mb).any()


def test_official_layout_directory_and_file() -> None:
    trace = load_trace(OFFICIAL)
    assert (trace.n_functions, trace.n_minutes) == (10, 1440)
    assert trace.counts.sum(axis=1).tolist() == [
        281962,
        1093671,
        355556,
        575863,
        27056,
        900001,
        6171429,
        30527,
        900998,
        2700001,
    ]
    assert trace.total_invocations == 13_037_064
    assert trace.triggers is not None and trace.triggers[:3] == ("http", "event", "queue")
    assert trace.function_ids[0].startswith("47658c9c")
    assert trace.app_ids is not None and trace.app_ids[0].startswith("734bb9a0")
    assert trace.owner_ids is not None and trace.owner_ids[0].startswith("104f438d")
    assert trace.durations is not None and trace.durations.average_ms[0] == 306.0
    assert trace.durations.percentile(50.0)[0] == 282.0
    assert trace.memory is not None and trace.memory.percentiles == (1, 5, 25, 50, 75, 95, 99, 100)
    same = load_trace(OFFICIAL / "invocations.csv")  # a file path finds its sibling statistics
    assert np.array_equal(same.counts, trace.counts) and same.durations is not None


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


HEAD = "HashOwner,HashApp,HashFunction,Trigger,1,2,3"


def _two_days(tmp_path: Path) -> Path:
    d = tmp_path / "azure"
    d.mkdir()
    _write(d / "invocations_per_function_md.anon.d01.csv", [HEAD, "o1,a1,fA,http,1,2,3", "o1,a1,fB,timer,4,0,0"])
    _write(d / "invocations_per_function_md.anon.d02.csv", [HEAD, "o2,a2,fC,queue,0,0,7", "o1,a1,fA,http,5,5,5"])
    dur = "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_50"
    _write(d / "function_durations_percentiles.anon.d01.csv", [dur, "o1,a1,fA,100,1,10,200,10,100"])
    _write(d / "function_durations_percentiles.anon.d02.csv", [dur, "o1,a1,fA,200,3,5,300,20,200"])
    mem = "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct50"
    _write(d / "app_memory_percentiles.anon.d01.csv", [mem, "o1,a1,10,128,120", "o9,a9,1,1,1"])
    return d


def test_multi_day_directory(tmp_path: Path) -> None:
    trace = load_azure2019(_two_days(tmp_path))
    assert trace.function_ids == ("fA", "fB", "fC")  # first-appearance order
    assert trace.counts.tolist() == [[1, 2, 3, 5, 5, 5], [4, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 7]]
    assert trace.triggers == ("http", "timer", "queue")
    assert trace.app_ids == ("a1", "a1", "a2")
    d = trace.durations
    assert d is not None
    assert d.average_ms[0] == pytest.approx((100 * 1 + 200 * 3) / 4)  # count-weighted
    assert (d.minimum_ms[0], d.maximum_ms[0], d.count[0]) == (5.0, 300.0, 4.0)
    assert d.percentile(50.0)[0] == pytest.approx(175.0)
    assert np.isnan(d.average_ms[1:]).all()
    m = trace.memory
    assert m is not None
    assert m.average_mb.tolist()[:2] == [128.0, 128.0]  # per app: both functions of a1
    assert np.isnan(m.average_mb[2])


def test_multi_day_single_file_and_missing_day(tmp_path: Path) -> None:
    d = _two_days(tmp_path)
    one = load_trace(d / "invocations_per_function_md.anon.d02.csv")
    assert one.function_ids == ("fC", "fA") and one.n_minutes == 3
    assert one.durations is not None and one.durations.average_ms.tolist()[1] == 200.0
    assert one.memory is None
    (d / "invocations_per_function_md.anon.d04.csv").write_text(HEAD + "\no1,a1,fA,http,1,1,1\n")
    with pytest.raises(InputError, match=r"missing day\(s\) \[3\]"):
        load_trace(d)


def test_simple_names_in_directory(tmp_path: Path) -> None:
    _write(tmp_path / "invocations.csv", ["HashFunction,HashApp,HashOwner,minute_1,minute_2", "f,a,o,3,4"])
    trace = load_trace(tmp_path)
    assert trace.counts.tolist() == [[3, 4]] and trace.durations is None and trace.memory is None


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_trace(tmp_path / "nope")
    with pytest.raises(InputError, match="no invocations.csv"):
        load_trace(tmp_path)
