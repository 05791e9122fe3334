from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aquatope.errors import InputError
from aquatope.resources import ResourceConfig
from aquatope.workflow import load_workflow_file

PERF = "{model: parametric, serial_ms: 10, parallel_ms: 0, max_parallelism: 1, io_ms: 5, working_set_mb: 128, min_memory_mb: 64, cv: 0.1, cold_start_ms: 200}"

GOOD = f"""\
name: tiny
kind: interactive
qos: {{latency_ms: 200, percentile: 99}}
functions:
  a:
    resources: {{cpu: 1, memory_mb: 256}}
    perf: {PERF}
  b:
    resources: {{cpu: 0.5, memory_mb: 512}}
    perf: {PERF}
maps:
  chunks: {{fanout: 3}}
stages:
  first: {{function: a}}
  middle: {{function: b, after: [first], map: chunks}}
  last: {{function: a, after: middle}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wf.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_a_valid_workflow(tmp_path: Path) -> None:
    wf = load_workflow_file(write(tmp_path, GOOD))
    assert wf.name == "tiny" and wf.kind == "interactive"
    assert wf.qos.latency_ms == 200 and wf.qos.percentile == 99
    assert [s.name for s in wf.stages] == ["first", "middle", "last"]
    assert wf.stage("middle").fanout == 3 and wf.stage("middle").map_group == "chunks"
    assert wf.stage("last").after == ("middle",)
    assert wf.functions["b"].resources == ResourceConfig(0.5, 512)
    assert wf.invocations_per_request() == {"a": 2, "b": 3}


BAD_CASES = [
    # (replace this, with that, expected line, expected field fragment)
    ("after: [first], map", "after: [ghost], map", 15, "stages.middle.after"),
    ("  first: {function: a}", "  first: {function: a, after: [last]}", 14, "cycle"),
    (
        "    perf: {model: parametric, serial_ms: 10, parallel_ms: 0, max_parallelism: 1, io_ms: 5, working_set_mb: 128, "
        "min_memory_mb: 64, cv: 0.1, cold_start_ms: 200}\n  b:",
        "  b:",
        5,
        "functions.a.perf",
    ),
    ("{cpu: 0.5, memory_mb: 512}", "{cpu: -0.5, memory_mb: 512}", 9, "functions.b.resources.cpu"),
    ("{cpu: 1, memory_mb: 256}", "{cpu: 1, memory_mb: 0}", 6, "functions.a.resources.memory_mb"),
    ("chunks: {fanout: 3}", "chunks: {fanout: 0}", 12, "maps.chunks.fanout"),
    ("{latency_ms: 200, percentile: 99}", "{latency_ms: 0, percentile: 99}", 3, "qos.latency_ms"),
    ("{latency_ms: 200, percentile: 99}", "{latency_ms: -5}", 3, "qos.latency_ms"),
    ("map: chunks}", "map: nochunks}", 15, "stages.middle.map"),
    ("kind: interactive", "kind: batch", 2, "kind"),
    ("kind: interactive", "kind: interactive\ncolour: blue", 3, "colour"),
    ("  first: {function: a}", "  first: {function: zz}", 14, "stages.first.function"),
]


@pytest.mark.parametrize(("old", "new", "line", "field"), BAD_CASES)
def test_refuses_bad_input_naming_file_line_field(tmp_path: Path, old: str, new: str, line: int, field: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        load_workflow_file(path)
    message = str(err.value)
    assert str(path) in message
    assert f":{line}" in message, message
    assert field in message, message


def test_fanout_on_a_stage_forms_its_own_group(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("map: chunks}", "fanout: 4}"))
    wf = load_workflow_file(path)
    assert wf.stage("middle").fanout == 4 and wf.stage("middle").map_group == "stage:middle"
    with pytest.raises(InputError, match="stages.middle.fanout"):
        load_workflow_file(write(tmp_path, GOOD.replace("map: chunks}", "fanout: -1}")))


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"wf\.yaml:\d+: malformed YAML"):
        load_workflow_file(write(tmp_path, "name: [unclosed\nqos: 1\n"))
    with pytest.raises(InputError, match="not found"):
        load_workflow_file(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="must be a YAML mapping"):
        load_workflow_file(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(InputError, match="duplicate key 'a'"):
        load_workflow_file(write(tmp_path, GOOD.replace("  b:\n", "  a:\n", 1)))


def test_empirical_perf_path_is_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "f.csv").write_text(
        "memory_mb,is_cold,latency_ms\n128,False,100\n128,False,110\n256,False,60\n256,False,62\n128,True,400\n256,True,300\n"
    )
    text = GOOD.replace(PERF, "{model: empirical, file: m/f.csv}", 1)
    wf = load_workflow_file(write(tmp_path, text))
    assert 50 < wf.functions["a"].perf.latency_quantile_ms(ResourceConfig(0.1, 256), 0.5) < 70
    with pytest.raises(InputError, match="functions.a.perf"):
        load_workflow_file(write(tmp_path, GOOD.replace(PERF, "{model: empirical, file: m/missing.csv}", 1)))


def test_workflow_from_a_plain_dict_built_in_code(tmp_path: Path) -> None:
    from aquatope.workflow import workflow_from_dict

    data = {
        "name": "coded",
        "qos": {"latency_ms": 100},
        "functions": {"f": {"resources": {"cpu": 1, "memory_mb": 128}, "perf": yaml_perf()}},
        "stages": {"f": {}},
    }
    wf = workflow_from_dict(data, base_dir=tmp_path)
    assert wf.name == "coded" and wf.qos.percentile == 95
    data["qos"] = {"latency_ms": -1}
    with pytest.raises(InputError, match="qos.latency_ms"):
        workflow_from_dict(data, base_dir=tmp_path)


def yaml_perf() -> dict[str, object]:
    import yaml

    return dict(yaml.safe_load(PERF))


BOMB = """\
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
name: *e
"""


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (BOMB, "expands to more than 100,000 nodes", 5),  # 10^5 leaves from 6 lines: a billion laughs, shrunk
        ("name: *nope\n", "malformed YAML: found undefined alias", 1),
        ("name: &x [*x]\n", "refers to the node that contains it", 1),
        ("a: &x\n  b: *x\n", "refers to the node that contains it", 1),
        ("name: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32 levels", 1),
        ("name: !!python/object/apply:os.system [echo hi]\n", "could not determine a constructor", 1),
        ("name: !shell x\n", "could not determine a constructor", 1),
        ("name: x\n---\nname: y\n", "expected a single document", 2),
    ],
)
def test_hostile_yaml_is_refused_with_a_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_workflow_file(write(tmp_path, text))
    assert info.value.line == line and "\n" not in str(info.value)


def test_size_binary_and_fanout_bounds(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 200_000)
    with pytest.raises(InputError, match="larger than 1 MiB"):
        load_workflow_file(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: x\n\x89PNG\xff\n")
    with pytest.raises(InputError, match="not UTF-8") as info:
        load_workflow_file(binary)
    assert info.value.line == 2
    with pytest.raises(InputError, match="fanout must be an integer in 1..10,000") as info:
        load_workflow_file(write(tmp_path, GOOD.replace("chunks: {fanout: 3}", "chunks: {fanout: 1000000000}")))
    assert info.value.field == "maps.chunks.fanout"
    many = GOOD.replace("map: chunks}", "fanout: 9000}").replace("after: middle}", "after: middle, fanout: 9000}")
    with pytest.raises(InputError, match="would invoke 18,001 functions"):
        load_workflow_file(write(tmp_path, many))


def test_a_long_value_is_cut_short_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must be one of") as info:
        load_workflow_file(write(tmp_path, GOOD.replace("kind: interactive", "kind: " + "z" * 5000)))
    assert len(str(info.value)) < 300
