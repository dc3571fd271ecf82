"""``/config`` resources -> NetBox objects: the reverse of :mod:`nornir_esi.netbox.sync`.

For moving an existing inventory (the origin's resources, ``inventory/resources.yaml``)
into NetBox once, and for the lab and the tests. Each object carries its resource id in
``esi_id``, so a sync afterwards gives the same ids back. Idempotent: objects are found by
name (and device) before they are created; nothing that exists is changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nornir_esi.contract.resources import parse_vlan_ranges
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE, NETCONF_SERVICE, PLATFORM, ensure_schema

__all__ = ["seed"]

SITE = "esi-lab"
MANUFACTURER = "Juniper"
DEVICE_TYPE = "vMX"


def _get_or_create(endpoint: Any, lookup: Mapping[str, Any], **fields: Any) -> Any:
    found = endpoint.get(**lookup)
    return found if found is not None else endpoint.create({**lookup, **fields})


def _allowed(restricted: str) -> list[list[int]]:
    """VLAN ranges outside ``restricted`` within 1-4094, as NetBox's vid_ranges."""
    ranges = parse_vlan_ranges(restricted) if restricted else []
    taken = {vid for lo, hi in ranges for vid in range(lo, hi + 1)}
    out: list[list[int]] = []
    for vid in range(1, 4095):
        if vid in taken:
            continue
        if out and out[-1][1] == vid - 1:
            out[-1][1] = vid
        else:
            out.append([vid, vid])
    return out


def seed(nb: Any, items: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, int]:
    """Create the NetBox objects of ``items``; returns NetBox ids by resource id.

    Edge routers, their interfaces, HA routers and HA interfaces; other types are not
    NetBox's.
    """
    ensure_schema(nb)
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for resource_type, body in items:
        by_type.setdefault(resource_type, []).append(body)
    site = _get_or_create(nb.dcim.sites, {"slug": SITE}, name=SITE, status="active")
    maker = _get_or_create(nb.dcim.manufacturers, {"slug": MANUFACTURER.lower()}, name=MANUFACTURER)
    dtype = _get_or_create(
        nb.dcim.device_types,
        {"slug": DEVICE_TYPE.lower()},
        model=DEVICE_TYPE,
        manufacturer=maker.id,
    )
    role = nb.dcim.device_roles.get(slug=EDGE_ROUTER_ROLE)
    platform = nb.dcim.platforms.get(slug=PLATFORM)
    ids: dict[str, int] = {}

    def tenant(tenant_id: str) -> int:
        found = nb.tenancy.tenants.get(slug=tenant_id)
        if found is None:
            found = nb.tenancy.tenants.create(
                name=tenant_id, slug=tenant_id, custom_fields={"esi_tenant_id": tenant_id}
            )
        return int(found.id)

    for body in by_type.get("edge_router", []):
        if body.get("autonomous_system"):
            asn = int(body["autonomous_system"])
            rir = _get_or_create(nb.ipam.rirs, {"slug": "private"}, name="private", is_private=True)
            record = _get_or_create(nb.ipam.asns, {"asn": asn}, rir=rir.id)
            sites = {s.id for s in (record.sites or [])}
            if site.id not in sites:
                record.sites = [*sites, site.id]
                record.save()
        device = nb.dcim.devices.get(name=body["name"], site_id=site.id)
        if device is None:
            device = nb.dcim.devices.create(
                name=body["name"],
                device_type=dtype.id,
                role=role.id,
                platform=platform.id,
                site=site.id,
                tenant=tenant(body["tenant_id"]),
                description=body.get("description", ""),
                status="active",
                custom_fields={"esi_id": body["id"]},
            )
            address = nb.ipam.ip_addresses.create(
                address=f"{body['ip']}/32",
                assigned_object_type="dcim.interface",
                assigned_object_id=nb.dcim.interfaces.create(
                    device=device.id, name="fxp0", type="1000base-t", mgmt_only=True
                ).id,
            )
            device.primary_ip4 = address.id
            device.save()
            nb.ipam.services.create(
                parent_object_type="dcim.device",
                parent_object_id=device.id,
                name=NETCONF_SERVICE,
                port_mappings=[f"tcp/{int(body['ssh_port'])}"],
            )
        ids[str(body["id"])] = int(device.id)

    for body in by_type.get("er_physical_interface", []):
        device_id = ids.get(str(body["device_id"]))
        if device_id is None:
            raise ValidationError(f"er_physical_interface {body['id']}", "device_id", "unknown")
        found = nb.dcim.interfaces.get(device_id=device_id, name=body["name"])
        if found is None:
            fields: dict[str, Any] = {"esi_id": body["id"]}
            if body.get("connected_ese_port_id"):
                fields["esi_connected_port_id"] = body["connected_ese_port_id"]
            found = nb.dcim.interfaces.create(
                device=device_id,
                name=body["name"],
                type="lag",
                description=body.get("description", ""),
                custom_fields=fields,
            )
        ids[str(body["id"])] = int(found.id)

    for body in by_type.get("ha_router", []):
        chassis = nb.dcim.virtual_chassis.get(name=body["name"])
        if chassis is None:
            chassis = nb.dcim.virtual_chassis.create(
                name=body["name"],
                description=body.get("description", ""),
                custom_fields={
                    "esi_id": body["id"],
                    "esi_maximum_gateways": int(body["maximum_gateways"]),
                },
            )
            for position, key in ((1, "primary_router_id"), (2, "secondary_router_id")):
                device = nb.dcim.devices.get(ids[str(body[key])])
                device.virtual_chassis = chassis.id
                device.vc_position = position
                device.save()
            chassis.master = ids[str(body["primary_router_id"])]
            chassis.save()
        ids[str(body["id"])] = int(chassis.id)

    for body in by_type.get("ha_interface", []):
        group = nb.ipam.vlan_groups.get(name=body["name"])
        if group is None:
            group = nb.ipam.vlan_groups.create(
                name=body["name"],
                slug=body["name"].lower(),
                description=body.get("description", ""),
                vid_ranges=_allowed(str(body.get("restricted_vlans", ""))),
                custom_fields={
                    "esi_id": body["id"],
                    "esi_primary_interface": ids[str(body["primary_interface_id"])],
                    "esi_secondary_interface": ids[str(body["secondary_interface_id"])],
                    "esi_link_type": body.get("link_type", "downlink"),
                },
            )
        ids[str(body["id"])] = int(group.id)
    return ids
