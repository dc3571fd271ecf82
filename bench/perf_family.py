"""``bench.perf`` section family: a gateway with its family, end to end, beside it alone.

The setup of the latency section (``bench.perf_flow``): etcd, one simulated pair
(``commit_delay`` 0) and a ``Service`` in this process. The operator's public IP pool for
the pair is applied once beforehand. Then, alternately, ``samples`` times each:

- a new gateway alone, in one ``desired.apply``;
- a new gateway with its family, in one ``desired.apply``, as ``inventory/family.yaml``
  has it: a public IP (a /28 from the pool), a network and a subnet (records, no jobs:
  ``READ_COMPLETE``), a gw_interface (VIP and the two routers' addresses in the subnet, a
  VRRP group) and two static routes via the tenant's router on the subnet, one to the
  public IP's block (which gets ``public_ip_id`` and waits for it), one elsewhere.

Each is timed from ``desired.apply`` until every member with jobs reads ``CREATE_COMPLETED``
in ``/state`` (one watch on ``/state``, opened before). The figure is the family's median
and p95; the baseline, the gateway alone measured the same way in the same run. The first
of each is left out (it opens the sessions).

Every gateway has its own VLAN unit and VRF (``tests.synthetic.gateways``); each family its
own subnet, public block, route destination and vrid, so no two samples share an address
or a VRRP group. Afterwards every router must carry every gateway (as in latency) and every
family: the block in the gateway's prefix list, its address with the VRRP group on the
unit, both routes in the VRF; and each gw_interface's ``/monitoring`` must read MASTER on
the primary, BACKUP on the secondary. Otherwise the run fails.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.perf_common import Figure, Section, bench_env, median, p95
from bench.perf_flow import check_routers, settle_resources, sim_reader
from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import read_config
from nornir_esi.contract.records import Monitoring, State
from nornir_esi.contract.resources import is_workable
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdServer
from tests.synthetic import (
    Item,
    gateways,
    overrides_for,
    pair_routers,
    pairs_of,
    resource_graph,
    router_names,
    router_specs,
)

__all__ = ["family_of", "family_section"]

GW = "internet_gateway"
# RFC 2544's benchmarking range; a pool of the sample's size (/23) unless more blocks are
# needed.
POOL_BASE = ipaddress.IPv4Address("198.18.0.0")
BLOCK = 28
SETTLED = {"primary": "MASTER", "secondary": "BACKUP"}
NAME = "gateway + family (public IP, gw_interface, 2 routes) /config -> all CREATE_COMPLETED"


def _pool(graph: list[Item], blocks: int) -> Item:
    """The operator's pool for the graph's (first) pair, room for ``blocks`` /28s."""
    pair = pairs_of(graph)[0]
    prefix = min(23, BLOCK - max(0, blocks - 1).bit_length())
    return (
        "public_ip_pool",
        {
            "id": str(uuid.uuid4()),
            "tenant_id": pair["ha_interface"]["tenant_id"],
            "ha_router_id": pair["ha_router"]["id"],
            "internet_service_id": pair["internet_service"]["id"],
            "subnet_ip": str(POOL_BASE),
            "submask_length": prefix,
            "ip_version": 4,
        },
    )


@dataclass(frozen=True)
class Family:
    """One gateway's family as applied, and what its routers must then carry."""

    gateway: dict[str, Any]
    items: list[Item]
    block: str  # the public IP's block: the pool's n-th /28, the lowest free one
    routes: dict[str, str]  # destination -> next hop
    addresses: dict[str, str]  # role -> the router's own address on the segment
    vip: str
    vrid: int

    def ids(self, resource_type: str) -> list[str]:
        """Ids of the members of ``resource_type``."""
        return [body["id"] for t, body in self.items if t == resource_type]


def family_of(gateway: Item, n: int) -> Family:
    """Family number ``n`` (from 0) of ``gateway``: every address and vrid its own.

    Subnet ``172.(16 + n // 256).(n % 256).0/24``: the tenant's router ``.1``, the VIP
    ``.151``, the routers ``.152`` and ``.153`` (as the sample); the public IP is the pool's
    ``n``-th /28 (allocated lowest first), the other route ``10.(100 + n // 256).(n % 256).0/24``.
    """
    _, gw = gateway
    if n >= 16 * 256:
        raise ValueError(f"family {n}: at most {16 * 256} (172.16.0.0/12 in /24s)")
    tenant = gw["tenant_id"]
    name = gw["name"]
    segment = ipaddress.IPv4Network(f"172.{16 + n // 256}.{n % 256}.0/24")
    host = {i: str(segment.network_address + i) for i in (1, 151, 152, 153)}
    block = f"{POOL_BASE + n * 2 ** (32 - BLOCK)}/{BLOCK}"
    other = f"10.{100 + n // 256}.{n % 256}.0/24"
    vrid = 1 + n % 255
    ids = {t: str(uuid.uuid4()) for t in ("public_ip", "network", "subnet", "gw_interface")}

    def member(resource_type: str, what: str, **fields: Any) -> Item:
        common = {"tenant_id": tenant, "name": f"{name}-{what}", "description": f"bench {what}"}
        member_id = ids.get(resource_type) or str(uuid.uuid4())  # two static routes
        return resource_type, {"id": member_id, **common, **fields}

    items = [
        gateway,
        member("public_ip", "public-ip", internet_gw_id=gw["id"], submask_length=BLOCK),
        member("network", "network", admin_state_up=True, plane="data", tags={}),
        member(
            "subnet", "subnet", network_id=ids["network"], cidr=str(segment),
            gateway_ip=host[1], ip_version=4, enable_dhcp=True, tags={},
        ),
        member(
            "gw_interface", "gw-interface", internet_gw_id=gw["id"], network_id=ids["network"],
            service_type="internet", vrid=vrid, gw_vipv4=host[151], primary_ipv4=host[152],
            secondary_ipv4=host[153], netmask=segment.prefixlen,
        ),
        member(
            "static_route", "route-public", internet_gw_id=gw["id"], service_type="internet",
            destination=block, nexthop=host[1],
        ),
        member(
            "static_route", "route-other", internet_gw_id=gw["id"], service_type="internet",
            destination=other, nexthop=host[1],
        ),
    ]  # fmt: skip
    return Family(
        gateway=gw,
        items=items,
        block=block,
        routes={block: host[1], other: host[1]},
        addresses={"primary": host[152], "secondary": host[153]},
        vip=host[151],
        vrid=vrid,
    )


@dataclass
class _Sample:
    """One apply's outcome: the time until all completed (None if not), per member its own."""

    seconds: float | None
    members: dict[str, float] = field(default_factory=dict)  # resource_type -> latest
    problems: list[str] = field(default_factory=list)


def _timed(store: Store, feed: Feed, items: list[Item], timeout: float, what: str) -> _Sample:
    """Apply ``items`` in one call; wait until each reads its terminal state on ``feed``.

    Members with jobs must reach ``CREATE_COMPLETED``, the others ``READ_COMPLETE``; the
    time is the last member with jobs.
    """
    want = {
        body["id"]: (t, "CREATE_COMPLETED" if is_workable(t) else "READ_COMPLETE")
        for t, body in items
    }
    out = _Sample(None)
    seen: dict[str, float] = {}
    began = time.perf_counter()
    desired.apply(store, items)
    deadline = time.monotonic() + timeout
    while len(seen) < len(want) and time.monotonic() < deadline:
        event = feed.get(timeout=1.0)
        if event is None or event.kind != "put":
            continue
        parsed = keys.parse_state_key(event.key)
        if parsed is None or parsed[1] not in want or parsed[1] in seen:
            continue
        resource_type, wanted = want[parsed[1]]
        state = State.from_value(event.value)
        if state.worker_state != wanted:
            out.problems.append(f"{what}: {resource_type} {parsed[1]}: {state}, not {wanted}")
            return out
        seen[parsed[1]] = time.perf_counter() - began
        out.members[resource_type] = max(out.members.get(resource_type, 0.0), seen[parsed[1]])
    if len(seen) < len(want):
        late = sorted(f"{t} {i}" for i, (t, _) in want.items() if i not in seen)
        out.problems.append(f"{what}: no terminal /state after {timeout:.0f} s: {late}")
        return out
    out.seconds = max(seen[body["id"]] for t, body in items if is_workable(t))
    return out


def _check_allocation(store: Store, family: Family) -> list[str]:
    """The public IP got the predicted block; the route to it knows its public IP."""
    (public_ip_id,) = family.ids("public_ip")
    public_ip = read_config(store, "public_ip", public_ip_id)
    cidr = None if public_ip is None else f"{public_ip.body.get('cidr')}/{BLOCK}"
    problems = []
    if cidr != family.block:
        problems.append(f"family: public_ip {public_ip_id} got {cidr}, not {family.block}")
    for route_id in family.ids("static_route"):
        route = read_config(store, "static_route", route_id)
        body = {} if route is None else route.body
        wanted = public_ip_id if body.get("destination") == family.block else None
        if body.get("public_ip_id") != wanted:
            problems.append(
                f"family: static_route {route_id} to {body.get('destination')}: public_ip_id "
                f"{body.get('public_ip_id')}, not {wanted}"
            )
    return problems


def _carries(sim: Simulator, name: str, role: str, family: Family) -> list[str]:
    """What router ``name`` (``role``) lacks of ``family``: block, VRRP address, routes."""
    gw = family.gateway
    vrf = gw["vrf_name"]
    physical, unit = str(gw[f"{role}_logical_interface_name"]).split(".")
    own = f"{family.addresses[role]}/24"

    def read() -> list[str]:
        running = sim.router(name).running
        lacks = []
        items = running.iterfind(
            f"policy-options/prefix-list[name='{vrf}_prefix']/prefix-list-item"
        )
        if family.block not in {i.findtext("name") for i in items}:
            lacks.append(f"prefix-list item {family.block}")
        group = running.find(
            f"interfaces/interface[name='{physical}']/unit[name='{unit}']/family/inet/"
            f"address[name='{own}']/vrrp-group[name='{family.vrid}']"
        )
        if group is None or group.findtext("virtual-address") != family.vip:
            lacks.append(f"{own} with vrrp-group {family.vrid} VIP {family.vip}")
        routes = {
            r.findtext("name"): r.findtext("next-hop")
            for r in running.iterfind(
                f"routing-instances/instance[name='{vrf}']/routing-options/static/route"
            )
        }
        lacks += [
            f"route {dest} next-hop {hop}"
            for dest, hop in family.routes.items()
            if routes.get(dest) != hop
        ]
        return lacks

    return sim.call(read)


def _check_families(
    sim: Simulator, store: Store, graph: list[Item], families: Iterable[Family]
) -> list[str]:
    """Each router carries each family (see the module); each gw_interface settled."""
    problems = []
    for family in families:
        for role, name in pair_routers(graph, family.gateway).items():
            lacks = _carries(sim, name, role, family)
            if lacks:
                problems.append(
                    f"family: router {name} lacks of gateway {family.gateway['name']}: "
                    + ", ".join(lacks)
                )
        for gw_interface_id in family.ids("gw_interface"):
            entry = store.get(keys.monitoring("gw_interface", gw_interface_id))
            status: Mapping[str, Any] = (
                {} if entry is None else Monitoring.from_value(entry.value).status
            )
            if status.get("status") != SETTLED:
                problems.append(f"family: gw_interface {gw_interface_id} /monitoring {status}")
    return problems


def family_section(*, samples: int, timeout: float) -> Section:
    """The family figures: ``samples`` gateways with their family, and as many alone.

    See the module's docstring; the first of each is a warm-up, left out.
    """
    out = Section()
    graph = resource_graph(1)
    names = router_names(graph)
    burst = gateways(graph, 2 * samples)
    alone, with_family = burst[0::2], burst[1::2]
    families = [family_of(gateway, n) for n, gateway in enumerate(with_family)]
    pool = _pool(graph, len(families))
    ours: list[float] = []
    base: list[float] = []
    members: dict[str, list[float]] = {}
    with (
        bench_env() as tmp,
        EtcdServer("perf-family") as etcd,
        Simulator(router_specs(graph), commit_delay=0.0) as sim,
    ):
        store = etcd.client(timeout=10.0)
        try:
            with Service(store, inventory=str(overrides_for(sim, names, tmp)), workers=1):
                settle_resources(store, [*graph, pool], timeout)
                with Feed(store, [keys.STATE_PREFIX], start_revision=store.revision() + 1) as feed:
                    for gateway, family in zip(alone, families, strict=True):
                        one = _timed(store, feed, [gateway], timeout, "family baseline")
                        full = _timed(store, feed, family.items, timeout, "family")
                        out.problems += one.problems + full.problems
                        if one.seconds is None or full.seconds is None:
                            break
                        out.problems += _check_allocation(store, family)
                        base.append(one.seconds)
                        ours.append(full.seconds)
                        for resource_type, seconds in full.members.items():
                            members.setdefault(resource_type, []).append(seconds)
            out.problems += check_routers(sim_reader(sim), graph, burst[: 2 * len(ours)], "family")
            out.problems += _check_families(sim, store, graph, families[: len(ours)])
        finally:
            store.close()
    # The first of each opens the sessions (and warms imports): left out of both.
    ours, base = ours[1:], base[1:]
    out.notes = {
        "samples": len(ours),
        "service": "in this process: a job manager and one worker (64 slots), threads",
        "family": "public_ip /28 from a pool, network, subnet /24, gw_interface, 2 static_routes",
        "baseline": "the gateway alone, one apply each, alternating with the families",
        # Each sample in order: a rise along the run is the routers' growing configuration,
        # a scatter the machine's load.
        "family_s": [round(v, 3) for v in ours],
        "alone_s": [round(v, 3) for v in base],
        "member_median_s": {t: round(median(v[1:]), 3) for t, v in members.items() if len(v) > 1},
    }
    if not ours or not base:
        return out
    out.figures += [
        Figure("family", f"{NAME}, median", median(ours), "s", goal=("<=", 1.0),
               baseline=median(base), baseline_name="the gateway alone",
               ratio=median(ours) / median(base), ratio_means="value/baseline",
               extra={"samples": len(ours)}),
        Figure("family", f"{NAME}, p95", p95(ours), "s", goal=("<=", 1.0), baseline=p95(base),
               baseline_name="the gateway alone", ratio=p95(ours) / p95(base),
               ratio_means="value/baseline"),
    ]  # fmt: skip
    return out
