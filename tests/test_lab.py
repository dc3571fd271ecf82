"""The containerlab lab (``lab/``) agrees with the inventory and the simulator's day-0.

The lab cannot run here (it needs Docker, KVM and vJunos images), so what can drift is
checked statically: the topology's nodes are the inventory's routers, lab/hosts.yaml maps
them to the topology's mgmt addresses, the links are the ae0 members the day-0 files bundle,
each day-0 file is Junos text our parser reads and holds the simulator's day-0 statement for
statement, and the committed files are what ``lab/render_day0.py`` renders now.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from lxml import etree

from nornir_esi.device.inventory import load_overrides
from nornir_esi.junos.text import parse_text

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / "lab"
TOPOLOGY = LAB / "esi-pair.clab.yml"
ROUTERS = ("vMX-router-02", "vMX-router-01")

Element = etree._Element


def _render_module() -> ModuleType:
    """lab/render_day0.py, imported from its path (lab/ is not a package)."""
    spec = importlib.util.spec_from_file_location("lab_render_day0", LAB / "render_day0.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


render_day0 = _render_module()


def _topology() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TOPOLOGY.read_text(encoding="utf-8"))
    return data


def _edge_routers() -> dict[str, dict[str, Any]]:
    items = yaml.safe_load((REPO / "inventory" / "resources.yaml").read_text(encoding="utf-8"))
    return {i["body"]["name"]: i["body"] for i in items if i["type"] == "edge_router"}


def _lab_day0(name: str) -> Element:
    text = (LAB / "day0" / f"{name}.conf").read_text(encoding="utf-8")
    return parse_text(text)


def _xml(elem: Element) -> str:
    return etree.tostring(elem, pretty_print=True, encoding="unicode")


def _child(parent: Element, path: str) -> Element:
    """The element at ``path`` below ``parent``, which must be there."""
    found = parent.find(path)
    assert found is not None, f"no {path}"
    return found


def _entry(parent: Element, tag: str, name: str) -> Element | None:
    """The child list entry ``tag`` named ``name``."""
    return next((c for c in parent.findall(tag) if c.findtext("name") == name), None)


def _key(elem: Element) -> str:
    """A statement as Junos names it: ``firewall``, ``groups InetGW1-VRRP``, ``interface ae0``."""
    name = elem[0].text if len(elem) and elem[0].tag == "name" else None
    return f"{elem.tag} {name}" if name is not None else str(elem.tag)


def _same(parent: Element, elem: Element) -> Element | None:
    """The child of ``parent`` that is the same statement as ``elem`` (same tag and name)."""
    return next((c for c in parent if _key(c) == _key(elem)), None)


def day0_differences(netsim: Element, lab: Element) -> list[str]:
    """Where ``lab`` does not hold ``netsim``'s day-0 (``version`` aside), as Junos paths.

    Every top-level statement must be identical, except that ``system`` and ``interfaces``
    may hold more in the lab (logins, fxp0, the ae0 members): there each of netsim's
    children (each interface) must be identical. The lab has no other top-level statement.
    """
    carried = [c for c in netsim if c.tag not in render_day0.NOT_CARRIED]
    keys = {_key(c) for c in carried}
    out = [f"{_key(c)}: not in the simulator's day-0" for c in lab if _key(c) not in keys]
    for stmt in carried:
        mine = _same(lab, stmt)
        if mine is None:
            out.append(f"{_key(stmt)}: missing")
        elif stmt.tag in ("system", "interfaces"):
            for sub in stmt:
                theirs = _same(mine, sub)
                if theirs is None or _xml(theirs) != _xml(sub):
                    out.append(f"{stmt.tag} {_key(sub)}: missing or different")
        elif _xml(mine) != _xml(stmt):
            out.append(f"{_key(stmt)}: different")
    return out


# --- the topology -----------------------------------------------------------------------


def test_topology_nodes_are_the_inventory_routers() -> None:
    topo = _topology()
    nodes = topo["topology"]["nodes"]
    assert list(nodes) == list(ROUTERS)
    assert set(nodes) == set(_edge_routers())
    kind = topo["topology"]["kinds"]["juniper_vjunosrouter"]
    assert kind["image"].startswith("vrnetlab/juniper_vjunos-router:")
    assert kind["env"]["CLAB_MGMT_PASSTHROUGH"] == "true"  # fxp0 has the mgmt-ipv4
    for name, node in nodes.items():
        assert node["kind"] == "juniper_vjunosrouter"
        startup = (TOPOLOGY.parent / node["startup-config"]).resolve()
        assert startup == LAB / "day0" / f"{name}.conf"
        assert startup.is_file()


def test_hosts_yaml_maps_each_router_to_its_mgmt_address() -> None:
    topo = _topology()
    subnet = ipaddress.IPv4Network(topo["mgmt"]["ipv4-subnet"])
    overrides = load_overrides(LAB / "hosts.yaml")  # the format `--inventory` accepts
    routers = _edge_routers()
    assert set(overrides) == set(ROUTERS)
    addresses = set()
    for name, node in topo["topology"]["nodes"].items():
        address = ipaddress.IPv4Address(node["mgmt-ipv4"])
        # inside the lab network, not its gateway (the first address) nor its broadcast
        assert address in subnet and address not in (subnet[1], subnet.broadcast_address)
        assert overrides[name] == {"hostname": str(address), "port": 830}
        assert routers[name]["ssh_port"] == 830
        addresses.add(address)
    assert len(addresses) == len(ROUTERS)


def test_links_are_the_ae0_members_back_to_back() -> None:
    links = _topology()["topology"]["links"]
    assert links
    members: dict[str, set[str]] = {name: set() for name in ROUTERS}
    for link in links:
        ends = [end.split(":", 1) for end in link["endpoints"]]
        assert sorted(node for node, _ in ends) == sorted(ROUTERS)  # one end on each router
        assert ends[0][1] == ends[1][1]  # the same port on both: ge-0/0/N <-> ge-0/0/N
        for node, port in ends:
            members[node].add(render_day0.junos_port(port))
    for name in ROUTERS:
        config = _lab_day0(name)
        bundled = {
            str(i.findtext("name"))
            for i in config.findall("interfaces/interface")
            if i.findtext("gigether-options/ieee-802.3ad") == "ae0"
        }
        assert bundled == members[name]


def test_junos_port_names() -> None:
    assert render_day0.junos_port("eth1") == "ge-0/0/0"
    assert render_day0.junos_port("eth12") == "ge-0/0/11"
    for bad in ("eth0", "ge-0/0/0", "eth01"):
        with pytest.raises(ValueError):
            render_day0.junos_port(bad)


# --- the day-0 files --------------------------------------------------------------------


@pytest.mark.parametrize("name", ROUTERS)
def test_day0_reaches_the_router(name: str) -> None:
    """Host name, the orchestrator's login, NETCONF over SSH on 830, fxp0's address."""
    config = _lab_day0(name)
    topo = _topology()
    node = topo["topology"]["nodes"][name]
    prefix = ipaddress.IPv4Network(topo["mgmt"]["ipv4-subnet"]).prefixlen
    router = _edge_routers()[name]
    assert config.findtext("system/host-name") == name
    assert config.findtext("system/root-authentication/plain-text-password-value")
    user = _entry(_child(config, "system/login"), "user", router["login"])
    assert user is not None
    assert user.findtext("class") == "super-user"
    password = render_day0.logins()[name][1]  # the resources hold only a reference
    assert user.findtext("authentication/plain-text-password-value") == password
    assert config.find("system/services/ssh") is not None
    assert config.findtext("system/services/netconf/ssh/port") == "830"
    fxp0 = _entry(_child(config, "interfaces"), "interface", "fxp0")
    assert fxp0 is not None
    addresses = [a.findtext("name") for a in fxp0.iter("address")]
    assert addresses == [f"{node['mgmt-ipv4']}/{prefix}"]


@pytest.mark.parametrize("name", ROUTERS)
def test_day0_holds_the_simulators_day0(name: str) -> None:
    netsim = parse_text((REPO / "nornir_esi" / "netsim" / "day0.conf").read_text("utf-8"))
    assert day0_differences(netsim, _lab_day0(name)) == []


def test_a_changed_statement_is_found() -> None:
    """The comparison above sees a policer changed, a filter gone and a stray statement."""
    netsim = parse_text((REPO / "nornir_esi" / "netsim" / "day0.conf").read_text("utf-8"))
    text = (LAB / "day0" / "vMX-router-01.conf").read_text(encoding="utf-8")
    assert "bandwidth-limit 20m;" in text and "filter INET_OUT {" in text
    tampered = text.replace("bandwidth-limit 20m;", "bandwidth-limit 30m;", 1)
    tampered = tampered.replace("filter INET_OUT {", "filter INET_OUT_GONE {", 1)
    tampered += "snmp {\n    location lab;\n}\n"
    lab = parse_text(tampered)
    assert day0_differences(netsim, lab) == [
        "snmp: not in the simulator's day-0",
        "firewall: different",
    ]
    ae0 = _entry(_child(lab, "interfaces"), "interface", "ae0")
    assert ae0 is not None
    ae0.remove(_child(ae0, "flexible-vlan-tagging"))
    assert "interfaces interface ae0: missing or different" in day0_differences(netsim, lab)


def test_committed_files_are_what_render_day0_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(render_day0.PASSWORD_ENV, raising=False)
    files = render_day0.render_all()
    assert sorted(files) == sorted(LAB / "day0" / f"{name}.conf" for name in ROUTERS)
    for path, text in files.items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: run lab/render_day0.py"
    assert render_day0.main(["--check"]) == 0


def test_render_follows_its_inputs() -> None:
    """Another password or mgmt address shows in the rendered text (nothing is hard-wired)."""
    nodes = render_day0.load_topology()
    node = nodes["vMX-router-02"]
    day0 = render_day0.netsim_day0()
    text = render_day0.render(node, "esi", "not-the-sample", day0)
    assert "plain-text-password-value not-the-sample;" in text
    moved = render_day0.Node(
        node.name, ipaddress.IPv4Interface("192.168.7.9/26"), node.startup_config, node.members
    )
    assert "address 192.168.7.9/26;" in render_day0.render(moved, "esi", "x", day0)
    assert not re.search(r"^version ", text.split("\n", 3)[3], re.M)  # the image sets its own


def test_parse_text_reads_the_day0_as_written() -> None:
    parse_text((LAB / "day0" / "vMX-router-02.conf").read_text(encoding="utf-8"))
