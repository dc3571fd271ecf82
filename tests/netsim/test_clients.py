"""Third-party NETCONF clients (PyEZ, nornir-netconf, ncclient) against the simulated pair."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from jnpr.junos import Device
from jnpr.junos.exception import CommitError, ConfigLoadError, LockError
from jnpr.junos.utils.config import Config
from lxml import etree

from nornir_esi.netsim.server import Simulator

from .conftest import VRF, gateway_set, gateway_text

GROUPS = {"MX-1": "InetGW2-VRRP", "MX-2": "InetGW1-VRRP"}
COMMENT = "create:heat_worker:internet_gateway:429e:1:gt36x"


# -- helpers ------------------------------------------------------------------------------


def _filter_terms(config: etree._Element, name: str) -> list[str]:
    for f in config.iterfind(".//{*}firewall/{*}family/{*}inet/{*}filter"):
        if f.findtext("{*}name") == name:
            return [t.findtext("{*}name") or "" for t in f.iterfind("{*}term")]
    raise AssertionError(f"filter {name} missing")


def _units(config: etree._Element) -> list[str]:
    return [
        u.findtext("{*}name") or ""
        for i in config.iterfind(".//{*}interfaces/{*}interface")
        if i.findtext("{*}name") == "ae0"
        for u in i.iterfind("{*}unit")
    ]


def _instances(config: etree._Element) -> list[str]:
    return [i.findtext("{*}name") or "" for i in config.iterfind(".//{*}routing-instances/{*}instance")]


def _assert_gateway(config: etree._Element, group: str) -> None:
    assert "1025" in _units(config)
    assert VRF in _instances(config)
    assert _filter_terms(config, "INET_IN") == [f"{VRF}_filter", "all-accept"]
    applied = [
        u.findtext("{*}apply-groups")
        for u in config.iterfind(".//{*}interfaces/{*}interface/{*}unit")
        if u.findtext("{*}name") == "1025"
    ]
    assert applied == [group]


def _assert_day0(config: etree._Element) -> None:
    assert "1025" not in _units(config)
    assert VRF not in _instances(config)
    assert _filter_terms(config, "INET_IN") == ["all-accept"]


# -- PyEZ ---------------------------------------------------------------------------------


@contextmanager
def _pyez(sim: Simulator, name: str) -> Iterator[Device]:
    host, port = sim.address(name)
    dev = Device(host=host, port=port, user="esi", passwd="x", gather_facts=False)
    dev.open()
    try:
        yield dev
    finally:
        dev.close()


def _pyez_running(dev: Device) -> etree._Element:
    return dev.rpc.get_config(options={"database": "committed"})


@pytest.mark.parametrize("name", ["MX-1", "MX-2"])
@pytest.mark.parametrize("fmt", ["text", "set"])
def test_pyez_full_cycle(routers: Simulator, name: str, fmt: str) -> None:
    group = GROUPS[name]
    config = gateway_text(group) if fmt == "text" else gateway_set(group)
    with _pyez(routers, name) as dev:
        assert dev.rpc.get_software_information().findtext(".//host-name") == name
        cu = Config(dev)
        cu.lock()
        assert cu.diff() is None
        cu.load(config, format=fmt)
        diff = cu.diff()
        assert isinstance(diff, str)
        assert "[edit interfaces ae0]" in diff
        assert VRF in diff and "[edit routing-instances]" in diff
        assert cu.commit_check() is True
        assert cu.commit(comment=COMMENT, confirm=1) is True
        assert routers.router(name).confirm_pending
        assert cu.commit() is True
        assert not routers.router(name).confirm_pending
        assert cu.diff() is None
        _assert_gateway(_pyez_running(dev), group)
        history = dev.rpc.get_commit_information()
        assert history.findtext("commit-history[2]/log") == COMMENT
        interfaces = dev.rpc.get_interface_information(interface_name="ae0")
        logical = [e.text for e in interfaces.iterfind(".//logical-interface/name")]
        assert logical == ["ae0.1025"]
        counter = dev.rpc.get_firewall_counter_information(
            filter="INET_IN", countername=f"{VRF}_IN"
        )
        assert counter.findtext(".//counter/counter-name") == f"{VRF}_IN"
        assert int(counter.findtext(".//counter/packet-count") or "-1") >= 0
        # Back to day-0: rollback 1 is the configuration before the confirming commit,
        # which is the gateway itself; rollback 2 is day-0.
        assert cu.rollback(2) is True
        rollback_diff = cu.diff()
        assert rollback_diff is not None and "-       unit 1025 {" in rollback_diff.replace(
            "-   ", "-       ", 1
        ) or "unit 1025" in (rollback_diff or "")
        assert cu.commit() is True
        _assert_day0(_pyez_running(dev))
        cu.unlock()
