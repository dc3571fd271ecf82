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
    firewall = "".join(line + "\n" for line in gateway_set(group).splitlines() if "firewall" in line)
    with _pyez(routers, name) as dev:
        assert dev.rpc.get_software_information().findtext(".//host-name") == name
        cu = Config(dev)
        cu.lock()
        assert cu.diff() is None
        if fmt == "text":
            # Curly text cannot place a term; the filter terms go in as set/insert commands.
            cu.load(gateway_text(group), format="text")
            cu.load(firewall, format="set")
        else:
            cu.load(gateway_set(group), format="set")
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
        rollback_diff = cu.diff() or ""
        assert "[edit interfaces ae0]" in rollback_diff
        assert any(line.startswith("-") and "unit 1025" in line for line in rollback_diff.splitlines())
        assert cu.commit() is True
        _assert_day0(_pyez_running(dev))
        cu.unlock()


@pytest.mark.parametrize("name", ["MX-1", "MX-2"])
def test_pyez_lock_held_by_another_session(routers: Simulator, name: str) -> None:
    with _pyez(routers, name) as holder, _pyez(routers, name) as other:
        Config(holder).lock()
        cu = Config(other)
        with pytest.raises(LockError) as err:
            cu.lock()
        assert "configuration database locked by" in (err.value.message or "")
        with pytest.raises(ConfigLoadError) as load_err:
            cu.load("system { domain-name example.net; }", format="text")
        assert "locked" in str(load_err.value)
        Config(holder).unlock()
        cu.lock()
        cu.unlock()


@pytest.mark.parametrize("name", ["MX-1", "MX-2"])
def test_pyez_commit_error_and_bad_syntax(routers: Simulator, name: str) -> None:
    with _pyez(routers, name) as dev:
        cu = Config(dev)
        cu.lock()
        with pytest.raises(ConfigLoadError) as load_err:
            cu.load("interfaces { ae0 { unit 1025 { vlan-id 1025; } ", format="text")
        assert "syntax error" in (load_err.value.message or "")
        assert cu.diff() is None
        bad = gateway_text(GROUPS[name]).replace("INSTANCE-USER_IN", "NO-SUCH-POLICY")
        cu.load(bad, format="text")
        with pytest.raises(CommitError) as check_err:
            cu.commit_check()
        assert "NO-SUCH-POLICY" in str(check_err.value)
        with pytest.raises(CommitError) as commit_err:
            cu.commit(comment="must fail")
        messages = [e.get("message") or "" for e in commit_err.value.errs or []]
        print(messages, commit_err.value)
        assert any("Policy NO-SUCH-POLICY referenced but not defined" in m for m in messages)
        assert cu.rollback(0) is True
        assert cu.diff() is None
        cu.unlock()
        _assert_day0(_pyez_running(dev))


@pytest.mark.parametrize("name", ["MX-1", "MX-2"])
def test_pyez_private_mode(routers: Simulator, name: str) -> None:
    group = GROUPS[name]
    with _pyez(routers, name) as dev, _pyez(routers, name) as other:
        with Config(dev, mode="private") as cu:
            cu.load(gateway_set(group), format="set")
            assert "[edit interfaces ae0]" in (cu.diff() or "")
            assert Config(other).diff() is None  # the shared candidate does not see it
            cu.commit(comment=COMMENT)
        _assert_gateway(_pyez_running(other), group)
        # The private database is closed: the shared candidate is free to lock again.
        ocu = Config(other)
        ocu.lock()
        ocu.rollback(1)
        ocu.commit()
        ocu.unlock()
        _assert_day0(_pyez_running(dev))
