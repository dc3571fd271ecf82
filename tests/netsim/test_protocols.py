"""VRRP, routes and BGP as the routers of a segment show them over NETCONF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError

from nornir_esi.netsim.server import RouterSpec, Simulator

from .conftest import connect

VRF = "vrf_x"
UNIT = "interfaces ae0 unit 1025"
# The origin's pair on vlan 1025: MX-2 (primary, InetGW1) .152, MX-1 (secondary, InetGW2) .153.
ADDRESS = {"MX-2": "172.16.101.152", "MX-1": "172.16.101.153"}
GW = {"MX-2": "InetGW1", "MX-1": "InetGW2"}
PRIORITY = {"MX-2": "105", "MX-1": "100"}


def _xml(reply: object) -> etree._Element:
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode())


def _commit(sim: Simulator, name: str, commands: str) -> None:
    with connect(sim, name, junos=True) as m:
        m.load_configuration(action="set", config=commands)
        m.commit()


def _rpc(sim: Simulator, name: str, rpc: str) -> etree._Element:
    with connect(sim, name, junos=True) as m:
        return _xml(m.rpc(rpc))


def _gateway_unit(name: str, *, priority: bool = True, vrrp: bool = True) -> str:
    """The origin's gw_interface: address, VRRP group 20 (virtual .151) and its priority."""
    address = f"{UNIT} family inet address {ADDRESS[name]}/24"
    lines = [f"set {UNIT} apply-groups {GW[name]}-VRRP", f"set {UNIT} vlan-id 1025"]
    if vrrp:
        lines.append(f"set {address} vrrp-group 20 virtual-address 172.16.101.151")
        if priority:
            lines.append(f"set {address} vrrp-group 20 priority {PRIORITY[name]}")
    else:
        lines.append(f"set {address}")
    return "\n".join(lines) + "\n"


def _vrrp(sim: Simulator, name: str, interface: str = "") -> dict[str, dict[str, str]]:
    rpc = "<get-vrrp-information/>"
    if interface:
        rpc = f"<get-vrrp-information><interface>{interface}</interface></get-vrrp-information>"
    info = _rpc(sim, name, rpc)
    return {
        e.findtext("{*}interface") or "": {
            etree.QName(c).localname: (c.text or "") for c in e if isinstance(c.tag, str)
        }
        for e in info.iterfind(".//{*}vrrp-interface")
    }


def _state(sim: Simulator, name: str) -> str:
    return _vrrp(sim, name)["ae0.1025"]["vrrp-state"]


# --- VRRP ------------------------------------------------------------------------------------


def test_no_vrrp_on_a_unit_with_only_apply_groups(routers: Simulator) -> None:
    # The group's <*> patterns add settings to a vrrp-group; they create none.
    _commit(routers, "MX-1", _gateway_unit("MX-1", vrrp=False))
    assert _vrrp(routers, "MX-1") == {}
    _commit(routers, "MX-1", _gateway_unit("MX-1"))
    assert list(_vrrp(routers, "MX-1")) == ["ae0.1025"]


def test_pair_elects_the_higher_priority_and_reports_it_as_junos(routers: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(routers, name, _gateway_unit(name))
    assert _vrrp(routers, "MX-2") == {
        "ae0.1025": {
            "interface": "ae0.1025",
            "interface-state": "up",
            "group": "20",
            "vrrp-state": "master",
            "vrrp-mode": "Active",
            "local-interface-address": "172.16.101.152",
            "virtual-ip-address": "172.16.101.151",
        }
    }
    assert _vrrp(routers, "MX-1")["ae0.1025"]["vrrp-state"] == "backup"
    assert _vrrp(routers, "MX-1")["ae0.1025"]["local-interface-address"] == "172.16.101.153"


def test_primary_link_down_makes_the_secondary_master_and_back(routers: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(routers, name, _gateway_unit(name))
    assert (_state(routers, "MX-2"), _state(routers, "MX-1")) == ("master", "backup")
    routers.set_faults("MX-2", links_down={"ae0"})
    assert _vrrp(routers, "MX-2")["ae0.1025"]["interface-state"] == "down"
    assert (_state(routers, "MX-2"), _state(routers, "MX-1")) == ("init", "master")
    routers.set_faults("MX-2", links_down=set())
    assert (_state(routers, "MX-2"), _state(routers, "MX-1")) == ("master", "backup")


def test_a_disabled_unit_takes_no_part(routers: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(routers, name, _gateway_unit(name))
    _commit(routers, "MX-2", f"set {UNIT} disable\n")
    assert (_state(routers, "MX-2"), _state(routers, "MX-1")) == ("init", "master")


def test_priority_defaults_to_100_and_is_inherited_from_a_group(routers: Simulator) -> None:
    # MX-1 without a priority of its own: 100, below MX-2's 105.
    _commit(routers, "MX-1", _gateway_unit("MX-1", priority=False))
    _commit(routers, "MX-2", _gateway_unit("MX-2"))
    assert _state(routers, "MX-1") == "backup"
    # A group applied to MX-1's interface gives it 110; the unit's own group still applies.
    _commit(
        routers,
        "MX-1",
        'set groups HIGH interfaces "<*>" unit "<*>" family inet address "<*>" '
        'vrrp-group "<*>" priority 110\n'
        "set interfaces ae0 apply-groups HIGH\n",
    )
    assert (_state(routers, "MX-1"), _state(routers, "MX-2")) == ("master", "backup")


def test_equal_priorities_go_to_the_higher_address(routers: Simulator) -> None:
    _commit(routers, "MX-1", _gateway_unit("MX-1", priority=False))
    _commit(routers, "MX-2", _gateway_unit("MX-2", priority=False))
    # .153 (MX-1) beats .152 (MX-2), as RFC 5798 breaks a tie.
    assert (_state(routers, "MX-1"), _state(routers, "MX-2")) == ("master", "backup")


def test_interface_filter_limits_the_reply(routers: Simulator) -> None:
    _commit(
        routers,
        "MX-2",
        _gateway_unit("MX-2") + "set interfaces ae0 unit 1026 vlan-id 1026\n"
        "set interfaces ae0 unit 1026 family inet address 10.0.26.2/24 vrrp-group 26 "
        "virtual-address 10.0.26.1\n",
    )
    assert sorted(_vrrp(routers, "MX-2")) == ["ae0.1025", "ae0.1026"]
    assert list(_vrrp(routers, "MX-2", "ae0.1026")) == ["ae0.1026"]
    assert _vrrp(routers, "MX-2", "ae0.1026")["ae0.1026"]["group"] == "26"


@pytest.fixture(scope="module")
def apart_sim() -> Iterator[Simulator]:
    """A pair wired to different segments: their VLAN 1025 are two broadcast domains."""
    specs = [
        RouterSpec.parse("MX-1=127.0.0.1:0,role=secondary,segment=east"),
        RouterSpec("MX-2", "127.0.0.1", 0, segment="west"),
    ]
    with Simulator(specs) as sim:
        yield sim


@pytest.fixture
def apart(apart_sim: Simulator) -> Iterator[Simulator]:
    """The pair of different segments, at day-0."""
    apart_sim.reset()
    yield apart_sim
    apart_sim.reset()


def test_routers_of_different_segments_are_both_master(apart: Simulator) -> None:
    assert apart.router("MX-1").settings.segment == "east"
    for name in ("MX-1", "MX-2"):
        _commit(apart, name, _gateway_unit(name))
    assert (_state(apart, "MX-1"), _state(apart, "MX-2")) == ("master", "master")


# --- routes ----------------------------------------------------------------------------------


def _vrf() -> str:
    return (
        f"set routing-instances {VRF} instance-type virtual-router\n"
        f"set routing-instances {VRF} interface ae0.1025\n"
        f"set routing-instances {VRF} routing-options instance-import INSTANCE-USER_IN\n"
    )


STATICS = (
    f"set routing-instances {VRF} routing-options static route 203.0.112.0/28 "
    "next-hop 172.16.101.1\n"
    # Its next hop is on no subnet of the instance: Junos keeps the route hidden.
    f"set routing-instances {VRF} routing-options static route 198.51.100.0/24 "
    "next-hop 10.9.9.9\n"
)


def _table(sim: Simulator, name: str, extra: str = "") -> etree._Element:
    info = _rpc(
        sim,
        name,
        f"<get-route-information><table>{VRF}.inet.0</table>{extra}</get-route-information>",
    )
    tables = info.findall(".//{*}route-table")
    assert [t.findtext("{*}table-name") for t in tables] == [f"{VRF}.inet.0"]
    return tables[0]


def _routes(table: etree._Element) -> dict[str, list[tuple[str, ...]]]:
    """Per destination: (active-tag, protocol, preference, to, via or local interface)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for rt in table.iterfind("{*}rt"):
        out[rt.findtext("{*}rt-destination") or ""] = [
            (
                e.findtext("{*}active-tag") or "",
                e.findtext("{*}protocol-name") or "",
                e.findtext("{*}preference") or "",
                e.findtext("{*}nh/{*}to") or "",
                e.findtext("{*}nh/{*}via") or e.findtext("{*}nh/{*}nh-local-interface") or "",
            )
            for e in rt.iterfind("{*}rt-entry")
        ]
    return out


def _counts(table: etree._Element) -> tuple[str, ...]:
    return tuple(
        table.findtext(f"{{*}}{field}") or ""
        for field in (
            "destination-count",
            "total-route-count",
            "active-route-count",
            "holddown-route-count",
            "hidden-route-count",
        )
    )


def test_vrf_table_has_direct_local_and_static_routes(routers: Simulator) -> None:
    _commit(routers, "MX-2", _gateway_unit("MX-2") + _vrf() + STATICS)
    table = _table(routers, "MX-2")
    assert _routes(table) == {
        "172.16.101.0/24": [("*", "Direct", "0", "", "ae0.1025")],
        "172.16.101.152/32": [("*", "Local", "0", "", "ae0.1025")],
        "203.0.112.0/28": [("*", "Static", "5", "172.16.101.1", "ae0.1025")],
    }
    assert _counts(table) == ("4", "4", "3", "0", "1")
    # `show route hidden`: the hidden route alone, without an active marker.
    hidden = _table(routers, "MX-2", "<hidden/>")
    assert _routes(hidden) == {"198.51.100.0/24": [("", "Static", "5", "10.9.9.9", "")]}


def test_static_route_is_hidden_while_its_unit_is_down(routers: Simulator) -> None:
    _commit(routers, "MX-2", _gateway_unit("MX-2") + _vrf() + STATICS)
    routers.set_faults("MX-2", links_down={"ae0"})
    table = _table(routers, "MX-2")
    assert _routes(table) == {}
    assert _counts(table) == ("2", "2", "0", "0", "2")
    routers.set_faults("MX-2", links_down=set())
    assert _counts(_table(routers, "MX-2")) == ("4", "4", "3", "0", "1")


def test_destination_picks_the_longest_match(routers: Simulator) -> None:
    _commit(routers, "MX-2", _gateway_unit("MX-2") + _vrf() + STATICS)
    for destination, found in (
        ("203.0.112.5", ["203.0.112.0/28"]),
        ("172.16.101.152", ["172.16.101.152/32"]),
        ("172.16.0.0/16", ["172.16.101.0/24", "172.16.101.152/32"]),
    ):
        table = _table(routers, "MX-2", f"<destination>{destination}</destination>")
        assert list(_routes(table)) == found, destination


def test_master_and_instance_tables_without_a_table_name(routers: Simulator) -> None:
    info = _rpc(routers, "MX-1", "<get-route-information/>")
    names = [t.findtext("{*}table-name") for t in info.iterfind(".//{*}route-table")]
    assert names == ["inet.0", "UPLINK.inet.0"]
    uplink = info.findall(".//{*}route-table")[1]
    assert list(_routes(uplink)) == ["192.0.2.0/30", "192.0.2.2/32"]


def test_unknown_table_is_an_rpc_error(routers: Simulator) -> None:
    with connect(routers, "MX-1", junos=True) as m, pytest.raises(RPCError) as err:
        m.rpc("<get-route-information><table>nope.inet.0</table></get-route-information>")
    assert err.value.message == "Invalid routing table name: nope.inet.0"


# --- BGP -------------------------------------------------------------------------------------


def _ibgp(name: str, *, neighbor: bool = True) -> str:
    other = ADDRESS["MX-1" if name == "MX-2" else "MX-2"]
    group = f"routing-instances {VRF} protocols bgp group inet-gw-group"
    lines = [
        f"set {group} apply-groups {GW[name]}-RI-IBGP",
        f"set {group} local-address {ADDRESS[name]}",
    ]
    if neighbor:
        lines.append(f"set {group} neighbor {other}")
    return "\n".join(lines) + "\n"


def _peers(sim: Simulator, name: str, args: str = "") -> list[dict[str, str]]:
    info = _rpc(sim, name, f"<get-bgp-neighbor-information>{args}</get-bgp-neighbor-information>")
    return [
        {etree.QName(c).localname: (c.text or "") for c in peer if isinstance(c.tag, str)}
        for peer in info.iterfind(".//{*}bgp-peer")
    ]


def test_bgp_is_established_when_both_ends_are_configured(routers: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(routers, name, _gateway_unit(name) + _vrf() + _ibgp(name))
    (peer,) = _peers(routers, "MX-2", f"<instance>{VRF}</instance>")
    local, _, port = peer.pop("local-address").partition("+")
    assert (local, port.isdigit()) == ("172.16.101.152", True)
    assert peer == {
        "peer-address": "172.16.101.153+179",
        "peer-as": "65101",  # from the group InetGW1-RI-IBGP
        "local-as": "65101",
        "peer-group": "inet-gw-group",
        "peer-cfg-rti": VRF,
        "peer-type": "Internal",
        "peer-state": "Established",
    }
    assert [p["peer-state"] for p in _peers(routers, "MX-1")] == ["Established"]


def test_bgp_is_active_with_one_end_configured(routers: Simulator) -> None:
    _commit(routers, "MX-2", _gateway_unit("MX-2") + _vrf() + _ibgp("MX-2"))
    _commit(routers, "MX-1", _gateway_unit("MX-1") + _vrf() + _ibgp("MX-1", neighbor=False))
    (peer,) = _peers(routers, "MX-2")
    assert (peer["peer-state"], peer["peer-address"], peer["local-address"]) == (
        "Active",
        "172.16.101.153",
        "172.16.101.152",
    )
    assert _peers(routers, "MX-1") == []  # a group without neighbors has no peer


def test_bgp_session_drops_with_the_link_and_filters_apply(routers: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(routers, name, _gateway_unit(name) + _vrf() + _ibgp(name))
    routers.set_faults("MX-1", links_down={"ae0"})
    assert [p["peer-state"] for p in _peers(routers, "MX-2")] == ["Active"]
    routers.set_faults("MX-1", links_down=set())
    address = "<neighbor-address>172.16.101.153</neighbor-address>"
    assert [p["peer-state"] for p in _peers(routers, "MX-2", address)] == ["Established"]
    assert _peers(routers, "MX-2", "<instance>UPLINK</instance>") == []


def test_bgp_needs_both_routers_on_one_segment(apart: Simulator) -> None:
    for name in ("MX-1", "MX-2"):
        _commit(apart, name, _gateway_unit(name) + _vrf() + _ibgp(name))
    assert [p["peer-state"] for p in _peers(apart, "MX-2")] == ["Active"]
