"""Synthetic resource graphs: N independent copies of the sample graph, and gateways on them.

Copy ``n`` of ``inventory/resources.yaml`` gets new UUIDs everywhere (references follow),
routers ``pe{n}-a`` (the HA pair's primary) and ``pe{n}-b`` (secondary) at 10.200.n.1 and
10.200.n.2. Those addresses are never contacted: :func:`overrides_for` writes the inventory
file mapping each router name to a simulated router on 127.0.0.1::

    graph = resource_graph(5)
    names = router_names(graph)
    with Simulator(router_specs(graph), minute=0.5) as sim:
        inventory = overrides_for(sim, names, tmp_path)
        desired.apply(store, graph)
        desired.apply(store, gateways(graph, 200))
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import State
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.store.base import Store

__all__ = [
    "FIRST_VLAN",
    "CommitLog",
    "Item",
    "carried",
    "carried_in",
    "expected",
    "gateways",
    "overrides_for",
    "pair_routers",
    "pairs_of",
    "qos_20m",
    "qos_inputs",
    "resource_graph",
    "router_names",
    "router_specs",
]

INVENTORY = Path(__file__).parent.parent / "inventory"
# restricted_vlans of the sample HA interface is "0-1024,4094": 1025..4093 are free.
FIRST_VLAN = 1025
LAST_VLAN = 4093

Item = tuple[str, dict[str, Any]]


def _sample() -> list[Item]:
    return desired.load_file(INVENTORY / "resources.yaml")


def _replace_ids(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_replace_ids(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _replace_ids(v, ids) for k, v in value.items()}
    return value


def resource_graph(pairs: int, *, start: int = 0) -> list[Item]:
    """``pairs`` independent copies of the sample resource graph, numbered from ``start``.

    In dependency order (routers first), as ``desired.apply`` takes them in one batch.
    """
    if start < 0 or start + pairs > 256:
        raise ValueError(f"pairs {start}..{start + pairs - 1}: at most 256 (10.200.n.x)")
    sample = _sample()
    primary_id = next(b["primary_router_id"] for t, b in sample if t == "ha_router")
    out: list[Item] = []
    for n in range(start, start + pairs):
        ids = {body["id"]: str(uuid.uuid4()) for _, body in sample}
        for resource_type, body in sample:
            new = _replace_ids(copy.deepcopy(body), ids)
            if resource_type == "edge_router":
                primary = body["id"] == primary_id
                new["name"] = f"pe{n}-{'a' if primary else 'b'}"
                new["ip"] = f"10.200.{n}.{1 if primary else 2}"
                new["description"] = f"pe{n} {'primary' if primary else 'secondary'}"
            elif resource_type in ("ha_router", "ha_interface", "internet_service", "qos_option"):
                new["name"] = f"pe{n}-{body['name']}"
            out.append((resource_type, new))
    return out


def pairs_of(graph: Iterable[Item]) -> list[dict[str, dict[str, Any]]]:
    """Per pair of ``graph``: its resources by type (one each)."""
    pairs: list[dict[str, dict[str, Any]]] = []
    current: dict[str, dict[str, Any]] = {}
    for resource_type, body in graph:
        if resource_type == "edge_router" and "ha_router" in current:
            pairs.append(current)
            current = {}
        if resource_type in ("edge_router", "er_physical_interface"):
            # Two of each: keep both, by role below.
            current.setdefault(f"{resource_type}s", {})[body["id"]] = body  # type: ignore[index]
        else:
            current[resource_type] = body
    if current:
        pairs.append(current)
    return pairs


def router_names(graph: Iterable[Item]) -> dict[str, str]:
    """Router name -> role (``primary``/``secondary``) for every router of ``graph``."""
    return {name: role for name, (role, _) in _router_places(graph).items()}


def _router_places(graph: Iterable[Item]) -> dict[str, tuple[str, str]]:
    """Router name -> (role, its pair's HA router name)."""
    places: dict[str, tuple[str, str]] = {}
    for pair in pairs_of(graph):
        ha = pair["ha_router"]
        routers = pair["edge_routers"]
        places[routers[ha["primary_router_id"]]["name"]] = ("primary", ha["name"])
        places[routers[ha["secondary_router_id"]]["name"]] = ("secondary", ha["name"])
    return places


def router_specs(graph: Iterable[Item]) -> list[RouterSpec]:
    """Simulator routers for every router of ``graph``, on ephemeral loopback ports.

    Each pair on its own L2 segment (labelled by its HA router): pairs reuse VLAN ids, and
    routers of different pairs must not elect VRRP masters among each other.
    """
    return [
        RouterSpec(name, "127.0.0.1", 0, role=role, segment=segment)  # type: ignore[arg-type]
        for name, (role, segment) in _router_places(graph).items()
    ]


def gateways(graph: Iterable[Item], count: int, *, first_vlan: int = FIRST_VLAN) -> list[Item]:
    """``count`` gateways spread round-robin over the pairs of ``graph``.

    Gateway ``i`` goes to pair ``i % pairs`` on VLAN ``first_vlan + i // pairs``; its VRF
    is named after its pair and VLAN, so VRF names are unique across the whole graph.
    """
    ((gw_type, seed),) = desired.load_file(INVENTORY / "gateway.yaml")
    pairs = pairs_of(graph)
    if not pairs:
        raise ValueError("the graph has no pair")
    out: list[Item] = []
    for i in range(count):
        pair = pairs[i % len(pairs)]
        vlan = first_vlan + i // len(pairs)
        if vlan > LAST_VLAN:
            raise ValueError(f"{count} gateways do not fit in VLANs {first_vlan}..{LAST_VLAN}")
        ha_interface = pair["ha_interface"]
        interfaces = pair["er_physical_interfaces"]
        primary_if = interfaces[ha_interface["primary_interface_id"]]["name"]
        secondary_if = interfaces[ha_interface["secondary_interface_id"]]["name"]
        prefix = pair["ha_router"]["name"].split("-", 1)[0]  # pe{n}
        body = dict(
            seed,
            id=str(uuid.uuid4()),
            name=f"{prefix}-gw-{vlan}",
            vlan_id=str(vlan),
            vrf_name=f"vrf_gw_{prefix}_{vlan}",
            downlink_interface_id=ha_interface["id"],
            internet_service_id=pair["internet_service"]["id"],
            qos_option_id=pair["qos_option"]["id"],
            tenant_id=ha_interface["tenant_id"],
            primary_logical_interface_name=f"{primary_if}.{vlan}",
            secondary_logical_interface_name=f"{secondary_if}.{vlan}",
            description=f"synthetic gateway {i}",
        )
        out.append((gw_type, body))
    return out


def pair_routers(graph: Iterable[Item], gateway: Mapping[str, Any]) -> dict[str, str]:
    """Role -> router name of the pair ``gateway`` lives on."""
    for pair in pairs_of(graph):
        if pair["ha_interface"]["id"] == gateway["downlink_interface_id"]:
            ha = pair["ha_router"]
            routers = pair["edge_routers"]
            return {
                "primary": routers[ha["primary_router_id"]]["name"],
                "secondary": routers[ha["secondary_router_id"]]["name"],
            }
    raise KeyError(f"gateway {gateway['id']}: its downlink is not in the graph")


def overrides_for(sim: Simulator, names: Iterable[str], directory: Path | None = None) -> Path:
    """The inventory overrides file mapping each router of ``names`` to ``sim``'s router.

    Written to ``directory`` (default: a new temporary directory); returns its path.
    """
    if directory is None:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="synthetic-inventory-"))
    hosts = {}
    for name in names:
        host, port = sim.address(name)
        hosts[name] = {"hostname": host, "port": port}
    path = directory / "synthetic-hosts.yaml"
    path.write_text(yaml.safe_dump(hosts))
    return path


def carried(sim: Simulator, name: str) -> dict[str, Any]:
    """What gateways router ``name`` of ``sim`` carries in its running configuration.

    See :func:`carried_in`.
    """
    return sim.call(lambda: carried_in(sim.router(name).running))


def carried_in(running: Any) -> dict[str, Any]:
    """What gateways a running configuration (a Junos ``configuration`` element) carries.

    ``units``: ae0 unit -> its input filter (the QoS option); ``vrfs``: the ``vrf_*``
    routing instances;
    ``terms``: the gateway terms of INET_IN, INET_OUT and INSTANCE-MASTER_IN (a list: a
    duplicate would show); ``prefix_lists``: the gateways' prefix lists.
    """
    units = {
        unit.findtext("name"): unit.findtext("family/inet/filter/input/filter-name")
        for unit in running.iterfind("interfaces/interface[name='ae0']/unit")
    }
    vrfs = sorted(
        vrf
        for i in running.iterfind("routing-instances/instance")
        if (vrf := i.findtext("name") or "").startswith("vrf_")
    )
    terms = sorted(
        f"{parent}/{t.findtext('name')}"
        for parent, path in (
            ("INET_IN", "firewall/family/inet/filter[name='INET_IN']/term"),
            ("INET_OUT", "firewall/family/inet/filter[name='INET_OUT']/term"),
            (
                "INSTANCE-MASTER_IN",
                "policy-options/policy-statement[name='INSTANCE-MASTER_IN']/term",
            ),
        )
        for t in running.iterfind(path)
        if t.findtext("name") != "all-accept"
    )
    prefix_lists = sorted(
        p.findtext("name") or ""
        for p in running.iterfind("policy-options/prefix-list")
        if (p.findtext("name") or "").startswith("vrf_")
    )
    return {"units": units, "vrfs": vrfs, "terms": terms, "prefix_lists": prefix_lists}


def expected(
    gateway_bodies: Iterable[Mapping[str, Any]], qos_input: Mapping[str, str]
) -> dict[str, Any]:
    """What :func:`carried` shows on a router that carries exactly ``gateway_bodies``.

    ``qos_input``: qos_option id -> the input filter it puts on the unit.
    """
    bodies = list(gateway_bodies)
    return {
        "units": {str(b["vlan_id"]): qos_input[b["qos_option_id"]] for b in bodies},
        "vrfs": sorted(b["vrf_name"] for b in bodies),
        "terms": sorted(
            [f"INET_IN/{b['vrf_name']}_filter" for b in bodies]
            + [f"INET_OUT/{b['vrf_name']}_filter" for b in bodies]
            + [f"INSTANCE-MASTER_IN/{b['vrf_name']}" for b in bodies]
        ),
        "prefix_lists": sorted(f"{b['vrf_name']}_prefix" for b in bodies),
    }


def qos_inputs(graph: Iterable[Item]) -> dict[str, str]:
    """qos_option id -> the unit's input filter (``FILTER_<incoming_policer_name>``)."""
    return {
        body["id"]: f"FILTER_{body['incoming_policer_name']}"
        for resource_type, body in graph
        if resource_type == "qos_option"
    }


def qos_20m(graph: Iterable[Item]) -> list[Item]:
    """Per pair of ``graph``, a second QoS option (20 Mbit/s; day-0 has its filters)."""
    out: list[Item] = []
    for pair in pairs_of(graph):
        qos = pair["qos_option"]
        out.append(
            (
                "qos_option",
                dict(
                    qos,
                    id=str(uuid.uuid4()),
                    name=qos["name"].replace("10Mbps", "20Mbps"),
                    bandwidth="20",
                    incoming_policer_name="20M-GA-UP-INET",
                    outgoing_policer_name="20M-GA-DOWN-INET",
                ),
            )
        )
    return out


class CommitLog:
    """Every commit applied on the simulator's routers, unbounded (the router's own
    history keeps the newest 50): per router name, ``(comment, confirmed)`` in order.

    Installed on the router instances (the simulator runs in this process)::

        log = CommitLog(sim)
        ...
        log.final("pe0-a")  # comments of the commits made without a confirm timer
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.commits: dict[str, list[tuple[str, bool]]] = {name: [] for name in sim.routers}

        def install() -> None:
            for name, router in sim.routers.items():
                original = router._apply
                entries = self.commits[name]

                def apply(
                    config: Any,
                    *,
                    comment: str,
                    confirmed: bool,
                    _original: Any = original,
                    _entries: list[tuple[str, bool]] = entries,
                    **kwargs: Any,
                ) -> None:
                    _original(config, comment=comment, confirmed=confirmed, **kwargs)
                    _entries.append((comment, confirmed))

                router._apply = apply  # type: ignore[method-assign]

        sim.call(install)

    def final(self, name: str) -> list[str]:
        """Comments of ``name``'s plain commits (no confirm timer), oldest first."""
        return self.sim.call(lambda: [c for c, confirmed in self.commits[name] if not confirmed])

    def remove(self) -> None:
        def uninstall() -> None:
            for router in self.sim.routers.values():
                router.__dict__.pop("_apply", None)

        self.sim.call(uninstall)


def gateway_states(store: Store, ids: set[str]) -> dict[str, State]:
    """The ``/state`` of each gateway in ``ids`` that has one."""
    out = {}
    for entry in store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, "internet_gateway")):
        parsed = keys.parse_state_key(entry.key)
        if parsed is not None and parsed[1] in ids:
            out[parsed[1]] = State.from_value(entry.value)
    return out


def _created(comment: str) -> list[str]:
    """The gateway ids of the create jobs a commit comment names (none for a rollback)."""
    if comment.startswith("rollback of "):
        return []
    return [job.split(":")[3] for job in comment.split() if job.startswith("create:heat_worker:")]


def assert_routers_carry(
    sim: Simulator, graph: Iterable[Item], burst: Iterable[Item], commits: CommitLog
) -> None:
    """Each router carries exactly its gateways of ``burst``: each committed (a trial commit
    whose worker died is confirmed by any later commit, as on Junos), none finally twice,
    and no confirm timer left pending that could still revert one."""
    graph = list(graph)
    on_router: dict[str, list[dict[str, Any]]] = {name: [] for name in router_names(graph)}
    for _, body in burst:
        for name in pair_routers(graph, body).values():
            on_router[name].append(body)
    qos = qos_inputs(graph)
    for name, bodies in on_router.items():
        assert carried(sim, name) == expected(bodies, qos), name
        every = sim.call(lambda n=name: list(commits.commits[n]))
        # A coalesced transaction's comment names each of its jobs, separated by spaces,
        # also a job re-run after its worker died whose part changed nothing this time:
        # a change applied twice shows as a job committed alone twice.
        alone = [ids[0] for c, confirmed in every if not confirmed and len(ids := _created(c)) == 1]
        assert len(alone) == len(set(alone)), (name, "a gateway committed twice", alone)
        committed = {gateway for c, _ in every for gateway in _created(c)}
        assert committed == {b["id"] for b in bodies}, name
        router = sim.router(name)
        assert sim.call(lambda r=router: (r.lock_owner, r.confirm_pending)) == (None, False), name
