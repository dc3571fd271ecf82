"""Read whether a router forwards for a gateway: VRRP, iBGP, routes, prefix-list items.

The RPCs are Junos's (``show vrrp``, ``show bgp neighbor instance``, ``show route table``,
``show configuration``); each reader takes the Nornir task of a router with a session and
returns plain values, so the post-commit verifiers, the monitoring worker and
``nornir-esi status`` read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from nornir.core.task import Result, Task

from nornir_esi.device.rpc import call, leaf, sub

__all__ = [
    "BgpPeer",
    "Route",
    "Vrrp",
    "bgp_peers",
    "collect_forwarding",
    "counting_terms",
    "prefix_list_items",
    "routes",
    "vrrp_groups",
]


@dataclass(frozen=True)
class Vrrp:
    """One VRRP group on a logical interface: its vrid, state, own address and VIP."""

    interface: str
    group: int
    state: str
    local_address: str
    virtual_address: str


@dataclass(frozen=True)
class BgpPeer:
    """One BGP neighbor: its address, state, group and routing instance."""

    address: str
    state: str
    group: str
    instance: str


@dataclass(frozen=True)
class Route:
    """One route of a table: destination, protocol, next hops, whether it is active."""

    destination: str
    protocol: str
    next_hops: tuple[str, ...]
    active: bool


def _text(el: etree._Element, name: str) -> str:
    return (el.findtext(f"{{*}}{name}") or "").strip()


def _address(text: str) -> str:
    """``172.16.101.153+179`` -> ``172.16.101.153`` (Junos appends the port)."""
    return text.split("+", 1)[0]


def vrrp_groups(task: Task, step: str, interfaces: Sequence[str] = ()) -> list[Vrrp]:
    """The VRRP groups of ``interfaces`` (all when empty), as ``show vrrp`` lists them."""
    rpc = leaf("get-vrrp-information")
    if len(interfaces) == 1:
        sub(rpc, "interface", interfaces[0])
    reply = call(task, step, rpc)
    wanted = set(interfaces)
    out: list[Vrrp] = []
    for entry in reply.iter("{*}vrrp-interface"):
        interface = _text(entry, "interface")
        if wanted and interface not in wanted:
            continue
        group = _text(entry, "group")
        out.append(
            Vrrp(
                interface=interface,
                group=int(group) if group.isdigit() else 0,
                state=_text(entry, "vrrp-state"),
                local_address=_text(entry, "local-interface-address"),
                virtual_address=_text(entry, "virtual-ip-address"),
            )
        )
    return out


def bgp_peers(task: Task, step: str, instance: str) -> list[BgpPeer]:
    """The BGP neighbors of routing instance ``instance``."""
    rpc = leaf("get-bgp-neighbor-information")
    sub(rpc, "instance", instance)
    reply = call(task, step, rpc)
    return [
        BgpPeer(
            address=_address(_text(peer, "peer-address")),
            state=_text(peer, "peer-state"),
            group=_text(peer, "peer-group"),
            instance=_text(peer, "peer-cfg-rti") or instance,
        )
        for peer in reply.iter("{*}bgp-peer")
    ]


def routes(task: Task, step: str, table: str) -> list[Route]:
    """Every route of ``table`` (``<vrf>.inet.0``), active or not."""
    rpc = leaf("get-route-information")
    sub(rpc, "table", table)
    reply = call(task, step, rpc)
    out: list[Route] = []
    for rt in reply.iter("{*}rt"):
        destination = _text(rt, "rt-destination")
        for entry in rt.iterfind("{*}rt-entry"):
            hops = tuple(
                hop
                for nh in entry.iterfind("{*}nh")
                if (hop := _text(nh, "to") or _text(nh, "via"))
            )
            active = (
                _text(entry, "active-tag") == "*" or entry.find("{*}current-active") is not None
            )
            out.append(Route(destination, _text(entry, "protocol-name"), hops, active))
    return out


def prefix_list_items(task: Task, step: str, name: str) -> list[str] | None:
    """The items of prefix-list ``name`` in the committed configuration; None without it."""
    rpc = leaf("get-configuration")
    rpc.set("database", "committed")
    configuration = sub(rpc, "configuration")
    prefix_list = sub(sub(configuration, "policy-options"), "prefix-list")
    sub(prefix_list, "name", name)
    reply = call(task, step, rpc)
    for found in reply.iter("{*}prefix-list"):
        if _text(found, "name") == name:
            return [_text(item, "name") for item in found.iterfind("{*}prefix-list-item")]
    return None


def counting_terms(task: Task, step: str, prefix_list: str) -> list[tuple[str, str, str]]:
    """``(filter, counter, match)`` of each committed inet filter term counting ``prefix_list``.

    A term whose ``from`` names the list (``match``: ``source-prefix-list`` or
    ``destination-prefix-list``) and whose ``then`` counts: what counts a public IP's
    traffic, in (to the block) and out (from it).
    """
    rpc = leaf("get-configuration")
    rpc.set("database", "committed")
    sub(sub(sub(sub(rpc, "configuration"), "firewall"), "family"), "inet")
    reply = call(task, step, rpc)
    out: list[tuple[str, str, str]] = []
    for filter_ in reply.iter("{*}filter"):
        filter_name = _text(filter_, "name")
        for term in filter_.iterfind("{*}term"):
            counter = (term.findtext("{*}then/{*}count") or "").strip()
            if not counter:
                continue
            for match in ("source-prefix-list", "destination-prefix-list"):
                names = [_text(n, "name") for n in term.iterfind(f"{{*}}from/{{*}}{match}")]
                if prefix_list in names:
                    out.append((filter_name, counter, match))
    return out


def collect_forwarding(
    task: Task,
    *,
    interfaces: Sequence[str] = (),
    instance: str = "",
) -> Result:
    """VRRP of ``interfaces`` and, for routing ``instance``, its BGP peers and routes.

    ``{"vrrp": [...], "bgp": [...], "routes": [...]}`` of :class:`Vrrp`, :class:`BgpPeer`
    and :class:`Route`; reading changes nothing.
    """
    state: dict[str, object] = {
        "vrrp": vrrp_groups(task, "vrrp", interfaces) if interfaces else [],
        "bgp": bgp_peers(task, "bgp", instance) if instance else [],
        "routes": routes(task, "routes", f"{instance}.inet.0") if instance else [],
    }
    return Result(host=task.host, result=state, changed=False)
