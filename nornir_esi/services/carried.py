"""What a gateway's routers carry of its family, set again when the gateway is replaced.

A gateway's ``modify`` and ``repair`` delete its unit and routing instance whole and set
them again (``internet_gateway.replace.j2``), so that the router computes the net
difference. Its family lives inside those objects: the gw_interface's address, VRRP group
and iBGP group, the static routes. :func:`with_members` appends, to such a change, the
``set`` commands of every member the routers carry (it has an ``/applied`` record), from
its current ``/config`` body: in the same candidate, so an unchanged family is no
difference at all, and a gateway's repair or drift check never reports or takes away its
members. (Public IPs are prefix-list items, which the replace leaves alone; their set
again is a no-op.)

The family follows the gateway only while the objects it names stay put: a gateway with
members cannot change its VLAN, VRF or interfaces (:mod:`nornir_esi.contract.family`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import ConfigLookup
from nornir_esi.contract.family import MEMBERS
from nornir_esi.contract.graph import Pair
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.pair.change import Change
from nornir_esi.pair.coalesce import merge
from nornir_esi.services import SERVICES
from nornir_esi.services.base import Action, DeviceService
from nornir_esi.store.base import Store

__all__ = ["GATEWAY", "carried_members", "with_members"]

GATEWAY = "internet_gateway"


def carried_members(
    store: Store, lookup: ConfigLookup, gateway_id: str
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(type, id, body)`` of the gateway's members its routers carry, in service order."""
    out: list[tuple[str, str, Mapping[str, Any]]] = []
    for resource_type in MEMBERS:
        for resource_id, body in lookup.all_of(resource_type):
            if body.get("internet_gw_id") != gateway_id:
                continue
            if store.get(keys.applied(resource_type, resource_id)) is not None:
                out.append((resource_type, resource_id, body))
    return out


def with_members(
    store: Store,
    lookup: ConfigLookup,
    resource_type: str,
    body: Mapping[str, Any],
    changes: dict[str, Change],
    *,
    action: Action,
    pair: Pair,
) -> dict[str, Change]:
    """``changes`` of a gateway's ``modify`` or ``repair``, its carried members set after them.

    Any other resource type or action: ``changes`` as they are.
    """
    if resource_type != GATEWAY or action not in ("modify", "repair"):
        return changes
    parts = [changes]
    for member_type, _, member in carried_members(store, lookup, str(body["id"])):
        service: DeviceService = SERVICES[member_type]
        params = params_for(template_of(store, member_type), member_type, member, lookup)
        parts.append(service.changes(params, pair, action="create"))
    return changes if len(parts) == 1 else merge(parts)
