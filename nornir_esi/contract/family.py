"""The gateway's family, checked as a whole: what one body cannot tell by itself.

:func:`nornir_esi.contract.resources.validate` checks each body and its references; a
batch's family members are then checked against each other and against ``/config``
(:func:`complete`, called by :func:`nornir_esi.contract.desired.validate_batch`):

- **subnet**: ``gateway_ip`` inside its ``cidr``, neither its network nor its broadcast
  address; subnets of one network disjoint.
- **public_ip**: ``submask_length`` at least the internet service's
  ``minimal_submask_length``, at most 32; a block allocated from a pool of the gateway's
  HA router and internet service (:mod:`nornir_esi.contract.pools`), the pool's new state
  joining the batch.
- **gw_interface**: at most one per gateway; the VIP and the two routers' addresses
  distinct, inside one subnet of its network whose prefix is ``netmask``, none of them the
  subnet's network or broadcast address.
- **static_route**: ``destination`` normalised (``203.0.112.5/28`` -> ``203.0.112.0/28``, an
  address -> ``/32``); its gateway has a gw_interface and the next hop is a host of that
  gw_interface's subnet, not one of the gateway's own addresses; no other route of the
  gateway has that destination; at most the gateway's ``maximum_static_routes`` (else the
  internet service's ``default_static_routes_per_gateway``, else 32); ``public_ip_id`` set
  to the gateway's public IP whose block is the destination.
- On delete (:func:`refuse_delete`): a subnet that holds a gw_interface's addresses, and a
  gw_interface whose gateway still has static routes (their next hops resolve over its
  segment), stay until those go (or go in the same batch), as references hold their
  targets.
- On update: a field the origin's schema makes create-only keeps its value; a computed one
  (set by the service) is carried over. A gateway with family members keeps the fields
  that name the objects they live in (its VLAN, VRF, downlink and logical interfaces):
  its members' configuration is inside them (:mod:`nornir_esi.services.carried`).

Each refusal names the resource and the field, and nothing is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import pools
from nornir_esi.contract.config import ConfigLookup
from nornir_esi.contract.resources import RESOURCE_TYPES, object_name
from nornir_esi.exceptions import ConflictError, ValidationError

__all__ = [
    "DEFAULT_STATIC_ROUTES",
    "GATEWAY_HOLDS",
    "MEMBERS",
    "NEEDED_BY",
    "complete",
    "refuse_delete",
    "subnet_of_gw_interface",
]

DEFAULT_STATIC_ROUTES = 32
# What a member's delete must wait for beyond references (:func:`refuse_delete`): the type
# whose resources may still need it.
NEEDED_BY = {"subnet": "gw_interface", "gw_interface": "static_route"}

_Batch = list[tuple[str, dict[str, Any]]]

# The family's device members, by their ``internet_gw_id``.
MEMBERS = ("public_ip", "gw_interface", "static_route")
# A gateway's fields its members' configuration lives under.
GATEWAY_HOLDS = (
    "downlink_interface_id",
    "vlan_id",
    "vrf_name",
    "primary_logical_interface_name",
    "secondary_logical_interface_name",
)


def complete(batch: _Batch, lookup: ConfigLookup) -> _Batch:
    """``batch`` checked as a family, with what the service fills in; see the module.

    ``lookup`` sees the batch over ``/config`` (live resources only); its pending bodies are
    updated with the completed ones. Pools whose state an allocation changed join the batch
    (or are updated in it).
    """
    out: _Batch = []
    for resource_type, body in batch:
        current = lookup.stored(resource_type, str(body.get("id", "")))
        body = _keep_fixed(resource_type, body, current)
        out.append((resource_type, body))
        lookup.pending[(resource_type, str(body["id"]))] = body
    # In the order the checks need: pools before the blocks they give, the blocks and the
    # segment before the routes.
    _check_units(out, lookup)
    for resource_type, check in _CHECKS.items():
        for n in range(len(out)):
            kind, body = out[n]
            if kind != resource_type:
                continue
            body = check(body, lookup, out)
            out[n] = (kind, body)
            lookup.pending[(kind, str(body["id"]))] = body
    return out


def _units(body: Mapping[str, Any], lookup: ConfigLookup) -> list[tuple[str, tuple[str, str]]]:
    """``(role, (router id, unit))`` of a gateway's two units, as far as its records say."""
    ha = lookup("ha_interface", str(body.get("downlink_interface_id"))) or {}
    out = []
    for role in ("primary", "secondary"):
        member = lookup("er_physical_interface", str(ha.get(f"{role}_interface_id"))) or {}
        unit = body.get(f"{role}_logical_interface_name")
        if member.get("device_id") and unit:
            out.append((role, (str(member["device_id"]), str(unit))))
    return out


def _check_units(batch: _Batch, lookup: ConfigLookup) -> None:
    """No two gateways on one unit of a router (the same VLAN on the same interface).

    Checked against every gateway of ``/config``, those being deleted too (a unit is on the
    routers until its gateway's delete has run), and the batch's own, once per batch: one
    pass over the gateways, however many the batch holds.
    """
    gateways = [body for kind, body in batch if kind == "internet_gateway"]
    if not gateways:
        return
    ids = {str(body["id"]) for body in gateways}
    taken: dict[tuple[str, str], str] = {}
    for rid, other in ConfigLookup(lookup.store).all_of("internet_gateway"):
        if rid not in ids:
            for _, key in _units(other, lookup):
                taken[key] = rid
    for body in gateways:
        rid = str(body["id"])
        for role, key in _units(body, lookup):
            holder = taken.setdefault(key, rid)
            if holder != rid:
                raise ConflictError(
                    object_name("internet_gateway", body),
                    "vlan_id",
                    f"{body.get('vlan_id')} is taken: internet_gateway {holder} has unit "
                    f"{key[1]} on the {role} router",
                )


def _keep_fixed(
    resource_type: str, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    obj = object_name(resource_type, body)
    fields = RESOURCE_TYPES[resource_type].fields.values()
    if current is None:
        for spec in fields:
            if spec.computed and body.get(spec.name) not in (None, "", [], "NO_STATE"):
                raise ValidationError(obj, spec.name, "is set by the service; leave it out")
        return body
    out = dict(body)
    for spec in fields:
        if spec.computed:
            if spec.name not in body or body[spec.name] is None:
                if current.get(spec.name) is not None:
                    out[spec.name] = current[spec.name]
            elif body[spec.name] != current.get(spec.name):
                raise ValidationError(obj, spec.name, "is set by the service; leave it out")
        elif spec.create_only and body.get(spec.name) != current.get(spec.name):
            if spec.name == "cidr" and not body.get("cidr"):
                out["cidr"] = current.get("cidr")  # the allocation stays
                continue
            raise ValidationError(
                obj,
                spec.name,
                f"cannot change after create ({current.get(spec.name)!r} -> "
                f"{body.get(spec.name)!r}): delete the {resource_type} and create it again",
            )
    return out


# --- per type --------------------------------------------------------------------------


def _network(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text, strict=False)


def _check_subnet(body: dict[str, Any], lookup: ConfigLookup, batch: _Batch) -> dict[str, Any]:
    obj = object_name("subnet", body)
    network = _network(str(body["cidr"]))
    gateway_ip = body.get("gateway_ip")
    if gateway_ip:
        address = ipaddress.IPv4Address(gateway_ip)
        if address not in network:
            raise ValidationError(obj, "gateway_ip", f"{gateway_ip} is outside cidr {network}")
        if network.prefixlen < 31 and address in (
            network.network_address,
            network.broadcast_address,
        ):
            raise ValidationError(
                obj, "gateway_ip", f"{gateway_ip} is the network or broadcast address of {network}"
            )
    for rid, other in lookup.all_of("subnet"):
        if rid == body["id"] or other.get("network_id") != body["network_id"]:
            continue
        if _network(str(other.get("cidr"))).overlaps(network):
            raise ValidationError(
                obj,
                "cidr",
                f"{network} overlaps subnet {rid} ({other.get('cidr')}) of network "
                f"{body['network_id']}",
            )
    return body


def _check_public_ip(body: dict[str, Any], lookup: ConfigLookup, batch: _Batch) -> dict[str, Any]:
    obj = object_name("public_ip", body)
    prefix = int(body["submask_length"])
    gateway = lookup("internet_gateway", str(body["internet_gw_id"])) or {}
    service = lookup("internet_service", str(gateway.get("internet_service_id"))) or {}
    minimal = service.get("minimal_submask_length")
    if prefix > 32:
        raise ValidationError(obj, "submask_length", f"{prefix} is above 32")
    if isinstance(minimal, int) and prefix < minimal:
        raise ValidationError(
            obj,
            "submask_length",
            f"{prefix} is below the internet service's minimal_submask_length {minimal}",
        )
    if body.get("ip_pool_id") and body.get("cidr"):
        return body  # allocated before: an update
    downlink = lookup("ha_interface", str(gateway.get("downlink_interface_id"))) or {}
    ha_router = downlink.get("ha_router_id")
    candidates = [
        (rid, pool)
        for rid, pool in sorted(lookup.all_of("public_ip_pool"))
        if pool.get("ha_router_id") == ha_router
        and pool.get("internet_service_id") == gateway.get("internet_service_id")
    ]
    if not candidates:
        raise ValidationError(
            obj,
            "internet_gw_id",
            f"no public_ip_pool serves its HA router {ha_router} and internet service "
            f"{gateway.get('internet_service_id')}",
        )
    wanted = str(body.get("cidr") or "")
    for rid, pool in candidates:
        pool_obj = object_name("public_ip_pool", pool)
        if wanted and not _network(f"{wanted}/{prefix}").subnet_of(
            _network(f"{pool['subnet_ip']}/{pool['submask_length']}")
        ):
            continue
        found = pools.allocate(pool_obj, pool, prefix, wanted=wanted)
        if found is None:
            continue
        address, state = found
        new_pool = {**pool, **state}
        _put(batch, "public_ip_pool", new_pool)
        lookup.pending[("public_ip_pool", rid)] = new_pool
        return {**body, "cidr": address, "ip_pool_id": rid}
    raise ValidationError(
        obj,
        "cidr" if wanted else "submask_length",
        f"{wanted}/{prefix} is taken or in no pool"
        if wanted
        else f"no room for a /{prefix} in the public_ip_pools "
        f"{', '.join(rid for rid, _ in candidates)}",
    )


def _put(batch: _Batch, resource_type: str, body: dict[str, Any]) -> None:
    for n, (kind, old) in enumerate(batch):
        if kind == resource_type and old.get("id") == body["id"]:
            batch[n] = (kind, body)
            return
    batch.append((resource_type, body))


def _check_public_ip_pool(
    body: dict[str, Any], lookup: ConfigLookup, batch: _Batch
) -> dict[str, Any]:
    obj = object_name("public_ip_pool", body)
    network = ipaddress.IPv4Network(f"{body['subnet_ip']}/{body['submask_length']}", strict=False)
    if str(network.network_address) != body["subnet_ip"]:
        raise ValidationError(
            obj, "subnet_ip", f"{body['subnet_ip']} is not the network address of {network}"
        )
    for rid, other in lookup.all_of("public_ip_pool"):
        if rid == body["id"]:
            continue
        theirs = _network(f"{other.get('subnet_ip')}/{other.get('submask_length')}")
        if theirs.overlaps(network):
            raise ValidationError(obj, "subnet_ip", f"{network} overlaps public_ip_pool {rid}")
    return {**body, **pools.fresh_state(obj, body)}


def subnet_of_gw_interface(
    body: Mapping[str, Any], lookup: ConfigLookup
) -> tuple[str, ipaddress.IPv4Network] | None:
    """``(id, network)`` of the subnet of the gw_interface's network holding its addresses."""
    address = ipaddress.IPv4Address(str(body["primary_ipv4"]))
    for rid, subnet in sorted(lookup.all_of("subnet")):
        if subnet.get("network_id") != body.get("network_id"):
            continue
        network = _network(str(subnet.get("cidr")))
        if address in network and network.prefixlen == body.get("netmask"):
            return rid, network
    return None


def _check_gw_interface(
    body: dict[str, Any], lookup: ConfigLookup, batch: _Batch
) -> dict[str, Any]:
    obj = object_name("gw_interface", body)
    for rid, other in lookup.all_of("gw_interface"):
        if rid != body["id"] and other.get("internet_gw_id") == body["internet_gw_id"]:
            raise ValidationError(
                obj,
                "internet_gw_id",
                f"internet_gateway {body['internet_gw_id']} has gw_interface {rid} already "
                "(at most one per gateway)",
            )
    fields = ("gw_vipv4", "primary_ipv4", "secondary_ipv4")
    seen: dict[str, str] = {}
    for field in fields:
        value = str(body[field])
        if value in seen:
            raise ValidationError(obj, field, f"{value} is also its {seen[value]}")
        seen[value] = field
    found = subnet_of_gw_interface(body, lookup)
    if found is None:
        raise ValidationError(
            obj,
            "primary_ipv4",
            f"{body['primary_ipv4']}/{body['netmask']} is in no subnet of network "
            f"{body['network_id']} with prefix /{body['netmask']}",
        )
    subnet_id, network = found
    for field in fields:
        address = ipaddress.IPv4Address(str(body[field]))
        if address not in network:
            raise ValidationError(
                obj, field, f"{address} is outside subnet {subnet_id} ({network})"
            )
        if address in (network.network_address, network.broadcast_address):
            raise ValidationError(
                obj, field, f"{address} is the network or broadcast address of {network}"
            )
    return body


def _check_static_route(
    body: dict[str, Any], lookup: ConfigLookup, batch: _Batch
) -> dict[str, Any]:
    obj = object_name("static_route", body)
    destination = _network(str(body["destination"]))
    body = {**body, "destination": str(destination)}
    gateway_id = str(body["internet_gw_id"])
    gw_interfaces = [
        other
        for _, other in lookup.all_of("gw_interface")
        if other.get("internet_gw_id") == gateway_id
    ]
    if not gw_interfaces:
        raise ValidationError(
            obj,
            "nexthop",
            f"cannot be checked: internet_gateway {gateway_id} has no gw_interface yet "
            "(create it first, or in the same batch)",
        )
    gw_interface = gw_interfaces[0]
    found = subnet_of_gw_interface(gw_interface, lookup)
    nexthop = ipaddress.IPv4Address(str(body["nexthop"]))
    if found is None or nexthop not in found[1]:
        segment = found[1] if found is not None else "?"
        raise ValidationError(
            obj,
            "nexthop",
            f"{nexthop} is outside the gw_interface's subnet {segment}: the route would "
            "never resolve",
        )
    network = found[1]
    own = {str(gw_interface.get(f)) for f in ("gw_vipv4", "primary_ipv4", "secondary_ipv4")}
    if str(nexthop) in own or nexthop in (network.network_address, network.broadcast_address):
        raise ValidationError(
            obj, "nexthop", f"{nexthop} is not a host of the tenant's segment {network}"
        )
    routes = [
        (rid, other)
        for rid, other in lookup.all_of("static_route")
        if other.get("internet_gw_id") == gateway_id
    ]
    for rid, other in routes:
        if rid != body["id"] and _network(str(other.get("destination"))) == destination:
            raise ValidationError(
                obj, "destination", f"{destination} is already routed by static_route {rid}"
            )
    gateway = lookup("internet_gateway", gateway_id) or {}
    service = lookup("internet_service", str(gateway.get("internet_service_id"))) or {}
    quota = gateway.get("maximum_static_routes")
    if not isinstance(quota, int):
        quota = service.get("default_static_routes_per_gateway")
    if not isinstance(quota, int):
        quota = DEFAULT_STATIC_ROUTES
    count = len({rid for rid, _ in routes} | {str(body["id"])})
    if count > quota:
        raise ValidationError(
            obj,
            "internet_gw_id",
            f"internet_gateway {gateway_id} would have {count} static routes, over its "
            f"maximum_static_routes {quota}",
        )
    public_ip_id = None
    for rid, public_ip in sorted(lookup.all_of("public_ip")):
        mine = public_ip.get("internet_gw_id") == gateway_id and public_ip.get("cidr")
        if mine and pools.block_of(public_ip) == destination:
            public_ip_id = rid
            break
    return {**body, "public_ip_id": public_ip_id}


def _check_gateway(body: dict[str, Any], lookup: ConfigLookup, batch: _Batch) -> dict[str, Any]:
    current = lookup.stored("internet_gateway", str(body["id"]))
    if current is None:
        return body
    changed = [f for f in GATEWAY_HOLDS if str(body.get(f)) != str(current.get(f))]
    if not changed:
        return body
    members = [
        f"{t} {rid}"
        for t in MEMBERS
        for rid, other in lookup.all_of(t)
        if other.get("internet_gw_id") == body["id"]
    ]
    if members:
        raise ValidationError(
            object_name("internet_gateway", body),
            changed[0],
            f"cannot change while the gateway has family members ({', '.join(members[:5])}): "
            "their configuration is inside its unit and routing instance",
        )
    return body


_CHECKS = {
    "internet_gateway": _check_gateway,
    "public_ip_pool": _check_public_ip_pool,
    "subnet": _check_subnet,
    "public_ip": _check_public_ip,
    "gw_interface": _check_gw_interface,
    "static_route": _check_static_route,
}


def refuse_delete(
    lookup: ConfigLookup, marking: list[tuple[str, str]], batch: set[tuple[str, str]]
) -> None:
    """Raise if a member of ``marking`` is still needed by one that stays; see the module.

    ``lookup`` sees live resources only; ``batch`` is everything the delete takes.
    """

    def staying(resource_type: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [
            (rid, b) for rid, b in lookup.all_of(resource_type) if (resource_type, rid) not in batch
        ]

    for resource_type, resource_id in marking:
        body = lookup(resource_type, resource_id)
        if body is None:
            continue
        obj = f"{resource_type} {resource_id}"
        if resource_type == "subnet":
            network = _network(str(body.get("cidr")))
            for rid, other in staying("gw_interface"):
                inside = other.get("network_id") == body.get("network_id") and (
                    ipaddress.IPv4Address(str(other.get("primary_ipv4"))) in network
                )
                if inside:
                    raise ValidationError(
                        obj, "cidr", f"holds the addresses of gw_interface {rid}, which stays"
                    )
        if resource_type == "gw_interface":
            routes = [
                rid
                for rid, other in staying("static_route")
                if other.get("internet_gw_id") == body.get("internet_gw_id")
            ]
            if routes:
                raise ValidationError(
                    obj,
                    "internet_gw_id",
                    f"static routes {', '.join(routes[:5])} of its gateway resolve over its "
                    "segment and stay",
                )
