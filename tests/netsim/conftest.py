"""Simulated routers over real SSH/NETCONF on loopback, and the gateway configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.device import netconf
from nornir_esi.netsim.sample import VRF, gateway_set, gateway_text
from nornir_esi.netsim.server import RouterSpec, Simulator

__all__ = ["VRF", "connect", "gateway_set", "gateway_text"]

# Also for the tests that call ncclient's manager.connect themselves.
netconf.tune_ncclient()

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """Two routers of an HA pair: MX-1 (secondary, InetGW2-VRRP) and MX-2 (primary)."""
    specs = [
        RouterSpec("MX-1", "127.0.0.1", 0, role="secondary"),
        RouterSpec("MX-2", "127.0.0.1", 0, role="primary"),
    ]
    with Simulator(specs, minute=0.5) as simulator:
        yield simulator


@pytest.fixture
def routers(sim: Simulator) -> Iterator[Simulator]:
    """The pair, reset to day-0 before and after the test."""
    sim.reset()
    yield sim
    sim.reset()


def connect(sim: Simulator, name: str, *, junos: bool = False, **kwargs: object) -> Any:
    """A NETCONF session to one of the pair, with the project's client settings."""
    host, port = sim.address(name)
    return netconf.connect(
        host, port, username="esi", password="esiesi0000", junos=junos, timeout=30, **kwargs
    )
