from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.resources import ResourceSpace
from aquatope.workflow import builtin_workflow_names, builtin_workflow_path, load_workflow

REQUIRED = {"ml-pipeline", "video-processing", "social-network", "chatbot", "map-reduce", "trip-booking"}


def test_catalog_has_the_six_workloads() -> None:
    assert set(builtin_workflow_names()) >= REQUIRED


@pytest.mark.parametrize("name", builtin_workflow_names())
def test_builtin_workflow_is_plausible(name: str) -> None:
    wf = load_workflow(name)
    assert wf.name == name
    assert builtin_workflow_path(name).name == f"{name}.yaml"
    # analytics QoS targets are seconds, interactive ones hundreds of milliseconds
    if wf.kind == "analytics":
        assert 1000 <= wf.qos.latency_ms <= 60_000
    else:
        assert 100 <= wf.qos.latency_ms < 1000
    # out of the box (default configuration) every built-in workflow works and meets its target
    e2e = wf.sample_end_to_end_ms(None, 4000, np.random.default_rng(0))
    assert not np.isnan(e2e).any()
    assert np.percentile(e2e, wf.qos.percentile) <= wf.qos.latency_ms
    # and the target is not trivial: the smallest configuration misses it
    smallest = {f: ResourceSpace.decoupled().configs()[0] for f in wf.function_names}
    small = wf.sample_end_to_end_ms(smallest, 2000, np.random.default_rng(1))
    assert np.isnan(small).any() or np.percentile(small, wf.qos.percentile) > wf.qos.latency_ms


def test_shapes_of_the_named_workloads() -> None:
    video = load_workflow("video-processing")
    assert video.stage("transcode").map_group == video.stage("watermark").map_group
    assert video.stage("transcode").fanout > 1
    ml = load_workflow("ml-pipeline")
    assert set(ml.successors("object-detection")) == {"human-detection", "vehicle-detection"}
    social = load_workflow("social-network")
    assert set(social.stage("store-post").after) == {"text-filter", "image-filter"}
    trip = load_workflow("trip-booking")
    assert [s.name for s in trip.stages] == ["reserve-hotel", "reserve-car", "reserve-flight", "confirm"]


def test_unknown_name_lists_the_catalogue() -> None:
    with pytest.raises(InputError, match="unknown workflow 'nope'.*ml-pipeline"):
        load_workflow("nope")
