"""How the resource graph sits in NetBox: its own models first, custom fields for the rest.

=====================  =================================================================
resource               NetBox
=====================  =================================================================
edge_router            ``dcim.device`` with role ``esi-edge-router`` and platform ``junos``:
                       ``ip`` is its primary IPv4 address, ``ssh_port`` the port of its
                       ``netconf`` service (``ipam.service``, 830 when it has none),
                       ``autonomous_system`` its site's ASN (``ipam.asn``)
er_physical_interface  ``dcim.interface`` (a LAG such as ``ae0``) named by an HA interface
ha_router              ``dcim.virtualchassis`` of two edge routers: the master is the
                       primary router
ha_interface           ``ipam.vlangroup``: the VLAN space of the two routers' interfaces,
                       which are custom fields of the group; its VLAN ranges are the ids
                       gateways may use (``restricted_vlans`` is the rest)
internet_gateway       written back: ``ipam.vlan`` in the HA interface's group (NetBox
                       refuses a VLAN id taken in the group), ``ipam.vrf``, a virtual
                       ``dcim.interface`` unit (``ae0.1025``) on each router in the VRF
public_ip_pool,        written back: ``ipam.prefix`` (the pool's ``is_pool``; a block
public_ip              inside it)
gw_interface           written back: ``ipam.ipaddress`` of each router's address on its
                       unit, the VIP (role ``vrrp``) in an ``ipam.fhrpgroup`` (``vrrp3``,
                       the vrid) that both units join with their priorities
tenant_id              ``tenancy.tenant``: custom field ``esi_tenant_id``, else its slug
internet_service,      stay ``/config`` resources of ours: they are names of Junos
qos_option             policies, filters and policers and their text, which NetBox has no
                       model for
=====================  =================================================================

Every mapped object may carry ``esi_id``, the resource's id; without it the id is derived
from the object's type and NetBox id (stable for the life of the object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import ValidationError

__all__ = [
    "CUSTOM_FIELDS",
    "EDGE_ROUTER_ROLE",
    "NETCONF_SERVICE",
    "OBJECT_TYPES",
    "PLATFORM",
    "CustomField",
    "ensure_event_rule",
    "ensure_schema",
    "ensure_scripts",
]

EDGE_ROUTER_ROLE = "esi-edge-router"
PLATFORM = "junos"
NETCONF_SERVICE = "netconf"
DEFAULT_NETCONF_PORT = 830


@dataclass(frozen=True)
class CustomField:
    """A custom field the mapping creates in NetBox (its group ``nornir-esi``, never required).

    ``extra``: further fields of the API's payload.
    """

    name: str
    type: str
    object_types: tuple[str, ...]
    label: str
    description: str
    related_object_type: str | None = None
    default: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The body of the NetBox API request that creates the field."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "object_types": list(self.object_types),
            "label": self.label,
            "description": self.description,
            "required": False,
            "group_name": "nornir-esi",
            **self.extra,
        }
        if self.related_object_type:
            out["related_object_type"] = self.related_object_type
        if self.default is not None:
            out["default"] = self.default
        return out


CUSTOM_FIELDS = (
    CustomField(
        "esi_id",
        "text",
        (
            "dcim.device",
            "dcim.interface",
            "dcim.virtualchassis",
            "ipam.vlangroup",
            "ipam.vlan",
            "ipam.prefix",
            "ipam.ipaddress",
            "ipam.fhrpgroup",
        ),
        "ESI id",
        "The nornir-esi resource id (a UUID); derived from the NetBox id when empty",
    ),
    CustomField(
        "esi_tenant_id",
        "text",
        ("tenancy.tenant",),
        "ESI tenant id",
        "The tenant id resources carry (an OpenStack project id); the slug when empty",
    ),
    CustomField(
        "esi_maximum_gateways",
        "integer",
        ("dcim.virtualchassis",),
        "Maximum gateways",
        "How many internet gateways the router pair may carry",
        default=500,
    ),
    CustomField(
        "esi_primary_interface",
        "object",
        ("ipam.vlangroup",),
        "Primary interface",
        "The HA interface's interface on the pair's primary router",
        related_object_type="dcim.interface",
    ),
    CustomField(
        "esi_secondary_interface",
        "object",
        ("ipam.vlangroup",),
        "Secondary interface",
        "The HA interface's interface on the pair's secondary router",
        related_object_type="dcim.interface",
    ),
    CustomField(
        "esi_link_type",
        "text",
        ("ipam.vlangroup",),
        "Link type",
        "downlink (gateways are created on it) or uplink",
        default="downlink",
    ),
    CustomField(
        "esi_connected_port_id",
        "text",
        ("dcim.interface",),
        "Connected ESE port",
        "The id of the switching-fabric port the interface is cabled to",
    ),
    CustomField(
        "esi_internet_service",
        "text",
        ("ipam.vlan",),
        "Internet service",
        "The gateway's internet_service id (a nornir-esi resource)",
    ),
    CustomField(
        "esi_qos_option",
        "text",
        ("ipam.vlan",),
        "QoS option",
        "The gateway's qos_option id (a nornir-esi resource)",
    ),
    CustomField(
        "esi_state",
        "text",
        ("ipam.vlan",),
        "ESI state",
        "The gateway's worker_state as nornir-esi last saw it",
    ),
)


def ensure_schema(nb: Any) -> list[str]:
    """Create what the mapping needs in NetBox: custom fields, the role, the platform.

    What exists is left as it is. Returns what was created.
    """
    created: list[str] = []
    for spec in CUSTOM_FIELDS:
        found = nb.extras.custom_fields.get(name=spec.name)
        if found is None:
            nb.extras.custom_fields.create(spec.payload())
            created.append(f"custom field {spec.name}")
            continue
        # A field of an earlier version of the mapping: it now applies to more types.
        have = set(found.object_types or [])
        if not have >= set(spec.object_types):
            found.update({"object_types": sorted(have | set(spec.object_types))})
            created.append(f"custom field {spec.name}: object types")
    if nb.dcim.device_roles.get(slug=EDGE_ROUTER_ROLE) is None:
        nb.dcim.device_roles.create(
            name="ESI edge router", slug=EDGE_ROUTER_ROLE, color="2196f3", vm_role=False
        )
        created.append(f"device role {EDGE_ROUTER_ROLE}")
    if nb.dcim.platforms.get(slug=PLATFORM) is None:
        nb.dcim.platforms.create(name="Junos", slug=PLATFORM)
        created.append(f"platform {PLATFORM}")
    return created


WEBHOOK_NAME = "nornir-esi"
# The NetBox object types the mapping reads: what the event rule installed by
# `nornir-esi netbox setup` fires on, and what the receiver acts on.
OBJECT_TYPES = (
    "dcim.device",
    "dcim.interface",
    "dcim.virtualchassis",
    "ipam.vlangroup",
    "tenancy.tenant",
    "ipam.service",
    "ipam.ipaddress",
    "ipam.asn",
)


def ensure_event_rule(nb: Any, url: str, secret: str) -> list[str]:
    """A webhook to ``url`` signed with ``secret``, and an event rule firing it.

    The rule fires on changes to the models the mapping reads; an existing webhook gets the
    new URL and secret. Returns what was created.
    """
    created: list[str] = []
    hook = nb.extras.webhooks.get(name=WEBHOOK_NAME)
    if hook is None:
        hook = nb.extras.webhooks.create(
            name=WEBHOOK_NAME,
            payload_url=url,
            http_method="POST",
            http_content_type="application/json",
            secret=secret,
            ssl_verification=True,
            timeout=10,
        )
        created.append(f"webhook {WEBHOOK_NAME} -> {url}")
    else:
        hook.update({"payload_url": url, "secret": secret})
    if nb.extras.event_rules.get(name=WEBHOOK_NAME) is None:
        nb.extras.event_rules.create(
            name=WEBHOOK_NAME,
            object_types=list(OBJECT_TYPES),
            event_types=["object_created", "object_updated", "object_deleted"],
            action_type="webhook",
            action_object_type="extras.webhook",
            action_object_id=hook.id,
            enabled=True,
        )
        created.append(f"event rule {WEBHOOK_NAME}")
    return created


SCRIPT_MODULE = "esi_gateways.py"


def ensure_scripts(url: str, token: str) -> list[str]:
    """Upload (or replace) the custom scripts module ``esi_gateways.py`` into NetBox."""
    import requests

    source = (Path(__file__).parent / "scripts" / SCRIPT_MODULE).read_bytes()
    endpoint = f"{url.rstrip('/')}/api/extras/scripts/upload/"
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    files = {"file": (SCRIPT_MODULE, source, "text/x-python")}
    # The upload endpoint has no GET: replace the module, or add it when there is none.
    response = requests.put(f"{endpoint}{SCRIPT_MODULE}/", headers=headers, files=files, timeout=60)
    done = f"custom scripts {SCRIPT_MODULE} replaced"
    if response.status_code == 404:
        response = requests.post(endpoint, headers=headers, files=files, timeout=60)
        done = f"custom scripts {SCRIPT_MODULE} installed"
    if response.status_code >= 400:
        raise ValidationError(
            f"NetBox {url}", "scripts", f"refused {SCRIPT_MODULE}: {response.text[:500]}"
        )
    return [done]
