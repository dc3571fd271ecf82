"""A gateway request: what an operator chooses, and the full body derived from it.

An operator (NetBox's custom scripts, ``nornir-esi gateway create``) chooses the HA
interface, VLAN id, name, tenant, internet service and QoS option of an internet gateway;
the rest of the body follows the origin's conventions, derived here and only here:

- ``tenant_id``, when the request names none: the HA interface's (NetBox's scripts always
  name one);
- ``vrf_name``: ``vrf_gw_<HA interface name>_<vlan>``;
- ``primary_/secondary_logical_interface_name``: ``<interface>.<vlan>`` on each router;
- ``maximum_static_routes``: the internet service's ``default_static_routes_per_gateway``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nornir_esi.contract.config import lookup_in
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store

__all__ = ["CHOSEN", "GATEWAY", "derive"]

GATEWAY = "internet_gateway"
CHOSEN = (
    "id",
    "name",
    "tenant_id",
    "description",
    "vlan_id",
    "downlink_interface_id",
    "internet_service_id",
    "qos_option_id",
)
"""The fields a request may set; everything else is derived."""


def _need(
    lookup: Callable[[str, str], Mapping[str, Any] | None],
    what: str,
    resource_type: str,
    resource_id: Any,
) -> Mapping[str, Any]:
    body = lookup(resource_type, str(resource_id)) if resource_id else None
    if body is None:
        field = {
            "ha_interface": "downlink_interface_id",
            "internet_service": "internet_service_id",
        }.get(resource_type, f"{resource_type}_id")
        raise ValidationError(what, field, f"{resource_type} {resource_id!r} is not in /config")
    return body


def derive(store: Store, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The full gateway body from an operator's choices (see the module docstring)."""
    what = f"{GATEWAY} {chosen.get('id', '?')}"
    unknown = sorted(set(chosen) - set(CHOSEN))
    if unknown:
        raise ValidationError(what, unknown[0], "is not something a request may set")
    lookup = lookup_in(store)
    ha = _need(lookup, what, "ha_interface", chosen.get("downlink_interface_id"))
    service = _need(lookup, what, "internet_service", chosen.get("internet_service_id"))
    vlan = str(chosen.get("vlan_id", ""))
    body = {k: chosen[k] for k in CHOSEN if k in chosen}
    if "tenant_id" not in body and ha.get("tenant_id"):
        body["tenant_id"] = ha["tenant_id"]
    body["vlan_id"] = vlan
    body.setdefault("description", "")
    body["vrf_name"] = f"vrf_gw_{ha['name']}_{vlan}"
    for role in ("primary", "secondary"):
        interface = _need(lookup, what, "er_physical_interface", ha.get(f"{role}_interface_id"))
        body[f"{role}_logical_interface_name"] = f"{interface['name']}.{vlan}"
    if "default_static_routes_per_gateway" in service:
        body["maximum_static_routes"] = service["default_static_routes_per_gateway"]
    return body
