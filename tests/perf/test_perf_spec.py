"""perf_model_from_spec: the YAML form, round trips, and errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import aquatope
from aquatope.errors import InputError
from aquatope.perf import EmpiricalPerf, ParametricPerf, perf_model_from_spec
from aquatope.resources import ResourceConfig

WORKLOADS = Path(aquatope.__file__).parent / "workloads"
MINIMAL: dict[str, Any] = {
    "model": "parametric",
    "serial_ms": 120,
    "parallel_ms": 400,
    "max_parallelism": 4,
    "io_ms": 30,
    "working_set_mb": 512,
    "min_memory_mb": 256,
    "cv": 0.15,
    "cold_start_ms": 800,
}


def test_parametric_minimal_spec_uses_documented_defaults(tmp_path: Path) -> None:
    model = perf_model_from_spec(MINIMAL, base_dir=tmp_path)
    assert isinstance(model, ParametricPerf)
    assert (model.memory_slowdown, model.straggler_prob, model.straggler_factor) == (1.0, 0.0, 1.0)
    assert (model.cold_start_cpu_fraction, model.cold_start_cv) == (0.5, 0.2)


def test_parametric_round_trips_through_yaml(tmp_path: Path) -> None:
    model = ParametricPerf(
        serial_ms=12.5, parallel_ms=300, max_parallelism=2.5, io_ms=7, working_set_mb=700, min_memory_mb=90,
        cv=0.2, cold_start_ms=350, memory_slowdown=0.3, straggler_prob=0.02, straggler_factor=3,
        cold_start_cpu_fraction=0.8, cold_start_cv=0.1,
    )  # fmt: skip
    assert perf_model_from_spec(model.to_spec(), base_dir=tmp_path) == model
    assert perf_model_from_spec(yaml.safe_load(yaml.safe_dump(model.to_spec())), base_dir=tmp_path) == model


def test_empirical_spec_resolves_file_against_base_dir_and_round_trips() -> None:
    spec = {"model": "empirical", "file": "measurements/sebs-210_python.csv", "scale": 1.5}
    model = perf_model_from_spec(spec, base_dir=WORKLOADS)
    assert isinstance(model, EmpiricalPerf) and model.measurements.format == "sebs"
    again = perf_model_from_spec(yaml.safe_load(yaml.safe_dump(model.to_spec())), base_dir=WORKLOADS)
    assert again.to_spec() == model.to_spec() == {**spec, "format": "sebs"}
    unscaled = EmpiricalPerf.from_file(WORKLOADS / "measurements" / "sebs-210_python.csv")
    config = ResourceConfig(0.5, 900)
    assert again.latency_quantile_ms(config, 0.5) == pytest.approx(1.5 * unscaled.latency_quantile_ms(config, 0.5))
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(
        model.sample_latency_ms(config, 50, rng_a), again.sample_latency_ms(config, 50, rng_b)
    )


def test_empirical_spec_with_explicit_format_and_min_memory(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("memory_mb,is_cold,latency_ms\n256,false,10\n")
    spec = {"model": "empirical", "file": "m.csv", "format": "generic", "min_memory_mb": 200}
    model = perf_model_from_spec(spec, base_dir=tmp_path)
    assert model.fails(ResourceConfig(0.1, 128)) and not model.fails(ResourceConfig(0.1, 256))
    assert perf_model_from_spec(model.to_spec(), base_dir=tmp_path).to_spec() == {**spec, "scale": 1.0}


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ([1, 2], "fn.perf", "mapping"),
        ({"serial_ms": 1}, "fn.perf.model", "missing"),
        ({"model": "neural"}, "fn.perf.model", "unknown model"),
        ({**MINIMAL, "serial": 3}, "fn.perf.serial", "unknown field"),
        ({k: v for k, v in MINIMAL.items() if k != "io_ms"}, "fn.perf.io_ms", "missing"),
        ({**MINIMAL, "cv": -0.1}, "fn.perf.cv", ">= 0"),
        ({**MINIMAL, "cv": "low"}, "fn.perf.cv", "number"),
        ({**MINIMAL, "max_parallelism": True}, "fn.perf.max_parallelism", "number"),
        ({**MINIMAL, "straggler_prob": 1.0}, "fn.perf.straggler_prob", "[0, 1)"),
        ({**MINIMAL, "straggler_factor": 0.5}, "fn.perf.straggler_factor", ">= 1"),
        ({**MINIMAL, "min_memory_mb": 600}, "fn.perf.min_memory_mb", "working_set_mb"),
        ({"model": "empirical"}, "fn.perf.file", "missing"),
        ({"model": "empirical", "file": 3}, "fn.perf.file", "file path"),
        ({"model": "empirical", "file": "nope.csv"}, "fn.perf.file", "not found"),
        ({"model": "empirical", "file": "measurements/sebs-120.csv", "format": "xls"}, "fn.perf.format", "xls"),
        ({"model": "empirical", "file": "measurements/sebs-120.csv", "scale": 0}, "fn.perf.scale", "> 0"),
        ({"model": "empirical", "file": "measurements/sebs-120.csv", "min_memory_mb": -1}, "fn.perf.min_memory_mb", ">= 0"),
        ({"model": "empirical", "file": "measurements/sebs-120.csv", "cv": 1}, "fn.perf.cv", "unknown field"),
    ],
)  # fmt: skip
def test_bad_specs_name_source_and_field(spec: Any, field: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        perf_model_from_spec(spec, base_dir=WORKLOADS, source="workflow.yaml", field="fn.perf")
    err = info.value
    assert (err.source, err.field) == ("workflow.yaml", field)
    assert message in str(err) and f"field '{field}'" in str(err) and "workflow.yaml" in str(err)


def test_bad_csv_behind_a_spec_names_the_csv_line(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("memory_mb,is_cold,latency_ms\n128,false,1\n256,false,oops\n")
    with pytest.raises(InputError) as info:
        perf_model_from_spec({"model": "empirical", "file": "bad.csv"}, base_dir=tmp_path, source="w.yaml")
    assert info.value.line == 3 and info.value.field == "latency_ms"
    assert str(tmp_path / "bad.csv") in str(info.value)
