"""EmpiricalPerf and the measurement loaders, on the bundled SeBS data and on small generic CSVs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import aquatope
from aquatope.errors import InputError
from aquatope.perf import EmpiricalPerf, Measurements, PerfModel, load_measurements
from aquatope.resources import ResourceConfig

SEBS_DIR = Path(aquatope.__file__).parent / "workloads" / "measurements"


def _lambda(memory_mb: int) -> ResourceConfig:
    return ResourceConfig(memory_mb / 1769.0, memory_mb)


def _raw_ms(name: str, memory_mb: int, kind: str) -> np.ndarray:
    """exec_time (us -> ms) straight from the CSV, independent of the loader."""
    with (SEBS_DIR / name).open() as handle:
        rows = list(csv.DictReader(handle))
    return np.array([float(r["exec_time"]) / 1000 for r in rows if int(r["memory"]) == memory_mb and r["type"] == kind])


@pytest.fixture(scope="module")
def uploader() -> EmpiricalPerf:
    return EmpiricalPerf.from_file(SEBS_DIR / "sebs-120.csv")


def test_sebs_loader_reads_microseconds_as_ms() -> None:
    data = load_measurements(SEBS_DIR / "sebs-120.csv")
    assert data.format == "sebs" and not data.cpu_measured
    assert data.is_cold.sum() == 1496 and (~data.is_cold).sum() == 1593
    first = data.latency_ms[0]
    assert first == pytest.approx(438.695)  # first row: 512,warm,False,438695,...
    assert data.cpu[0] == pytest.approx(512 / 1769)
    assert data.max_mem_used_mb() == pytest.approx(97.0)


@pytest.mark.parametrize("memory_mb", [128, 512, 3008])
def test_median_at_a_measured_size_is_the_measured_median(uploader: EmpiricalPerf, memory_mb: int) -> None:
    measured = float(np.median(_raw_ms("sebs-120.csv", memory_mb, "warm")))
    config = _lambda(memory_mb)
    assert uploader.latency_quantile_ms(config, 0.5) == pytest.approx(measured, rel=0.01)
    samples = uploader.sample_latency_ms(config, 20_000, np.random.default_rng(0))
    assert np.median(samples) == pytest.approx(measured, rel=0.03)
    assert isinstance(uploader, PerfModel)


def test_interpolates_in_log_latency_between_sizes(uploader: EmpiricalPerf) -> None:
    lo, mid, hi = _lambda(512), _lambda(768), _lambda(1024)
    w = math.log(768 / 512) / math.log(1024 / 512)
    for q in (0.1, 0.5, 0.9):
        a, b = uploader.latency_quantile_ms(lo, q), uploader.latency_quantile_ms(hi, q)
        between = uploader.latency_quantile_ms(mid, q)
        assert min(a, b) <= between <= max(a, b)
        assert between == pytest.approx(math.exp((1 - w) * math.log(a) + w * math.log(b)))
    samples = uploader.sample_latency_ms(mid, 20_000, np.random.default_rng(1))
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(samples, q) == pytest.approx(uploader.latency_quantile_ms(mid, q), rel=0.03)


def test_clamps_outside_the_measured_range_and_fails_below_observed_memory_use() -> None:
    model = EmpiricalPerf.from_file(SEBS_DIR / "sebs-311.csv")  # measured 256..3008 MB, mem_used up to 201 MB
    assert model.oom_below_mb == 201
    assert model.latency_quantile_ms(_lambda(4096), 0.5) == model.latency_quantile_ms(_lambda(3008), 0.5)
    assert model.latency_quantile_ms(_lambda(224), 0.5) == model.latency_quantile_ms(_lambda(256), 0.5)
    assert model.fails(_lambda(192)) and not model.fails(_lambda(224))
    assert np.all(np.isnan(model.sample_latency_ms(_lambda(192), 3, np.random.default_rng(0))))
    assert model.latency_quantile_ms(_lambda(192), 0.5) == math.inf
    assert not EmpiricalPerf.from_file(SEBS_DIR / "sebs-311.csv", min_memory_mb=0).fails(_lambda(64))


def test_cold_start_is_cold_minus_warm_median(uploader: EmpiricalPerf) -> None:
    warm, cold = _raw_ms("sebs-120.csv", 512, "warm"), _raw_ms("sebs-120.csv", 512, "cold")
    expected = float(np.median(cold) - np.median(warm))
    samples = uploader.sample_cold_start_ms(_lambda(512), 20_000, np.random.default_rng(2))
    assert samples.shape == (20_000,) and np.all(samples >= 0)
    assert np.median(samples) == pytest.approx(expected, rel=0.05)
    small = np.median(uploader.sample_cold_start_ms(_lambda(128), 5_000, np.random.default_rng(3)))
    large = np.median(uploader.sample_cold_start_ms(_lambda(1024), 5_000, np.random.default_rng(3)))
    assert small > 3 * large  # init is CPU-bound and Lambda's CPU share grows with memory


def test_scale_multiplies_latencies_and_cold_starts(uploader: EmpiricalPerf) -> None:
    doubled = EmpiricalPerf(uploader.measurements, scale=2.0)
    config = _lambda(700)
    assert doubled.latency_quantile_ms(config, 0.7) == pytest.approx(2 * uploader.latency_quantile_ms(config, 0.7))
    a = doubled.sample_cold_start_ms(config, 10, np.random.default_rng(4))
    b = uploader.sample_cold_start_ms(config, 10, np.random.default_rng(4))
    np.testing.assert_allclose(a, 2 * b)
    with pytest.raises(InputError, match="scale"):
        EmpiricalPerf(uploader.measurements, scale=0.0)


def _write(tmp_path: Path, text: str, name: str = "m.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_generic_csv_with_cpu_picks_nearest_cpu_then_interpolates_memory(tmp_path: Path) -> None:
    rows = ["memory_mb,cpu,is_cold,latency_ms"]
    for cpu, base in ((1.0, 400.0), (2.0, 200.0)):
        for mem, slow in ((512, 2.0), (2048, 1.0)):
            rows += [f"{mem},{cpu},false,{base * slow * f}" for f in (0.9, 1.0, 1.1)]
            rows.append(f"{mem},{cpu},true,{base * slow + 1000}")
    model = EmpiricalPerf.from_file(_write(tmp_path, "\n".join(rows) + "\n"))
    assert model.measurements.cpu_measured and model.measurements.format == "generic"
    assert model.latency_quantile_ms(ResourceConfig(1.0, 512), 0.5) == pytest.approx(800)
    assert model.latency_quantile_ms(ResourceConfig(1.9, 2048), 0.5) == pytest.approx(200)  # nearest cpu 2
    assert model.latency_quantile_ms(ResourceConfig(1.2, 1024), 0.5) == pytest.approx(400 * 2**0.5)
    assert model.latency_quantile_ms(ResourceConfig(8.0, 8192), 0.5) == pytest.approx(200)  # clamped
    cold = model.sample_cold_start_ms(ResourceConfig(2.0, 512), 5, np.random.default_rng(0))
    np.testing.assert_allclose(cold, 1000)
    assert not model.fails(ResourceConfig(0.1, 64))  # no memory use recorded: never fails


def test_generic_csv_without_cpu_is_memory_only(tmp_path: Path) -> None:
    text = "memory_mb,is_cold,latency_ms,mem_used_mb\n256,false,100,60\n256,no,120,\n1024,0,50,70.5\n"
    model = EmpiricalPerf.from_file(_write(tmp_path, text))
    assert not model.measurements.cpu_measured
    assert model.latency_quantile_ms(ResourceConfig(0.1, 1024), 0.5) == 50
    assert model.latency_quantile_ms(ResourceConfig(4.0, 1024), 0.5) == 50  # cpu ignored: memory-only data
    assert model.latency_quantile_ms(ResourceConfig(1.0, 512), 0.5) == pytest.approx(math.sqrt(110 * 50))
    assert model.oom_below_mb == 71 and model.fails(ResourceConfig(1.0, 64))
    np.testing.assert_array_equal(model.sample_cold_start_ms(ResourceConfig(1.0, 512), 3, np.random.default_rng(0)), 0)


def test_measurements_from_arrays_validate() -> None:
    data = Measurements.from_arrays([128, 256], [False, False], [10.0, 5.0])
    assert data.cpu[1] == pytest.approx(256 / 1769)
    with pytest.raises(InputError, match="latency_ms"):
        Measurements.from_arrays([128], [False], [-1.0])
    with pytest.raises(InputError, match="no warm"):
        Measurements.from_arrays([128], [True], [1.0])


SEBS_HEADER = "memory,type,is_cold,exec_time,connection_time,client_time,provider_time,mem_used\n"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("memory_mb,is_cold,latency_ms\n128,false,10\n128,false,abc\n", 3, "latency_ms", "number"),
        ("memory_mb,is_cold,latency_ms\n128,false,-4\n", 2, "latency_ms", "positive"),
        ("memory_mb,is_cold,latency_ms\n128,maybe,4\n", 2, "is_cold", "true or false"),
        ("memory_mb,cpu,is_cold,latency_ms\n128,0,false,4\n", 2, "cpu", "positive"),
        ("memory_mb,is_cold,latency_ms\n128,false\n", 2, None, "expected 3 fields"),
        ("memory_mb,is_cold,latency_ms\n\n128,false,4\n256,false,5,6\n", 4, None, "expected 3 fields"),
        ("mem,cold,ms\n128,false,4\n", 1, None, "cannot tell the format"),
        ("", 1, None, "empty"),
        ("memory_mb,is_cold,latency_ms\n", 1, None, "no data rows"),
        ("memory_mb,is_cold,latency_ms\n128,true,4\n", None, "is_cold", "no warm"),
        (SEBS_HEADER + "512,hot,False,438695,0.4,1009898,440460,92.0\n", 2, "type", "warm or cold"),
        (SEBS_HEADER + "512,warm,True,438695,0.4,1009898,440460,92.0\n", 2, "is_cold", "contradicts"),
        (SEBS_HEADER + "512,warm,False,4386x,0.4,1009898,440460,92.0\n", 2, "exec_time", "number"),
        (SEBS_HEADER + "512,warm,False,438695,0.4,1009898,440460,-3\n", 2, "mem_used", "non-negative"),
    ],
)
def test_bad_csv_names_file_line_and_column(
    tmp_path: Path, text: str, line: int | None, field: str | None, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_measurements(path)
    err = info.value
    assert (err.source, err.line, err.field) == (str(path), line, field)
    assert message in str(err) and str(path) in str(err)


def test_explicit_format_requires_its_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "memory_mb,is_cold,latency_ms\n128,false,4\n")
    with pytest.raises(InputError) as info:
        load_measurements(path, format="sebs")
    assert info.value.line == 1 and info.value.field == "memory"
    with pytest.raises(InputError, match="measurement CSV not found"):
        load_measurements(tmp_path / "missing.csv")


def test_memory_used_is_the_median_recorded_at_the_nearest_size(tmp_path: Path) -> None:
    text = "memory_mb,is_cold,latency_ms,mem_used_mb\n256,false,100,60\n256,false,100,80\n256,no,120,\n1024,0,50,300\n"
    model = EmpiricalPerf.from_file(_write(tmp_path, text))
    assert model.memory_used_mb(ResourceConfig(1.0, 256)) == 70.0
    assert model.memory_used_mb(ResourceConfig(1.0, 2048)) == 300.0  # nearest measured size in log: 1024
    assert model.memory_used_mb(ResourceConfig(1.0, 200)) == 70.0
    assert model.memory_used_mb(ResourceConfig(1.0, 600)) == 300.0  # log-nearer to 1024 than to 256
