r"""The resource types of the internet gateway chain, their fields, and validation.

The types, fields and relations are the original orchestrator's (``CONTRACT.md``
section 2), with types and required-ness read off the captured scenario::

    edge_router <-- er_physical_interface.device_id
    edge_router <-- ha_router.primary_router_id, .secondary_router_id
    ha_router   <-- ha_interface.ha_router_id
    er_physical_interface <-- ha_interface.primary_interface_id, .secondary_interface_id
    ha_interface <-- internet_service.downlink_interfaces[]
    internet_service <-- qos_option.internet_service_id
    ha_router <-- qos_option.ha_router_id (optional)
    ha_interface <-- internet_gateway.downlink_interface_id, .associated_uplink_id (optional)
    internet_service, qos_option <-- internet_gateway.internet_service_id, .qos_option_id

Required fields are identity plus what a template or a router needs; the original's
bookkeeping (bandwidth counters, the VLAN pool bitmap, ...) is optional but
type-checked when present. A field no type declares is refused by default: in desired
state a typo ("vlanid") must not pass as an extra field.

A secret field (an edge_router's ``password``) holds a reference resolved by the worker,
``{"ref": "env:NAME"}`` or ``{"ref": "file:PATH"}`` (:mod:`nornir_esi.contract.secrets`); a plain
string is still valid here, as the original's data, and :func:`nornir_esi.contract.desired.apply`
refuses to write one unless the compatibility switch is on.

Names that end up in Junos configuration are checked here, before a job runs, so a bad
name fails at the front door instead of at commit time:

==========================  ==============================================  =========
field                       pattern                                         max chars
==========================  ==============================================  =========
vrf_name                    ``[A-Za-z0-9][A-Za-z0-9_-]*``                   56
policies, filters, groups,  ``[A-Za-z0-9][A-Za-z0-9_.\-/:]*``               63
prefix lists, classes
policer names               same                                            56
physical interface name     ``ae0``, ``ge-0/0/0``, ``xe-1/2/3:0``           63
logical interface name      ``<physical>.<unit>``, unit == ``vlan_id``      63
==========================  ==============================================  =========

Why those limits: 63 keeps every name inside the shortest Junos identifier limit of
the objects involved (firewall filter names). A vrf name becomes part of other
names (``<vrf>_prefix``, ``<vrf>_filter``, counters ``<vrf>_IN``/``_OUT``), so it is 7
characters shorter and avoids ``. / :``, which are legal in some of those objects and
not in others; a policer name becomes the filter ``FILTER_<policer>``, so it is 7
shorter too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nornir_esi.contract import keys, secrets
from nornir_esi.exceptions import ConfigSyntaxError, ValidationError
from nornir_esi.junos.text import parse_text

__all__ = [
    "API_STATUSES",
    "RESOURCE_TYPES",
    "FieldSpec",
    "Lookup",
    "ResourceType",
    "field_spec",
    "is_workable",
    "object_name",
    "parse_vlan_ranges",
    "referrers",
    "relation_target",
    "resource_type",
    "secret_fields",
    "validate",
]

Lookup = Callable[[str, str], Mapping[str, Any] | None]
"""``lookup(resource_type, id)`` -> the current body of that resource, or None."""

Check = Callable[[Any], str | None]
"""A value check: the reason the value is bad, or None when it is good."""

API_STATUSES = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE", "ACTIVE", "ERROR")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a resource body.

    ``target`` makes the field a reference to a resource of that type (a list of
    references when ``many``). Kind ``secret`` (a device password) holds a secret
    reference ``{"ref": "<scheme>:<name>"}`` (:mod:`nornir_esi.contract.secrets`), or a plain
    string as the original stored it.
    """

    name: str
    kind: Literal["str", "int", "bool", "list", "object", "array", "secret"]
    required: bool = False
    check: Check | None = None
    target: str | None = None
    many: bool = False
    # The origin's schema permission: `create` only (an update that changes it is refused),
    # or none at all (`computed`: the service sets it; a client's value is refused).
    create_only: bool = False
    computed: bool = False

    @property
    def secret(self) -> bool:
        """Whether the field carries a secret, which etcd must hold only as a reference."""
        return self.kind == "secret"


@dataclass(frozen=True)
class ResourceType:
    """A resource type: its fields and the templates its jobs are planned from."""

    name: str
    fields: Mapping[str, FieldSpec]
    heat_template: str | None = None
    monitoring_template: str | None = None
    # Whether the API keeps a `status` in the body: the origin kept none for internet
    # services (the capture), so the front door adds none there.
    has_status: bool = True

    @property
    def plural(self) -> str:
        """The type's plural (``edge_router`` -> ``edge_routers``).

        From :func:`~nornir_esi.contract.keys.plural`, which refuses an unknown type.
        """
        return keys.plural(self.name)

    @property
    def workable(self) -> bool:
        """Whether writing it creates jobs; a non-workable one only gets ``/state``."""
        return self.heat_template is not None or self.monitoring_template is not None

    @property
    def relations(self) -> dict[str, str]:
        """Reference field -> target type."""
        return {f.name: f.target for f in self.fields.values() if f.target is not None}


# --- value checks ----------------------------------------------------------------------

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_JUNOS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/:]*$")
_VRF_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_PHYSICAL_IF_RE = re.compile(r"^[a-z]+(?:-[0-9]+/[0-9]+/[0-9]+(?::[0-9]+)?|[0-9]+)$")
_DIGITS_RE = re.compile(r"^[0-9]+$")

JUNOS_NAME_MAX = 63
DERIVED_NAME_MAX = 56  # JUNOS_NAME_MAX minus "_prefix" / "_filter" / "FILTER_"


def _uuid(value: Any) -> str | None:
    # Ids are compared and used in keys as text, so only the canonical lowercase form
    # is accepted: "ABC..." and "abc..." must not become two resources.
    return None if _UUID_RE.match(value) else f"{value!r} is not a lowercase UUID"


def _non_empty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"


def _max_len(value: str, limit: int) -> str | None:
    return None if len(value) <= limit else f"{value!r} is longer than {limit} characters"


def _junos_name(limit: int = JUNOS_NAME_MAX) -> Check:
    def check(value: Any) -> str | None:
        if not _JUNOS_NAME_RE.match(value):
            return f"{value!r} is not a Junos name ([A-Za-z0-9] then [A-Za-z0-9_.-/:])"
        return _max_len(value, limit)

    return check


def _vrf_name(value: Any) -> str | None:
    if not _VRF_NAME_RE.match(value):
        return f"{value!r} is not a routing-instance name ([A-Za-z0-9] then [A-Za-z0-9_-])"
    return _max_len(value, DERIVED_NAME_MAX)


def _physical_interface(value: Any) -> str | None:
    if not _PHYSICAL_IF_RE.match(value):
        return f"{value!r} is not a Junos physical interface name (ae0, ge-0/0/0, ...)"
    return _max_len(value, JUNOS_NAME_MAX)


def _logical_interface(value: Any) -> str | None:
    physical, dot, unit = value.rpartition(".")
    if not dot or _physical_interface(physical) is not None or not _DIGITS_RE.match(unit):
        return f"{value!r} is not a Junos logical interface name (<physical>.<unit>)"
    return _max_len(value, JUNOS_NAME_MAX)


def _secret(value: Any) -> str | None:
    # A plain string is the original's data (kept readable); a front door refuses to write
    # one without the compatibility switch (desired.apply), not here.
    if isinstance(value, str):
        return _non_empty(value)
    return secrets.check_reference(value)


def _ip(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IPv4 or IPv6 address"
    return None


def _int_range(low: int, high: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        if high is not None and not low <= value <= high:
            return f"{value} is outside {low}-{high}"
        return f"{value} is below {low}" if value < low else None

    return check


def _digits_range(low: int, high: int) -> Check:
    # The original keeps vlan_id, bandwidth and AS numbers as strings of digits.
    def check(value: Any) -> str | None:
        if not _DIGITS_RE.match(value):
            return f"{value!r} is not a string of digits"
        if not low <= int(value) <= high:
            return f"{value} is outside {low}-{high}"
        return None

    return check


def _routing_instance_text(value: Any) -> str | None:
    """Junos configuration statements valid inside a routing instance (or nothing)."""
    if not value.strip():
        return None
    try:
        tree = parse_text(f"routing-instances {{ VRF {{\n{value}\n}} }}")
    except ConfigSyntaxError as exc:
        return f"is not valid Junos configuration: {exc.message}"
    # Braces that close the instance early would put statements elsewhere on the router.
    instances = tree.findall("routing-instances/instance")
    if len(tree) != 1 or len(instances) != 1 or instances[0].findtext("name") != "VRF":
        return "must stay inside the routing instance (its braces close it early)"
    return None


def _one_of(*choices: Any) -> Check:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"{value!r} is not one of {'|'.join(str(c) for c in choices)}"

    return check


def _ipv4(value: Any) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f"{value!r} is not an IPv4 address"
    return None


def _ipv6(value: Any) -> str | None:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return f"{value!r} is not an IPv6 address"
    return None


def _ipv4_network(value: Any) -> str | None:
    """A network address with its prefix length (``172.16.101.0/24``), host bits zero."""
    try:
        network = ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IPv4 CIDR (a.b.c.d/len)"
    if "/" not in value:
        return f"{value!r} has no prefix length (a.b.c.d/len)"
    if str(network) != value:
        return f"{value!r} has host bits set: the network is {network}"
    return None


def _cidr_or_ipv4(value: Any) -> str | None:
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an IPv4 CIDR or address"
    return None


def _uuid_or_empty(value: Any) -> str | None:
    return None if value == "" else _uuid(value)


def parse_vlan_ranges(text: str) -> list[tuple[int, int]]:
    """``"0-1024,4094"`` -> ``[(0, 1024), (4094, 4094)]``; ValueError when malformed."""
    out: list[tuple[int, int]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        low, _, high = item.partition("-")
        if not _DIGITS_RE.match(low) or (high and not _DIGITS_RE.match(high)):
            raise ValueError(f"{item!r} is not N or N-M")
        lo, hi = int(low), int(high or low)
        if not 0 <= lo <= hi <= 4095:
            raise ValueError(f"{item!r} is not a range within 0-4095")
        out.append((lo, hi))
    return out


def _vlan_ranges(value: Any) -> str | None:
    try:
        parse_vlan_ranges(value)
    except ValueError as exc:
        return f"{value!r}: {exc}"
    return None


# --- the types -------------------------------------------------------------------------


def _fields(*specs: FieldSpec) -> dict[str, FieldSpec]:
    common = (
        FieldSpec("id", "str", True, _uuid),
        FieldSpec("tenant_id", "str", True, _non_empty),
        FieldSpec("name", "str", True, _non_empty),
        # Optional: free text the original always sent, often "".
        FieldSpec("description", "str"),
        # internet_service has no status in the capture, so optional on every type.
        FieldSpec("status", "str", False, _one_of(*API_STATUSES)),
    )
    out = {f.name: f for f in common}
    out.update({f.name: f for f in specs})  # a type may narrow a common field (name)
    return out


def _ref(
    name: str,
    target: str,
    required: bool = True,
    many: bool = False,
    *,
    create_only: bool = False,
    computed: bool = False,
) -> FieldSpec:
    return FieldSpec(
        name,
        "list" if many else "str",
        required,
        None,
        target,
        many,
        create_only=create_only,
        computed=computed,
    )


def _not_served(kind: str) -> Check:
    def check(value: Any) -> str | None:
        if value in ("", None):
            return None
        return f"names a {kind} gateway: only internet gateways are served here"

    return check


_COUNT = _int_range(0)
# The service types of the origin's schemas; this project serves the internet gateway only.
_SERVICE_TYPE = _one_of("internet")
# The other gateway services' references on a gw_interface or static_route: accepted as
# fields of the schema, refused with a value (no such gateway is served here).
_OTHER_GATEWAYS = tuple(
    FieldSpec(f"{kind}_gw_id", "str", False, _not_served(kind), create_only=True)
    for kind in ("vpn", "aws", "azure", "gcp", "interdc")
)
_POLICY = _junos_name()
_POLICER = _junos_name(DERIVED_NAME_MAX)

RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "edge_router",
            _fields(
                FieldSpec("ip", "str", True, _ip),
                FieldSpec("login", "str", True, _non_empty),
                FieldSpec("password", "secret", True, _secret),
                FieldSpec("ssh_port", "int", True, _int_range(1, 65535)),
                FieldSpec("autonomous_system", "str", False, _digits_range(1, 4294967295)),
            ),
            monitoring_template="edge_router_monitoring",
        ),
        ResourceType(
            "er_physical_interface",
            _fields(
                FieldSpec("name", "str", True, _physical_interface),
                _ref("device_id", "edge_router"),
                # A port of the switching fabric, outside this graph: an id, no relation.
                FieldSpec("connected_ese_port_id", "str", False, _uuid),
            ),
            monitoring_template="er_physical_interface_monitoring",
        ),
        ResourceType(
            "ha_router",
            _fields(
                _ref("primary_router_id", "edge_router"),
                _ref("secondary_router_id", "edge_router"),
                FieldSpec("maximum_gateways", "int", True, _int_range(1)),
                FieldSpec("available_gateways", "int", False, _COUNT),
            ),
            monitoring_template="ha_router_monitoring",
        ),
        ResourceType(
            "ha_interface",
            _fields(
                _ref("ha_router_id", "ha_router"),
                _ref("primary_interface_id", "er_physical_interface"),
                _ref("secondary_interface_id", "er_physical_interface"),
                FieldSpec("link_type", "str", True, _one_of("uplink", "downlink")),
                FieldSpec("restricted_vlans", "str", False, _vlan_ranges),
                FieldSpec("admin_state_up", "bool"),
                FieldSpec("gateway_instances_count", "int", False, _COUNT),
                FieldSpec("vlan_ids_available", "int", False, _COUNT),
                FieldSpec("vlan_pool_state", "str"),
                FieldSpec("maximum_be_bandwidth", "int", False, _COUNT),
                FieldSpec("available_be_bandwidth", "int", False, _COUNT),
                FieldSpec("maximum_ga_bandwidth", "int", False, _COUNT),
                FieldSpec("available_ga_bandwidth", "int", False, _COUNT),
            ),
            monitoring_template="ha_interface_monitoring",
        ),
        ResourceType(
            "internet_service",
            _fields(
                _ref("downlink_interfaces", "ha_interface", required=False, many=True),
                FieldSpec("vrf_import_policy", "str", True, _POLICY),
                FieldSpec("vrf_export_policy", "str", True, _POLICY),
                FieldSpec("uplink_import_policy", "str", True, _POLICY),
                FieldSpec("inet_in_filter", "str", True, _POLICY),
                FieldSpec("inet_out_filter", "str", True, _POLICY),
                FieldSpec("primary_vrrp_config_group", "str", True, _POLICY),
                FieldSpec("secondary_vrrp_config_group", "str", True, _POLICY),
                FieldSpec("primary_ibgp_config_group", "str", False, _POLICY),
                FieldSpec("secondary_ibgp_config_group", "str", False, _POLICY),
                FieldSpec("neighbour_prefix", "str", False, _POLICY),
                FieldSpec("ga_forwarding_class", "str", False, _POLICY),
                FieldSpec("be_forwarding_class", "str", False, _POLICY),
                # Extra Junos text inside each gateway's routing instance.
                FieldSpec("vrf_config", "str", False, _routing_instance_text),
                FieldSpec("zone", "str"),
                FieldSpec("default_static_routes_per_gateway", "int", False, _COUNT),
                FieldSpec("minimal_submask_length", "int", False, _int_range(0, 128)),
            ),
            has_status=False,
        ),
        ResourceType(
            "qos_option",
            _fields(
                _ref("internet_service_id", "internet_service"),
                _ref("ha_router_id", "ha_router", required=False),
                FieldSpec("incoming_policer_name", "str", True, _POLICER),
                FieldSpec("outgoing_policer_name", "str", True, _POLICER),
                FieldSpec("incoming_policer_config", "str"),
                FieldSpec("outgoing_policer_config", "str"),
                FieldSpec("bandwidth", "str", False, _digits_range(1, 10**12)),
                FieldSpec("qos_type", "str"),
                FieldSpec("service_type", "str"),
                FieldSpec("charge_type", "str"),
            ),
        ),
        ResourceType(
            "internet_gateway",
            _fields(
                # Optional, "" by default, as the origin's schema has it (eclcli sends none
                # unless --name is given).
                FieldSpec("name", "str"),
                _ref("downlink_interface_id", "ha_interface"),
                _ref("associated_uplink_id", "ha_interface", required=False),
                _ref("internet_service_id", "internet_service"),
                _ref("qos_option_id", "qos_option"),
                FieldSpec("vlan_id", "str", True, _digits_range(1, 4094)),
                FieldSpec("vrf_name", "str", True, _vrf_name),
                FieldSpec("primary_logical_interface_name", "str", True, _logical_interface),
                FieldSpec("secondary_logical_interface_name", "str", True, _logical_interface),
                FieldSpec("maximum_static_routes", "int", False, _COUNT),
                FieldSpec("orchestration_state", "str", computed=True),
            ),
            heat_template="internet_gateway",
            monitoring_template="internet_gateway_monitoring",
        ),
        ResourceType(
            "public_ip_pool",
            _fields(
                FieldSpec("name", "str"),
                _ref("ha_router_id", "ha_router", create_only=True),
                _ref("internet_service_id", "internet_service", create_only=True),
                FieldSpec("subnet_ip", "str", True, _ipv4, create_only=True),
                FieldSpec("submask_length", "int", True, _int_range(8, 32), create_only=True),
                FieldSpec("ip_version", "int", True, _one_of(4), create_only=True),
                # The allocation state, kept by the service (contract/pools.py).
                FieldSpec("pool_state", "str", computed=True),
                FieldSpec("addresses_available", "int", False, _COUNT, computed=True),
            ),
            has_status=False,
        ),
        ResourceType(
            "public_ip",
            _fields(
                FieldSpec("name", "str"),
                _ref("internet_gw_id", "internet_gateway", create_only=True),
                FieldSpec("submask_length", "int", True, _int_range(0, 128), create_only=True),
                # Allocated by the service from a pool (contract/pools.py): the block's
                # network address, and the pool it came from.
                FieldSpec("cidr", "str", False, _ipv4, create_only=True),
                _ref("ip_pool_id", "public_ip_pool", required=False, computed=True),
                FieldSpec("suspended_public_ip_id", "str", False, _uuid_or_empty, create_only=True),
                FieldSpec("orchestration_state", "str", computed=True),
            ),
            heat_template="public_ip",
        ),
        ResourceType(
            "network",
            _fields(
                FieldSpec("name", "str"),
                FieldSpec("admin_state_up", "bool"),
                FieldSpec("plane", "str", False, _one_of("storage", "data"), create_only=True),
                FieldSpec("shared", "bool", computed=True),
                FieldSpec("subnets", "list", computed=True),
                FieldSpec("tags", "object"),
                FieldSpec("orchestration_state", "str", computed=True),
            ),
        ),
        ResourceType(
            "subnet",
            _fields(
                FieldSpec("name", "str"),
                _ref("network_id", "network", create_only=True),
                FieldSpec("cidr", "str", True, _ipv4_network, create_only=True),
                FieldSpec("gateway_ip", "str", False, _ipv4),
                FieldSpec("ip_version", "int", False, _one_of(4), create_only=True),
                FieldSpec("allocation_pools", "array", create_only=True),
                FieldSpec("dhcp_server_address", "str", False, _ipv4, computed=True),
                FieldSpec("dns_nameservers", "array"),
                FieldSpec("enable_dhcp", "bool"),
                FieldSpec("host_routes", "array"),
                FieldSpec("ntp_servers", "array"),
                FieldSpec("ipv6_address_mode", "str", computed=True),
                FieldSpec("ipv6_ra_mode", "str", computed=True),
                FieldSpec("tags", "object"),
                FieldSpec("orchestration_state", "str", computed=True),
            ),
        ),
        ResourceType(
            "gw_interface",
            _fields(
                FieldSpec("name", "str"),
                _ref("internet_gw_id", "internet_gateway", create_only=True),
                _ref("network_id", "network", create_only=True),
                FieldSpec("service_type", "str", True, _SERVICE_TYPE, create_only=True),
                FieldSpec("vrid", "int", True, _int_range(1, 255), create_only=True),
                FieldSpec("gw_vipv4", "str", True, _ipv4, create_only=True),
                FieldSpec("primary_ipv4", "str", True, _ipv4, create_only=True),
                FieldSpec("secondary_ipv4", "str", True, _ipv4, create_only=True),
                FieldSpec("netmask", "int", True, _int_range(1, 30), create_only=True),
                FieldSpec("gw_vipv6", "str", False, _ipv6, create_only=True),
                FieldSpec("primary_ipv6", "str", False, _ipv6, create_only=True),
                FieldSpec("secondary_ipv6", "str", False, _ipv6, create_only=True),
                _ref("public_ip_id", "public_ip", required=False, computed=True),
                *_OTHER_GATEWAYS,
                FieldSpec("operational_state", "str", computed=True),
                FieldSpec("orchestration_state", "str", computed=True),
            ),
            heat_template="gw_interface_internet",
            monitoring_template="gw_interface_monitoring",
        ),
        ResourceType(
            "static_route",
            _fields(
                FieldSpec("name", "str"),
                _ref("internet_gw_id", "internet_gateway", create_only=True),
                FieldSpec("destination", "str", True, _cidr_or_ipv4, create_only=True),
                FieldSpec("nexthop", "str", True, _ipv4, create_only=True),
                FieldSpec("service_type", "str", True, _SERVICE_TYPE, create_only=True),
                # Set by the service: the gateway's public IP whose block is the destination.
                _ref("public_ip_id", "public_ip", required=False, computed=True),
                *_OTHER_GATEWAYS,
                FieldSpec("orchestration_state", "str", computed=True),
            ),
            heat_template="static_route_internet",
        ),
    )
}

if set(RESOURCE_TYPES) != set(keys.PLURALS):  # pragma: no cover - caught at import
    raise RuntimeError("resources.RESOURCE_TYPES and keys.PLURALS disagree")


def resource_type(name: str) -> ResourceType:
    """The type called ``name``; an unknown one is a ValidationError."""
    try:
        return RESOURCE_TYPES[name]
    except KeyError:
        raise ValidationError(
            f"resource type {name!r}", "", "is not a known resource type"
        ) from None


def field_spec(type_name: str, field: str) -> FieldSpec | None:
    """The spec of ``field`` of ``type_name``, None when the type has no such field."""
    return resource_type(type_name).fields.get(field)


def secret_fields(type_name: str) -> list[str]:
    """The fields of ``type_name`` that carry a secret (``edge_router``: ``password``)."""
    return [f.name for f in resource_type(type_name).fields.values() if f.secret]


def relation_target(type_name: str, field: str) -> str | None:
    """The type ``field`` of ``type_name`` refers to, None when it is not a reference."""
    spec = field_spec(type_name, field)
    return None if spec is None else spec.target


def referrers(target: str) -> list[tuple[str, str]]:
    """``(type, field)`` of every reference to ``target``, e.g. to find dependents."""
    return [
        (t.name, f.name)
        for t in RESOURCE_TYPES.values()
        for f in t.fields.values()
        if f.target == target
    ]


def is_workable(type_name: str) -> bool:
    """Whether writing a resource of this type creates jobs."""
    return resource_type(type_name).workable


def object_name(type_name: str, body: Mapping[str, Any]) -> str:
    """How errors name a resource: ``<type> <id>``, or ``<type> <name>`` without a valid id."""
    rid = body.get("id")
    if isinstance(rid, str) and _UUID_RE.match(rid):
        return f"{type_name} {rid}"
    name = body.get("name")
    if isinstance(name, str) and name.strip():
        return f"{type_name} {name}"
    return f"{type_name} (no id)"


# --- validation ------------------------------------------------------------------------

_KINDS: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "bool": bool,
    "list": list,
    "object": dict,
    "array": list,
    "secret": (str, dict),
}


def _kind_ok(spec: FieldSpec, value: Any) -> bool:
    # JSON true/false decode to bool, a subclass of int: ssh_port true is not a port.
    if spec.kind == "int" and isinstance(value, bool):
        return False
    return isinstance(value, _KINDS[spec.kind])


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}.get(
        type(value), "object"
    )


_KIND_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "list": "a list",
    "object": "an object",
    "array": "a list",
    "secret": 'a reference {"ref": "<scheme>:<name>"} or a string',
}


def validate(
    type_name: str,
    body: object,
    lookup: Lookup,
    *,
    allow_unknown_fields: bool = False,
) -> dict[str, Any]:
    """Check a resource body against its type and the current graph; return a copy.

    ``lookup(type, id)`` gives the current body of another resource (None if absent);
    it is how references are checked to exist, to have the right type, and to be
    consistent with this body. The first problem found raises a ValidationError whose
    ``obj`` is ``<type> <id>`` and whose ``field`` is the offending field.
    """
    rtype = resource_type(type_name)
    if not isinstance(body, dict):
        raise ValidationError(type_name, "body", f"must be a JSON object, not {_json_kind(body)}")
    obj = object_name(type_name, body)

    if not allow_unknown_fields:
        for name in body:
            if name not in rtype.fields:
                raise ValidationError(obj, name, f"is not a field of {type_name}")

    for spec in rtype.fields.values():
        if spec.name not in body or body[spec.name] is None:
            if spec.required:
                raise ValidationError(obj, spec.name, "is missing")
            continue
        value = body[spec.name]
        if not _kind_ok(spec, value):
            raise ValidationError(
                obj, spec.name, f"must be {_KIND_NAMES[spec.kind]}, not {_json_kind(value)}"
            )
        reason = spec.check(value) if spec.check is not None else None
        if reason is not None:
            raise ValidationError(obj, spec.name, reason)

    refs = _check_references(rtype, body, obj, lookup)
    _CROSS_CHECKS.get(type_name, _no_cross_check)(body, refs, obj, lookup)
    return dict(body)


def _check_references(
    rtype: ResourceType, body: Mapping[str, Any], obj: str, lookup: Lookup
) -> dict[str, Mapping[str, Any]]:
    """Resolve every reference; return field -> referenced body (single references)."""
    out: dict[str, Mapping[str, Any]] = {}
    for spec in rtype.fields.values():
        if spec.target is None or body.get(spec.name) is None:
            continue
        value = body[spec.name]
        if spec.many:
            for i, item in enumerate(value):
                field = f"{spec.name}[{i}]"
                if not isinstance(item, str):
                    raise ValidationError(obj, field, f"must be a string, not {_json_kind(item)}")
                _resolve(spec.target, item, field, obj, lookup)
        else:
            out[spec.name] = _resolve(spec.target, value, spec.name, obj, lookup)
    return out


def _resolve(target: str, rid: str, field: str, obj: str, lookup: Lookup) -> Mapping[str, Any]:
    reason = _uuid(rid)
    if reason is not None:
        raise ValidationError(obj, field, reason)
    found = lookup(target, rid)
    if found is not None:
        return found
    # Name the type it does have, so "wrong type" and "absent" read differently.
    for other in RESOURCE_TYPES:
        if other != target and lookup(other, rid) is not None:
            raise ValidationError(obj, field, f"{rid} is of type {other}, not {target}")
    raise ValidationError(obj, field, f"references {target} {rid}, which does not exist")


def _no_cross_check(
    body: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]], obj: str, lookup: Lookup
) -> None:
    return None


def _check_ha_router(
    body: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]], obj: str, lookup: Lookup
) -> None:
    if body["primary_router_id"] == body["secondary_router_id"]:
        raise ValidationError(obj, "secondary_router_id", "must differ from primary_router_id")
    available = body.get("available_gateways")
    if available is not None and available > body["maximum_gateways"]:
        raise ValidationError(obj, "available_gateways", f"{available} exceeds maximum_gateways")


def _check_ha_interface(
    body: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]], obj: str, lookup: Lookup
) -> None:
    if body["primary_interface_id"] == body["secondary_interface_id"]:
        raise ValidationError(
            obj, "secondary_interface_id", "must differ from primary_interface_id"
        )
    # Each member must sit on the router of the same role, or the pair's config would
    # go to one router twice.
    ha_router = refs["ha_router_id"]
    for role in ("primary", "secondary"):
        device = refs[f"{role}_interface_id"].get("device_id")
        router = ha_router.get(f"{role}_router_id")
        if device != router:
            raise ValidationError(
                obj,
                f"{role}_interface_id",
                f"is on edge_router {device}, not on the ha_router's {role} router {router}",
            )


def _check_internet_service(
    body: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]], obj: str, lookup: Lookup
) -> None:
    for i, rid in enumerate(body.get("downlink_interfaces") or []):
        link_type = (lookup("ha_interface", rid) or {}).get("link_type")
        if link_type != "downlink":
            raise ValidationError(
                obj, f"downlink_interfaces[{i}]", f"{rid} is a {link_type} ha_interface"
            )


def _check_internet_gateway(
    body: Mapping[str, Any], refs: Mapping[str, Mapping[str, Any]], obj: str, lookup: Lookup
) -> None:
    downlink = refs["downlink_interface_id"]
    for field, want in (("downlink_interface_id", "downlink"), ("associated_uplink_id", "uplink")):
        if field in refs and refs[field].get("link_type") != want:
            raise ValidationError(
                obj, field, f"{body[field]} is a {refs[field].get('link_type')} ha_interface"
            )

    service_id = body["internet_service_id"]
    if refs["qos_option_id"].get("internet_service_id") != service_id:
        raise ValidationError(
            obj, "qos_option_id", f"belongs to another internet_service than {service_id}"
        )
    offered_on = refs["internet_service_id"].get("downlink_interfaces")
    if offered_on is not None and body["downlink_interface_id"] not in offered_on:
        raise ValidationError(
            obj,
            "downlink_interface_id",
            f"is not among the downlink_interfaces of internet_service {service_id}",
        )

    vlan = int(body["vlan_id"])
    restricted = downlink.get("restricted_vlans")
    if isinstance(restricted, str):
        try:
            ranges = parse_vlan_ranges(restricted)
        except ValueError:
            ranges = []  # the ha_interface's own validation reports that
        if any(lo <= vlan <= hi for lo, hi in ranges):
            raise ValidationError(
                obj, "vlan_id", f"{vlan} is restricted on the downlink ({restricted})"
            )

    # The unit is the VLAN (ae0.1025 for vlan 1025), on the downlink's member interface
    # of the same role: the router config is built from these names.
    for role in ("primary", "secondary"):
        field = f"{role}_logical_interface_name"
        member_id = downlink.get(f"{role}_interface_id")
        member = lookup("er_physical_interface", member_id) if isinstance(member_id, str) else None
        if member is None:
            raise ValidationError(
                obj,
                "downlink_interface_id",
                f"its {role}_interface_id {member_id} does not exist",
            )
        expected = f"{member.get('name')}.{vlan}"
        if body[field] != expected:
            raise ValidationError(
                obj, field, f"{body[field]!r} must be {expected!r} (<{role} member>.<vlan_id>)"
            )


_CROSS_CHECKS: dict[
    str,
    Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]], str, Lookup], None],
] = {
    "ha_router": _check_ha_router,
    "ha_interface": _check_ha_interface,
    "internet_service": _check_internet_service,
    "internet_gateway": _check_internet_gateway,
}


def dependency_order() -> list[str]:
    """Resource types, every type after the types it references (creation order).

    The job manager plans the changes of one etcd revision in this order (deletes in the
    reverse), so a resource's workflow can wait for those of the resources it uses.
    """
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValidationError(name, "relations", "form a cycle")
        visiting.add(name)
        for target in sorted(set(RESOURCE_TYPES[name].relations.values())):
            visit(target)
        visiting.discard(name)
        order.append(name)

    for name in sorted(RESOURCE_TYPES):
        visit(name)
    return order
