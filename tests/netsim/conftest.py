"""Simulated routers over real SSH/NETCONF on loopback, and the gateway configuration."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import ncclient.transport.session
import pytest
from ncclient import manager

from nornir_esi.netsim.server import RouterSpec, Simulator

FIXTURES = Path(__file__).parent.parent / "fixtures"

# ncclient sends a queued RPC only when its select() wakes; at the default 0.1 s tick every
# RPC waits up to 100 ms. 5 ms keeps the suite fast without a busy loop.
ncclient.transport.session.TICK = 0.005

VRF = "vrf_gw_sample-ha-router-downlink_1025"


def gateway_text(vrrp_group: str) -> str:
    """The seed gateway's stanzas (CONTRACT section 6) as curly text for `load merge`."""
    return f"""
interfaces {{
    ae0 {{
        unit 1025 {{
            apply-groups {vrrp_group};
            description inet_gw;
            vlan-id 1025;
            family inet {{
                filter {{
                    input FILTER_10M-GA-UP-INET;
                    output FILTER_10M-GA-DOWN-INET;
                }}
            }}
        }}
    }}
}}
policy-options {{
    prefix-list {VRF}_prefix;
    policy-statement INSTANCE-MASTER_IN {{
        term {VRF} {{
            from instance {VRF};
            then accept;
        }}
    }}
}}
routing-instances {{
    {VRF} {{
        instance-type virtual-router;
        interface ae0.1025;
        routing-options {{
            instance-import INSTANCE-USER_IN;
            instance-export INSTANCE-USER_OUT;
        }}
    }}
}}
"""


def gateway_set(vrrp_group: str) -> str:
    """The same gateway as set commands, with the firewall terms inserted before all-accept."""
    lines = [
        f"set interfaces ae0 unit 1025 apply-groups {vrrp_group}",
        "set interfaces ae0 unit 1025 description inet_gw",
        "set interfaces ae0 unit 1025 vlan-id 1025",
        "set interfaces ae0 unit 1025 family inet filter input FILTER_10M-GA-UP-INET",
        "set interfaces ae0 unit 1025 family inet filter output FILTER_10M-GA-DOWN-INET",
        f"set policy-options prefix-list {VRF}_prefix",
        f"set policy-options policy-statement INSTANCE-MASTER_IN term {VRF} from instance {VRF}",
        f"set policy-options policy-statement INSTANCE-MASTER_IN term {VRF} then accept",
    ]
    for name, direction, suffix in (("INET_IN", "destination", "IN"), ("INET_OUT", "source", "OUT")):
        term = f"firewall family inet filter {name} term {VRF}_filter"
        lines += [
            f"set {term} from {direction}-prefix-list {VRF}_prefix",
            f"set {term} then count {VRF}_{suffix}",
            f"set {term} then accept",
            f"insert {term} before term all-accept",
        ]
    lines += [
        f"set routing-instances {VRF} instance-type virtual-router",
        f"set routing-instances {VRF} interface ae0.1025",
        f"set routing-instances {VRF} routing-options instance-import INSTANCE-USER_IN",
        f"set routing-instances {VRF} routing-options instance-export INSTANCE-USER_OUT",
    ]
    return "\n".join(lines) + "\n"


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
