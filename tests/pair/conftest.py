"""The seed's pair on its own simulator, whose Junos minute is a real one.

The shared simulator of tests/netsim shortens a minute to half a second, which would let
a one-minute ``commit confirmed`` revert by itself in the middle of a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nornir_esi.netsim.server import RouterSpec, Simulator
from tests.tasks.conftest import write_overrides


@pytest.fixture(scope="session")
def pair_sim() -> Iterator[Simulator]:
    specs = [
        RouterSpec("MX-1", "127.0.0.1", 0, role="secondary"),
        RouterSpec("MX-2", "127.0.0.1", 0, role="primary"),
    ]
    with Simulator(specs, minute=60.0) as simulator:
        yield simulator


@pytest.fixture
def routers(pair_sim: Simulator) -> Iterator[Simulator]:
    """The pair at day-0, start faults, no sessions; reset again afterwards."""
    pair_sim.reset()
    yield pair_sim
    pair_sim.reset()


@pytest.fixture
def overrides(routers: Simulator, tmp_path: Path) -> str:
    return str(write_overrides(routers, tmp_path / "overrides.yaml"))
