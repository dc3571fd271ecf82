"""Third-party NETCONF clients (PyEZ, nornir-netconf, ncclient) against the simulated pair."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from jnpr.junos import Device
from jnpr.junos.exception import CommitError, ConfigLoadError, LockError
from jnpr.junos.utils.config import Config
from lxml import etree
from ncclient import manager
from ncclient.manager import Manager
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import SSHUnknownHostError
from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.task import AggregatedResult, Result, Task
from nornir_netconf.plugins.tasks import (
    netconf_commit,
    netconf_edit_config,
    netconf_get_config,
    netconf_lock,
    netconf_rpc,
    netconf_validate,
)

from nornir_esi.junos.text import parse_text
from nornir_esi.netsim.server import Simulator

from .conftest import VRF, connect, gateway_set, gateway_text

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
    return [
        i.findtext("{*}name") or "" for i in config.iterfind(".//{*}routing-instances/{*}instance")
    ]


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
    firewall = "".join(
        line + "\n" for line in gateway_set(group).splitlines() if "firewall" in line
    )
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
        assert cu.commit(comment=COMMENT, confirm=10) is True
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
        assert any(
            line.startswith("-") and "unit 1025" in line for line in rollback_diff.splitlines()
        )
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
        # Leaving the block sent <close-configuration/>: no private database is left open.
        assert all(s.private is None for s in routers.router(name).sessions.values())
        _assert_gateway(_pyez_running(other), group)
        assert routers.router(name).history[0].comment == COMMENT
        # The private database is closed: the shared candidate is free to lock again.
        ocu = Config(other)
        ocu.lock()
        ocu.rollback(1)
        ocu.commit()
        ocu.unlock()
        _assert_day0(_pyez_running(dev))


# -- nornir-netconf -----------------------------------------------------------------------


def _firewall_xml() -> etree._Element:
    """The gateway's two filter terms, each placed before ``all-accept`` (Junos XML insert)."""
    firewall = etree.Element("firewall")
    inet = etree.SubElement(etree.SubElement(firewall, "family"), "inet")
    for name, direction, suffix in (
        ("INET_IN", "destination", "IN"),
        ("INET_OUT", "source", "OUT"),
    ):
        filt = etree.SubElement(inet, "filter")
        etree.SubElement(filt, "name").text = name
        term = etree.SubElement(filt, "term", insert="before", name="all-accept")
        etree.SubElement(term, "name").text = f"{VRF}_filter"
        prefix_list = etree.SubElement(etree.SubElement(term, "from"), f"{direction}-prefix-list")
        etree.SubElement(prefix_list, "name").text = f"{VRF}_prefix"
        then = etree.SubElement(term, "then")
        etree.SubElement(then, "count").text = f"{VRF}_{suffix}"
        etree.SubElement(then, "accept")
    return firewall


def _gateway_xml(group: str, *, text: str | None = None) -> str:
    """``<config><configuration>`` for edit-config: the curly gateway plus the filter terms."""
    configuration = parse_text(text if text is not None else gateway_text(group))
    configuration.append(_firewall_xml())
    config = etree.Element("config")
    config.append(configuration)
    return etree.tostring(config).decode()


def _gateway_delete_xml() -> str:
    """edit-config ``operation="delete"`` of every statement the gateway added."""
    d = 'operation="delete"'
    terms = "".join(
        f"<filter><name>{name}</name><term {d}><name>{VRF}_filter</name></term></filter>"
        for name in ("INET_IN", "INET_OUT")
    )
    return (
        "<config><configuration>"
        f"<interfaces><interface><name>ae0</name><unit {d}><name>1025</name></unit>"
        "</interface></interfaces>"
        f"<policy-options><prefix-list {d}><name>{VRF}_prefix</name></prefix-list>"
        "<policy-statement><name>INSTANCE-MASTER_IN</name>"
        f"<term {d}><name>{VRF}</name></term></policy-statement></policy-options>"
        f"<firewall><family><inet>{terms}</inet></family></firewall>"
        f"<routing-instances><instance {d}><name>{VRF}</name></instance></routing-instances>"
        "</configuration></config>"
    )


GATEWAY_FILTER = (
    "<configuration>"
    "<interfaces><interface><name>ae0</name><unit/></interface></interfaces>"
    "<firewall><family><inet><filter><name>INET_IN</name></filter></inet></family></firewall>"
    "<routing-instances/>"
    "</configuration>"
)


@pytest.fixture
def nr(routers: Simulator, tmp_path: Path) -> Iterator[Nornir]:
    """A Nornir over both routers (SimpleInventory files), NETCONF with the junos handler."""
    hosts = {}
    for name, group in GROUPS.items():
        host, port = routers.address(name)
        hosts[name] = {
            "hostname": host,
            "port": port,
            "groups": ["junos"],
            "data": {"vrrp_group": group},
        }
    groups = {
        "junos": {
            "username": "esi",
            "password": "x",
            "platform": "junos",
            "connection_options": {
                "netconf": {
                    "extras": {
                        "hostkey_verify": False,
                        "allow_agent": False,
                        "look_for_keys": False,
                        "timeout": 30,
                    }
                }
            },
        }
    }
    # JSON is YAML: SimpleInventory reads these files with its YAML loader.
    (tmp_path / "hosts.yaml").write_text(json.dumps(hosts))
    (tmp_path / "groups.yaml").write_text(json.dumps(groups))
    (tmp_path / "defaults.yaml").write_text("{}")
    nornir = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": 2}},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(tmp_path / "hosts.yaml"),
                "group_file": str(tmp_path / "groups.yaml"),
                "defaults_file": str(tmp_path / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    try:
        yield nornir
    finally:
        nornir.close_connections()


def _xml(reply: object) -> etree._Element:
    """A reply as an element: RPCReply has .xml; the junos handler's NCElement str()s to XML."""
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode())


def _ok(results: AggregatedResult, task: str) -> dict[str, etree._Element]:
    """Every host's task succeeded; the replies per host, as elements."""
    assert set(results) == set(GROUPS), task
    replies = {}
    for name, multi in results.items():
        result = multi[0]
        assert result.failed is False, f"{task} on {name}: {result.exception!r}"
        # nornir-netconf never reports `changed` (its Results keep the default False).
        assert result.changed is False, f"{task} on {name}"
        reply = _xml(result.result.rpc)
        assert etree.QName(reply).localname == "rpc-reply", f"{task} on {name}"
        assert reply.find(".//{*}rpc-error") is None, f"{task} on {name}"
        replies[name] = reply
    return replies


def _edit_gateway(task: Task) -> Result:
    return task.run(
        task=netconf_edit_config,
        config=_gateway_xml(task.host["vrrp_group"]),
        target="candidate",
    )[0]


def _diff_task(task: Task) -> Result:
    return task.run(
        task=netconf_rpc,
        payload='<get-configuration compare="rollback" rollback="0" format="text"/>',
    )[0]


def _running_configs(nornir: Nornir) -> dict[str, etree._Element]:
    results = nornir.run(
        task=netconf_get_config, source="running", filter_type="subtree", path=GATEWAY_FILTER
    )
    replies = _ok(results, "netconf_get_config")
    return {name: reply.find("{*}data/{*}configuration") for name, reply in replies.items()}


@pytest.mark.parametrize("undo", ["rollback", "delete"])
def test_nornir_netconf_full_cycle(routers: Simulator, nr: Nornir, undo: str) -> None:
    for reply in _ok(
        nr.run(task=netconf_lock, operation="lock", datastore="candidate"), "lock"
    ).values():
        assert reply.find("{*}ok") is not None
    for name, host in nr.inventory.hosts.items():
        assert routers.router(name).lock_owner is not None
        # platform "junos" becomes ncclient's device_params {"name": "junos"}.
        handler = host.get_connection("netconf", nr.config)._device_handler
        assert type(handler).__name__ == "JunosDeviceHandler"
    _ok(nr.run(task=_edit_gateway), "edit-config")
    for name, reply in _ok(nr.run(task=_diff_task), "diff").items():
        diff = reply.findtext(".//{*}configuration-output") or ""
        assert "[edit interfaces ae0]" in diff, name
        assert f"+   {VRF} {{" in diff, name
        assert f"apply-groups {GROUPS[name]};" in diff, name
    _ok(nr.run(task=netconf_validate, source="candidate"), "validate")
    for reply in _ok(nr.run(task=netconf_commit), "commit").values():
        assert reply.find(".//{*}commit-success") is not None
    for name, config in _running_configs(nr).items():
        assert config is not None, name
        _assert_gateway(config, GROUPS[name])
        assert routers.router(name).history[0].user == "esi"
    if undo == "rollback":
        _ok(nr.run(task=netconf_rpc, payload='<load-configuration rollback="1"/>'), "rollback")
    else:
        _ok(
            nr.run(task=netconf_edit_config, config=_gateway_delete_xml(), target="candidate"),
            "edit-config delete",
        )
    _ok(nr.run(task=netconf_commit), "commit rollback")
    for name, config in _running_configs(nr).items():
        _assert_day0(config)
        assert len(routers.router(name).history) == 3
    _ok(nr.run(task=netconf_lock, operation="unlock", datastore="candidate"), "unlock")
    for name in GROUPS:
        assert routers.router(name).lock_owner is None


def test_nornir_netconf_failed_commit_changes_nothing(routers: Simulator, nr: Nornir) -> None:
    def edit_bad(task: Task) -> Result:
        text = gateway_text(task.host["vrrp_group"]).replace(
            "FILTER_10M-GA-UP-INET", "NO-SUCH-FILTER"
        )
        return task.run(
            task=netconf_edit_config,
            config=_gateway_xml(task.host["vrrp_group"], text=text),
            target="candidate",
        )[0]

    before = {name: etree.tostring(routers.router(name).running) for name in GROUPS}
    _ok(nr.run(task=netconf_lock, operation="lock", datastore="candidate"), "lock")
    _ok(nr.run(task=edit_bad), "edit-config")
    results = nr.run(task=netconf_commit)
    assert results.failed
    for name in GROUPS:
        result = results[name][0]
        assert result.failed is True, name
        assert isinstance(result.exception, RPCError), name
        assert "NO-SUCH-FILTER" in str(result.exception), name
    assert set(nr.data.failed_hosts) == set(GROUPS)
    nr.data.reset_failed_hosts()
    for name, config in _running_configs(nr).items():
        _assert_day0(config)
        assert etree.tostring(routers.router(name).running) == before[name]
    _ok(nr.run(task=netconf_rpc, payload="<discard-changes/>"), "discard-changes")
    _ok(nr.run(task=netconf_lock, operation="unlock", datastore="candidate"), "unlock")


# -- ncclient -----------------------------------------------------------------------------

DIFF_RPC = '<get-configuration compare="rollback" rollback="0" format="text"/>'


@contextmanager
def _pair(sim: Simulator, *, junos: bool) -> Iterator[dict[str, Manager]]:
    with connect(sim, "MX-1", junos=junos) as mx1, connect(sim, "MX-2", junos=junos) as mx2:
        yield {"MX-1": mx1, "MX-2": mx2}


def _running(m: Manager) -> etree._Element:
    reply = _xml(m.get_config(source="running", filter=("subtree", GATEWAY_FILTER)))
    config = reply.find("{*}data/{*}configuration")
    assert config is not None
    return config


def _default_diff(m: Manager) -> str:
    return _xml(m.dispatch(etree.fromstring(DIFF_RPC))).findtext(".//{*}configuration-output") or ""


def _junos_diff(m: Manager) -> str:
    return _xml(m.compare_configuration(rollback=0)).findtext(".//{*}configuration-output") or ""


def test_ncclient_default_handler_pair(routers: Simulator) -> None:
    with _pair(routers, junos=False) as pair:
        for m in pair.values():
            assert m.lock(target="candidate").ok
        for name, m in pair.items():
            assert m.edit_config(target="candidate", config=_gateway_xml(GROUPS[name])).ok
            diff = _default_diff(m)
            assert "[edit interfaces ae0]" in diff and f"+   {VRF} {{" in diff, name
        for m in pair.values():
            assert m.validate(source="candidate").ok
        for name, m in pair.items():
            # NETCONF <commit><confirmed/><confirm-timeout> counts seconds.
            assert m.commit(confirmed=True, timeout="30").ok
            assert routers.router(name).confirm_pending
        for name, m in pair.items():
            assert m.commit().ok
            assert not routers.router(name).confirm_pending
            _assert_gateway(_running(m), GROUPS[name])
            assert _default_diff(m) == "\n"
        # Standard NETCONF has no rollback: delete what the gateway added, then commit.
        for m in pair.values():
            assert m.edit_config(target="candidate", config=_gateway_delete_xml()).ok
            assert m.commit().ok
        for name, m in pair.items():
            _assert_day0(_running(m))
            assert m.unlock(target="candidate").ok
            assert routers.router(name).lock_owner is None


def test_ncclient_default_handler_failed_commit_cancels_the_peer(routers: Simulator) -> None:
    day0 = {name: etree.tostring(routers.router(name).running) for name in GROUPS}
    routers.set_faults("MX-2", fail_commits=1)
    with _pair(routers, junos=False) as pair:
        for name, m in pair.items():
            m.lock(target="candidate")
            m.edit_config(target="candidate", config=_gateway_xml(GROUPS[name]))
            assert m.validate(source="candidate").ok
        assert pair["MX-1"].commit(confirmed=True, timeout="30").ok
        _assert_gateway(_running(pair["MX-1"]), GROUPS["MX-1"])
        with pytest.raises(RPCError) as err:
            pair["MX-2"].commit(confirmed=True, timeout="30")
        assert "commit failed: simulated failure" in err.value.message
        # The pair transaction backs out: MX-1's confirmed commit is cancelled at once,
        # MX-2's candidate is discarded.
        assert pair["MX-1"].cancel_commit().ok
        assert not routers.router("MX-1").confirm_pending
        assert pair["MX-2"].discard_changes().ok
        for name, m in pair.items():
            _assert_day0(_running(m))
            assert _default_diff(m) == "\n", name
            assert m.unlock(target="candidate").ok
    for name in GROUPS:
        assert etree.tostring(routers.router(name).running) == day0[name]


def test_ncclient_junos_handler_pair(routers: Simulator) -> None:
    with _pair(routers, junos=True) as pair:
        for m in pair.values():
            m.lock(target="candidate")
        for name, m in pair.items():
            m.load_configuration(format="text", action="merge", config=gateway_text(GROUPS[name]))
            firewall = [
                line for line in gateway_set(GROUPS[name]).splitlines() if "firewall" in line
            ]
            m.load_configuration(action="set", config=firewall)
            diff = _junos_diff(m)
            assert "[edit interfaces ae0]" in diff and f"+   {VRF} {{" in diff, name
            assert "[edit firewall family inet filter INET_IN]" in diff, name
        for m in pair.values():
            assert _xml(m.commit(check=True)).find(".//{*}commit-check-success") is not None
        for name, m in pair.items():
            # ncclient turns seconds into Junos minutes: 600 s -> 10 minutes (5 s here).
            reply = _xml(m.commit(confirmed=True, timeout="600", comment=COMMENT))
            assert reply.find(".//{*}commit-success") is not None
            assert routers.router(name).confirm_pending
        for name, m in pair.items():
            m.commit(comment="confirm")
            assert not routers.router(name).confirm_pending
            _assert_gateway(_running(m), GROUPS[name])
            history = _xml(m.rpc("<get-commit-information/>"))
            logs = [h.findtext("{*}log") for h in history.iterfind(".//{*}commit-history")]
            assert logs[:2] == ["confirm", COMMENT]
        # Rollback 1 is the confirmed commit, rollback 2 the day-0 configuration.
        for name, m in pair.items():
            m.rollback(rollback=2)
            assert "-   unit 1025 {" in _junos_diff(m).replace("-    unit", "-   unit"), name
            m.commit(comment="rollback")
            _assert_day0(_running(m))
            m.unlock(target="candidate")


def test_ncclient_junos_handler_check_fails_on_mx2(routers: Simulator) -> None:
    day0 = {name: etree.tostring(routers.router(name).running) for name in GROUPS}
    with _pair(routers, junos=True) as pair:
        for name, m in pair.items():
            m.lock(target="candidate")
            text = gateway_text(GROUPS[name])
            if name == "MX-2":
                text = text.replace("INSTANCE-USER_IN", "NO-SUCH-POLICY")
            m.load_configuration(format="text", config=text)
        assert _xml(pair["MX-1"].commit(check=True)).find(".//{*}commit-check-success") is not None
        with pytest.raises(RPCError) as err:
            pair["MX-2"].commit(check=True)
        messages = (
            [e.message for e in err.value.errors] if err.value.errors else [err.value.message]
        )
        assert any("Policy NO-SUCH-POLICY referenced but not defined" in m for m in messages)
        # Nothing was committed anywhere: both candidates go back to running (rollback 0).
        for name, m in pair.items():
            m.rollback(rollback=0)
            assert _junos_diff(m) == "\n", name
            m.unlock(target="candidate")
            _assert_day0(_running(m))
    for name in GROUPS:
        assert etree.tostring(routers.router(name).running) == day0[name]
        assert len(routers.router(name).history) == 1


# -- host-key verification ----------------------------------------------------------------


def _verified_connect(sim: Simulator, name: str, ssh_config: Path) -> Manager:
    host, port = sim.address(name)
    return manager.connect(
        host=host,
        port=port,
        username="esi",
        password="x",
        hostkey_verify=True,
        ssh_config=str(ssh_config),
        allow_agent=False,
        look_for_keys=False,
        device_params={"name": "junos"},
        timeout=30,
    )


def _ssh_config(tmp_path: Path, known_hosts: str) -> Path:
    """An OpenSSH config whose UserKnownHostsFile (the file ncclient loads) holds known_hosts."""
    (tmp_path / "known_hosts").write_text(known_hosts)
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n    UserKnownHostsFile {tmp_path / 'known_hosts'}\n")
    return config


def test_ncclient_verifies_host_keys_from_known_hosts(routers: Simulator, tmp_path: Path) -> None:
    config = _ssh_config(tmp_path, routers.known_hosts())
    for name in GROUPS:
        with _verified_connect(routers, name, config) as m:
            assert _xml(m.rpc("<get-software-information/>")).findtext(".//{*}host-name") == name


def test_ncclient_verifies_host_keys_from_home_known_hosts(
    routers: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ssh_config=None: ncclient loads ~/.ssh/known_hosts.
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(routers.known_hosts())
    monkeypatch.setenv("HOME", str(tmp_path))
    host, port = routers.address("MX-2")
    with manager.connect(
        host=host,
        port=port,
        username="esi",
        password="x",
        hostkey_verify=True,
        ssh_config=None,
        allow_agent=False,
        look_for_keys=False,
        timeout=30,
    ) as m:
        assert m.get_config(source="running", filter=("subtree", GATEWAY_FILTER)).ok


def test_ncclient_refuses_a_wrong_host_key(routers: Simulator, tmp_path: Path) -> None:
    lines = routers.known_hosts().splitlines()
    assert len(lines) == 2
    # MX-1's address with MX-2's key, and the other way round.
    (addr1, *key1), (addr2, *key2) = (line.split() for line in lines)
    swapped = f"{addr1} {' '.join(key2)}\n{addr2} {' '.join(key1)}\n"
    config = _ssh_config(tmp_path, swapped)
    for name in GROUPS:
        with pytest.raises(SSHUnknownHostError) as err:
            _verified_connect(routers, name, config)
        assert err.value.host == routers.address(name)[0]
    # A host missing from known_hosts is refused too.
    config = _ssh_config(tmp_path, lines[1] + "\n")
    with pytest.raises(SSHUnknownHostError):
        _verified_connect(routers, "MX-1", config)
    with _verified_connect(routers, "MX-2", config) as m:
        assert m.connected
