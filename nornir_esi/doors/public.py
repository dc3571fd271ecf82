"""What a tenant may see and do through the northbound API: the real service's public model.

Three kinds of resource type:

- :data:`OWNED`: a tenant's own objects (its gateways and their family, its segment). A
  tenant lists, shows, creates, updates and deletes its own only; another tenant's
  answers exactly as a missing one does.
- :data:`CATALOG`: what the operator sells (internet services, QoS options). Every tenant
  reads them, in their public shape; only an operator writes them.
- Every other type is infrastructure (edge routers, their interfaces, HA routers and
  interfaces, public IP pools): the operator's alone; a tenant's request is a 403.

The public shape of each type (:data:`PUBLIC_FIELDS`) is the model the official clients
declare (eclsdk's ``Body`` attributes, eclcli's columns): no VRF, VLAN or logical interface
name, no Junos filter, policy or policer. Fields the record lacks are answered as
``null``, as the clients expect every declared field. Operators see whole records.

A tenant may set, on create, the public fields less ``status`` and what the service
allocates (a public IP's ``cidr``); on update the same, less what the contract makes
create-only (refused there, naming the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract.resources import RESOURCE_TYPES

__all__ = [
    "CATALOG",
    "FILTER_ALIASES",
    "OWNED",
    "PUBLIC_FIELDS",
    "TENANT_SETS",
    "is_infrastructure",
    "public_view",
]

OWNED = ("network", "subnet", "internet_gateway", "public_ip", "gw_interface", "static_route")
CATALOG = ("internet_service", "qos_option")

_STATUS = ("status", "tenant_id")
_GATEWAY_REFS = ("internet_gw_id", "vpn_gw_id", "interdc_gw_id", "fic_gw_id")
_OMITTED = ("orchestration_state",)

PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "internet_service": ("id", "name", "description", "minimal_submask_length", "zone"),
    "qos_option": (
        "id",
        "name",
        "description",
        "bandwidth",
        "qos_type",
        "service_type",
        "status",
        "internet_service_id",
        "vpn_service_id",
        "interdc_service_id",
        "mec_service_id",
        "fic_service_id",
        "aws_service_id",
    ),
    "internet_gateway": (
        "id",
        "name",
        "description",
        "internet_service_id",
        "qos_option_id",
        *_STATUS,
    ),
    "public_ip": (
        "id",
        "name",
        "description",
        "internet_gw_id",
        "submask_length",
        "cidr",
        *_STATUS,
    ),
    "gw_interface": (
        "id",
        "name",
        "description",
        "service_type",
        "network_id",
        "netmask",
        "vrid",
        "gw_vipv4",
        "primary_ipv4",
        "secondary_ipv4",
        "gw_vipv6",
        "primary_ipv6",
        "secondary_ipv6",
        *_GATEWAY_REFS,
        *_STATUS,
    ),
    "static_route": (
        "id",
        "name",
        "description",
        "destination",
        "nexthop",
        "service_type",
        *_GATEWAY_REFS,
        *_STATUS,
    ),
    # The segment's records hold nothing of the routers: the whole record, but bookkeeping.
    **{
        kind: tuple(
            name for name in (*RESOURCE_TYPES[kind].fields, "status") if name not in _OMITTED
        )
        for kind in ("network", "subnet")
    },
}

# What a tenant may set: the public fields, less the derived and the allocated.
_NEVER_SET = {"status"}
_ALLOCATED = {"public_ip": {"cidr"}}
TENANT_SETS: dict[str, frozenset[str]] = {
    kind: frozenset(
        name
        for name in PUBLIC_FIELDS[kind]
        if name not in _NEVER_SET
        and name not in _ALLOCATED.get(kind, set())
        and (
            name not in RESOURCE_TYPES[kind].fields
            or not RESOURCE_TYPES[kind].fields[name].computed
        )
    )
    for kind in OWNED
}

# Filters the clients send under another name than the field's.
FILTER_ALIASES: dict[str, dict[str, str]] = {
    # eclsdk's InternetService spells it so (sic).
    "internet_service": {"minimal_subnet_length": "minimal_submask_length"},
    "network": {"network_id": "id"},
    "subnet": {"subnet_id": "id"},
}

# Always answered, so a client that prints a subnet does not crash on a missing list.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "subnet": {"dns_nameservers": [], "host_routes": [], "allocation_pools": []},
    "network": {"subnets": [], "tags": {}},
}


def is_infrastructure(type_name: str) -> bool:
    """Whether ``type_name`` is the operator's alone (neither owned nor catalog)."""
    return type_name not in OWNED and type_name not in CATALOG


def public_view(type_name: str, view: Mapping[str, Any]) -> dict[str, Any]:
    """The public shape of ``view`` (a record with its status): every public field, or null."""
    defaults = _DEFAULTS.get(type_name, {})
    return {name: view.get(name, defaults.get(name)) for name in PUBLIC_FIELDS[type_name]}
