from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray (2 CPUs) for every runtime test; stopped at the end if the tests started it."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    import ray
    from ray_support import start_local_ray

    started = start_local_ray()
    yield
    if started:
        ray.shutdown()
