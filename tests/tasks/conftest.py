"""The simulated pair of tests/netsim, and a Nornir inventory over it built from the seed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nornir.core import Nornir

from nornir_esi.device.inventory import nornir_for
from nornir_esi.netsim.server import Simulator
from tests.netsim.conftest import routers, sim

__all__ = ["PRIMARY", "ROUTERS", "SECONDARY", "SIM_NAME", "routers", "sim"]

# The seed's two edge routers (edge_router bodies as stored under /config).
PRIMARY: dict[str, Any] = {
    "id": "9b82b55a-551e-4069-ae77-c972e30ab0cc",
    "name": "vMX-router-02",
    "ip": "10.79.5.185",
    "ssh_port": 830,
    "login": "esi",
    "password": "esiesi0000",
}
SECONDARY: dict[str, Any] = {
    "id": "5e0b5d2a-0c3e-4f0e-9c1a-7a1e3b1f0d01",
    "name": "vMX-router-01",
    "ip": "10.79.5.184",
    "ssh_port": 830,
    "login": "esi",
    "password": "esiesi0000",
}
ROUTERS = [PRIMARY, SECONDARY]
# The simulator's routers behind them: MX-2 carries the primary VRRP group, MX-1 the secondary.
SIM_NAME = {"vMX-router-02": "MX-2", "vMX-router-01": "MX-1"}


def write_overrides(sim: Simulator, path: Path) -> Path:
    """Map the seed's 10.x addresses to the simulator's ports (by IP, as a worker would)."""
    lines = []
    for body in ROUTERS:
        host, port = sim.address(SIM_NAME[body["name"]])
        lines.append(f"{body['ip']}: {{hostname: {host}, port: {port}}}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def nr(routers: Simulator, tmp_path: Path) -> Iterator[Nornir]:
    """A Nornir over the seed's pair, reset to day-0."""
    nornir = nornir_for(ROUTERS, str(write_overrides(routers, tmp_path / "overrides.yaml")))
    try:
        yield nornir
    finally:
        nornir.close_connections()
