"""Walking the resource graph to the routers a resource lives on.

Every device-facing job needs the edge routers behind its resource: a gateway's pair is
reached through its downlink HA interface and that interface's HA router, a physical
interface's router through ``device_id``. ``lookup(type, id)`` returns the current body
of a resource in ``/config`` (or None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nornir_esi.exceptions import ValidationError

__all__ = ["FAMILY", "Lookup", "Pair", "member_interfaces", "pair_of", "router_of_interface"]

# The gateway's family members that configure its routers, through ``internet_gw_id``.
FAMILY = ("public_ip", "gw_interface", "static_route")

Lookup = Callable[[str, str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Pair:
    """The routers of an HA router: bodies of the two edge_router resources."""

    primary: Mapping[str, Any]
    secondary: Mapping[str, Any]

    def by_role(self) -> dict[str, Mapping[str, Any]]:
        """The two routers by role: ``{"primary": ..., "secondary": ...}``."""
        return {"primary": self.primary, "secondary": self.secondary}


def _get(lookup: Lookup, resource_type: str, resource_id: object, *, via: str) -> Mapping[str, Any]:
    if not isinstance(resource_id, str) or not resource_id:
        raise ValidationError(via, resource_type, "reference is missing")
    body = lookup(resource_type, resource_id)
    if body is None:
        raise ValidationError(via, resource_type, f"{resource_id} does not exist")
    return body


def pair_of(lookup: Lookup, resource_type: str, body: Mapping[str, Any]) -> Pair:
    """The router pair of a gateway (or a family member's), an HA interface or an HA router."""
    via = f"{resource_type} {body.get('id', '?')}"
    if resource_type in FAMILY:
        body = _get(lookup, "internet_gateway", body.get("internet_gw_id"), via=via)
        resource_type = "internet_gateway"
    if resource_type == "internet_gateway":
        body = _get(lookup, "ha_interface", body.get("downlink_interface_id"), via=via)
        resource_type = "ha_interface"
    if resource_type == "ha_interface":
        body = _get(lookup, "ha_router", body.get("ha_router_id"), via=via)
    elif resource_type != "ha_router":
        raise ValidationError(via, "type", "has no router pair")
    return Pair(
        primary=_get(lookup, "edge_router", body.get("primary_router_id"), via=via),
        secondary=_get(lookup, "edge_router", body.get("secondary_router_id"), via=via),
    )


def router_of_interface(lookup: Lookup, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The edge router a physical interface belongs to."""
    return _get(
        lookup,
        "edge_router",
        body.get("device_id"),
        via=f"er_physical_interface {body.get('id', '?')}",
    )


def member_interfaces(
    lookup: Lookup, ha_interface_id: str
) -> dict[str, tuple[Mapping[str, Any], str]]:
    """Per role, (router, physical interface name) of an HA interface's two members."""
    via = f"ha_interface {ha_interface_id}"
    ha = _get(lookup, "ha_interface", ha_interface_id, via=via)
    members = {}
    for role in ("primary", "secondary"):
        physical = _get(lookup, "er_physical_interface", ha.get(f"{role}_interface_id"), via=via)
        members[role] = (router_of_interface(lookup, physical), str(physical.get("name", "")))
    return members
