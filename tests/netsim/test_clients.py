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
from ncclient.operations.rpc import RPCError
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

from nornir_esi.netsim.server import Simulator
from nornir_esi.netsim.text import parse_text

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


# -- nornir-netconf -----------------------------------------------------------------------


def _firewall_xml() -> etree._Element:
    """The gateway's two filter terms, each placed before ``all-accept`` (Junos XML insert)."""
    firewall = etree.Element("firewall")
    inet = etree.SubElement(etree.SubElement(firewall, "family"), "inet")
    for name, direction, suffix in (("INET_IN", "destination", "IN"), ("INET_OUT", "source", "OUT")):
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
    return task.run(task=netconf_rpc, payload='<get-configuration compare="rollback" rollback="0" format="text"/>')[0]


def _running_configs(nornir: Nornir) -> dict[str, etree._Element]:
    results = nornir.run(
        task=netconf_get_config, source="running", filter_type="subtree", path=GATEWAY_FILTER
    )
    replies = _ok(results, "netconf_get_config")
    return {name: reply.find("{*}data/{*}configuration") for name, reply in replies.items()}


@pytest.mark.parametrize("undo", ["rollback", "delete"])
def test_nornir_netconf_full_cycle(routers: Simulator, nr: Nornir, undo: str) -> None:
    for reply in _ok(nr.run(task=netconf_lock, operation="lock", datastore="candidate"), "lock").values():
        assert reply.find("{*}ok") is not None
    for name in GROUPS:
        assert routers.router(name).lock_owner is not None
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
