"""Simulated routers over real SSH/NETCONF on loopback, and the gateway configuration."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import ncclient.transport.session
import pytest
from ncclient import manager

from nornir_esi.netsim.sample import VRF, gateway_set, gateway_text
from nornir_esi.netsim.server import RouterSpec, Simulator

__all__ = ["VRF", "connect", "gateway_set", "gateway_text"]

FIXTURES = Path(__file__).parent.parent / "fixtures"

# ncclient sends a queued RPC only when its select() wakes; at the default 0.1 s tick every
# RPC waits up to 100 ms. 5 ms keeps the suite fast without a busy loop.
ncclient.transport.session.TICK = 0.005


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


def connect(sim: Simulator, name: str, *, junos: bool = False, **kwargs: object) -> manager.Manager:
    host, port = sim.address(name)
    params: dict[str, object] = {"name": "junos"} if junos else {"name": "default"}
    # paramiko leaves Nagle on: each small handshake packet then waits ~40 ms for an ACK.
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return manager.connect(
        host=host,
        port=port,
        sock=sock,
        username="esi",
        password="esiesi0000",
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        device_params=params,
        timeout=30,
        **kwargs,
    )
