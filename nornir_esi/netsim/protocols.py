"""What the routers' protocols make of their committed configurations: VRRP, routes, BGP.

Computed on each request from the running configurations (groups inherited, as Junos
applies them) and the link faults of the routers of a segment
(:class:`~nornir_esi.netsim.device.Segments`); there are no timers, so a change shows at
once, as if every protocol had converged.

- **VRRP** runs on a unit whose ``family inet address A/len`` carries a ``vrrp-group N``,
  configured there or inherited from a group whose names match (a group of ``<*>``
  patterns only adds settings to a vrrp-group that exists). Among the routers of a
  segment whose unit on the VLAN is up, the highest priority (default 100) is master,
  ties going to the higher address (RFC 5798); a unit that is down is ``init``.
- **Routes**, per routing instance (``inet.0`` for the master instance): ``Direct`` for the
  subnet and ``Local`` for the address of every up unit, and the static routes, active
  when a next hop lies in a Direct subnet of the instance, else hidden (unusable).
- **BGP**: a configured neighbor is ``Established`` when a router of the segment has an
  up unit with the neighbor's address on the VLAN of our local address, and configures
  our address as its neighbor, with autonomous systems that agree; else ``Active``.
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, field, replace
from typing import Literal

from lxml import etree

from nornir_esi.junos.inherit import inherit
from nornir_esi.netsim.device import Router

__all__ = [
    "MASTER",
    "BgpPeer",
    "Route",
    "Table",
    "VrrpGroup",
    "bgp_peers",
    "route_tables",
    "vrrp_groups",
]

MASTER = "master"  # the master routing instance, whose table is inet.0
DEFAULT_PRIORITY = 100
PREFERENCE = {"Direct": 0, "Local": 0, "Static": 5}
BGP_PORT = 179

_Interface = ipaddress.IPv4Interface
_Network = ipaddress.IPv4Network
_Address = ipaddress.IPv4Address


# --- what a configuration declares (made once per commit: Router.derived) ---------------------


@dataclass(frozen=True)
class _Vrrp:
    vrid: int
    address: _Interface
    priority: int
    virtual: tuple[str, ...]


@dataclass(frozen=True)
class _Unit:
    name: str  # ae0.1025
    physical: str
    segment: str  # the VLAN: its id, or the physical interface when it is untagged
    disabled: bool
    addresses: tuple[_Interface, ...]
    vrrp: tuple[_Vrrp, ...]


@dataclass(frozen=True)
class _Neighbor:
    address: _Address
    group: str
    type: str
    peer_as: str
    local_address: _Address | None


@dataclass
class _Instance:
    name: str
    local_as: str
    units: list[_Unit] = field(default_factory=list)
    statics: list[tuple[_Network, tuple[_Address, ...], bool]] = field(default_factory=list)
    neighbors: list[_Neighbor] = field(default_factory=list)


@dataclass
class _Declared:
    units: dict[str, _Unit]
    instances: dict[str, _Instance]  # the master instance first
    instance_of: dict[str, str]  # unit -> routing instance
    # What a neighbour looks up per request: the units on a VLAN, the VRRP groups of a VRID
    # on it (a pair with a thousand gateways must not scan a thousand units per group).
    on_segment: dict[str, list[_Unit]] = field(default_factory=dict)
    vrrp_on: dict[tuple[str, int], list[tuple[_Unit, _Vrrp]]] = field(default_factory=dict)


def _declared(running: etree._Element) -> _Declared:
    config = inherit(running)
    units: dict[str, _Unit] = {}
    for interface in config.iterfind("interfaces/interface"):
        physical = interface.findtext("name", "")
        for unit in interface.iterfind("unit"):
            unit_el = _unit(physical, interface, unit)
            units[unit_el.name] = unit_el
    master_as = config.findtext("routing-options/autonomous-system/as-number", "")
    instances = {MASTER: _Instance(MASTER, master_as)}
    instance_of: dict[str, str] = {}
    for entry in config.iterfind("routing-instances/instance"):
        name = entry.findtext("name", "")
        own_as = entry.findtext("routing-options/autonomous-system/as-number")
        instance = instances.setdefault(name, _Instance(name, own_as or master_as))
        for ifl in entry.iterfind("interface"):
            unit_name = ifl.findtext("name", "")
            instance_of[unit_name if "." in unit_name else f"{unit_name}.0"] = name
        _routing(instance, entry)
    _routing(instances[MASTER], config)
    declared = _Declared(units, instances, instance_of)
    for unit_el in units.values():
        instances[instance_of.get(unit_el.name, MASTER)].units.append(unit_el)
        declared.on_segment.setdefault(unit_el.segment, []).append(unit_el)
        for group in unit_el.vrrp:
            declared.vrrp_on.setdefault((unit_el.segment, group.vrid), []).append((unit_el, group))
    return declared


def _unit(physical: str, interface: etree._Element, unit: etree._Element) -> _Unit:
    addresses: list[_Interface] = []
    vrrp: list[_Vrrp] = []
    for address in unit.iterfind("family/inet/address"):
        try:
            ip = _Interface(address.findtext("name", ""))
        except ValueError:
            continue
        addresses.append(ip)
        for group in address.iterfind("vrrp-group"):
            vrid = group.findtext("name", "")
            if not vrid.isdigit():
                continue
            priority = group.findtext("priority", "")
            vrrp.append(
                _Vrrp(
                    int(vrid),
                    ip,
                    int(priority) if priority.isdigit() else DEFAULT_PRIORITY,
                    tuple(v.text or "" for v in group.iterfind("virtual-address")),
                )
            )
    vlan = unit.findtext("vlan-id")
    return _Unit(
        name=f"{physical}.{unit.findtext('name', '')}",
        physical=physical,
        segment=f"vlan {vlan}" if vlan else f"untagged {physical}",
        disabled=interface.find("disable") is not None or unit.find("disable") is not None,
        addresses=tuple(addresses),
        vrrp=tuple(vrrp),
    )


def _routing(instance: _Instance, level: etree._Element) -> None:
    """The static routes and BGP neighbors configured at ``level`` (the top, or an instance)."""
    for route in level.iterfind("routing-options/static/route"):
        try:
            prefix = _Network(route.findtext("name", ""), strict=False)
            hops = tuple(_Address(h.text or "") for h in route.iterfind("next-hop"))
        except ValueError:
            continue
        instance.statics.append((prefix, hops, route.find("discard") is not None))
    for group in level.iterfind("protocols/bgp/group"):
        for neighbor in group.iterfind("neighbor"):
            try:
                address = _Address(neighbor.findtext("name", ""))
                local = neighbor.findtext("local-address") or group.findtext("local-address")
                local_address = _Address(local) if local else None
            except ValueError:
                continue
            kind = group.findtext("type", "")
            peer_as = neighbor.findtext("peer-as") or group.findtext("peer-as")
            if not peer_as and kind == "internal":
                peer_as = instance.local_as
            instance.neighbors.append(
                _Neighbor(address, group.findtext("name", ""), kind, peer_as or "", local_address)
            )


def _of(router: Router) -> _Declared:
    return router.derived(_declared)


def _up(router: Router, unit: _Unit) -> bool:
    return not unit.disabled and unit.physical not in router.faults.links_down


# --- VRRP ---------------------------------------------------------------------------------


VrrpState = Literal["master", "backup", "init"]


@dataclass(frozen=True)
class VrrpGroup:
    """One VRRP group of a unit, as ``show vrrp`` lists it."""

    interface: str
    vrid: int
    up: bool
    state: VrrpState
    address: str
    virtual: tuple[str, ...]


def vrrp_groups(router: Router, interface: str = "") -> list[VrrpGroup]:
    """The router's VRRP groups, each with its state from the election on its segment.

    ``interface``: only those of this logical interface (``ae0.1025``) or of the logical
    interfaces of this physical one (``ae0``).
    """
    out: list[VrrpGroup] = []
    neighbours = router.segments.neighbours(router)
    for unit in _of(router).units.values():
        if interface and interface not in (unit.name, unit.physical):
            continue
        up = _up(router, unit)
        for group in unit.vrrp:
            state: VrrpState = "init"
            if up:
                mine = (group.priority, group.address.ip, router.name)
                rivals = [
                    (theirs.priority, theirs.address.ip, other.name)
                    for other in neighbours
                    for other_unit, theirs in _of(other).vrrp_on.get((unit.segment, group.vrid), ())
                    if _up(other, other_unit)
                ]
                state = "master" if all(mine > rival for rival in rivals) else "backup"
            out.append(
                VrrpGroup(unit.name, group.vrid, up, state, str(group.address.ip), group.virtual)
            )
    return out


# --- routes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One route of a table: ``to`` is the next hop's address (static routes only)."""

    prefix: _Network
    protocol: str
    via: str = ""
    to: str = ""
    active: bool = False
    hidden: bool = False
    discard: bool = False

    @property
    def preference(self) -> int:
        """The route's preference (administrative distance): Direct/Local 0, Static 5."""
        return PREFERENCE[self.protocol]


@dataclass(frozen=True)
class Table:
    """A routing table: ``inet.0``, or ``NAME.inet.0`` of routing instance NAME."""

    name: str
    routes: tuple[Route, ...]

    @property
    def destinations(self) -> list[_Network]:
        """The table's prefixes, in address order."""
        return sorted({r.prefix for r in self.routes}, key=lambda p: (p.network_address, p))


def table_name(instance: str) -> str:
    """The unicast IPv4 table of a routing instance."""
    return "inet.0" if instance == MASTER else f"{instance}.inet.0"


def route_tables(router: Router) -> list[Table]:
    """The unicast IPv4 table of each routing instance, the master's (``inet.0``) first."""
    return [_table(router, instance) for instance in _of(router).instances.values()]


def _table(router: Router, instance: _Instance) -> Table:
    routes: list[Route] = []
    direct: list[tuple[_Network, str]] = []
    for unit in instance.units:
        if not _up(router, unit):
            continue
        for address in unit.addresses:
            if address.network.prefixlen < 32:
                routes.append(Route(address.network, "Direct", via=unit.name))
                direct.append((address.network, unit.name))
            routes.append(Route(_Network(address.ip), "Local", via=unit.name))
    for prefix, hops, discard in instance.statics:
        if discard:
            routes.append(Route(prefix, "Static", discard=True))
            continue
        resolved = [(hop, next((u for n, u in direct if hop in n), "")) for hop in hops]
        usable = [(hop, via) for hop, via in resolved if via]
        if not usable:
            routes.append(Route(prefix, "Static", to=str(hops[0]) if hops else "", hidden=True))
        routes.extend(Route(prefix, "Static", via=via, to=str(hop)) for hop, via in usable)
    return Table(table_name(instance.name), tuple(_elect(routes)))


def _elect(routes: list[Route]) -> list[Route]:
    """Mark the active route of each prefix: the usable one of the lowest preference."""
    best: dict[_Network, int] = {}
    for n, route in enumerate(routes):
        current = best.get(route.prefix)
        if not route.hidden and (current is None or route.preference < routes[current].preference):
            best[route.prefix] = n
    winners = set(best.values())
    return [replace(r, active=True) if n in winners else r for n, r in enumerate(routes)]


# --- BGP ----------------------------------------------------------------------------------


BgpState = Literal["Established", "Active"]


@dataclass(frozen=True)
class BgpPeer:
    """One configured BGP neighbor and the state of its session."""

    address: str
    local_address: str  # "" when no up unit of the instance can carry the session
    group: str
    instance: str
    state: BgpState
    peer_as: str
    local_as: str
    local_port: int

    @property
    def internal(self) -> bool:
        """Whether the session is IBGP (the peer is in our autonomous system)."""
        return bool(self.peer_as) and self.peer_as == self.local_as


def bgp_peers(router: Router) -> list[BgpPeer]:
    """Every configured neighbor of every routing instance, the master's first."""
    declared = _of(router)
    out: list[BgpPeer] = []
    for instance in declared.instances.values():
        for neighbor in instance.neighbors:
            unit, local = _local_end(router, instance, neighbor)
            established = unit is not None and _answered(router, unit, neighbor, instance, local)
            # An ephemeral port of ours, the same for the session every time it is read.
            seed = zlib.crc32(f"{router.name}/{instance.name}/{neighbor.address}".encode())
            out.append(
                BgpPeer(
                    address=str(neighbor.address),
                    local_address=str(local) if local is not None else "",
                    group=neighbor.group,
                    instance=instance.name,
                    state="Established" if established else "Active",
                    peer_as=neighbor.peer_as,
                    local_as=instance.local_as,
                    local_port=49152 + seed % 16384,
                )
            )
    return out


def _local_end(
    router: Router, instance: _Instance, neighbor: _Neighbor
) -> tuple[_Unit | None, _Address | None]:
    """The up unit of ``instance`` the session leaves from, and our address on it.

    The configured local-address must be an address of it; without one, the unit whose
    subnet holds the neighbor.
    """
    for unit in instance.units:
        if not _up(router, unit):
            continue
        for address in unit.addresses:
            if neighbor.local_address is not None and address.ip == neighbor.local_address:
                return (unit if neighbor.address in address.network else None), address.ip
            if neighbor.local_address is None and neighbor.address in address.network:
                return unit, address.ip
    return None, neighbor.local_address


def _answered(
    router: Router,
    unit: _Unit,
    neighbor: _Neighbor,
    instance: _Instance,
    local: _Address | None,
) -> bool:
    """Whether a router of the segment is the neighbor and configures us as its neighbor."""
    for other in router.segments.neighbours(router):
        declared = _of(other)
        for theirs in declared.on_segment.get(unit.segment, ()):
            if not _up(other, theirs):
                continue
            if not any(a.ip == neighbor.address for a in theirs.addresses):
                continue
            peer_instance = declared.instances[declared.instance_of.get(theirs.name, MASTER)]
            for back in peer_instance.neighbors:
                if (
                    back.address == local
                    and back.local_address in (None, neighbor.address)
                    and neighbor.peer_as == peer_instance.local_as
                    and back.peer_as == instance.local_as
                ):
                    return True
    return False
