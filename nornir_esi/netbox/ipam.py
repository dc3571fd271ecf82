"""``/config`` and ``/state`` -> NetBox IPAM: the family's addresses where operators look.

For each resource of the gateway's family, from its ``/config`` body and ``/state``:

- **public_ip_pool**: an ``ipam.prefix`` (``subnet_ip/submask_length``), ``is_pool``, the
  pool's tenant, status ``active``;
- **public_ip**: an ``ipam.prefix`` of its block (``cidr/submask_length``, inside its pool's
  prefix), the gateway's tenant, status ``active`` once ``CREATE_COMPLETED``, ``reserved``
  while pending (it is allocated in ``/config`` before the routers carry it);
- **gw_interface**: its three addresses as ``ipam.ipaddress`` with its mask, in the
  gateway's VRF: each router's own address assigned to the gateway's unit on that router
  (``ae0.1025``, written back with the gateway), the VIP with role ``vrrp`` assigned to an
  ``ipam.fhrpgroup`` (protocol ``vrrp3``, the Junos pair runs ``vrrp version-3``; group id
  the vrid) which both units join with their priorities (105 primary, 100 secondary).

Every object written carries the resource's id in ``esi_id``; that is how a later pass
finds it, and the only objects ever changed or removed: what NetBox users made stays.
Once the resource is ``DELETE_COMPLETED`` (or gone from ``/config``), its objects go.
Idempotent: what is already right is not written again. Called by
:class:`nornir_esi.netbox.writeback.WritebackLoop` for each ``/state`` change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import read_config
from nornir_esi.contract.records import State
from nornir_esi.netbox.objects import plain, save_changed, tenant_pk
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE

__all__ = ["FAMILY_TYPES", "VRRP_PROTOCOL", "write_family"]

FAMILY_TYPES = ("public_ip_pool", "public_ip", "gw_interface")
# NetBox's FHRP protocol of the pair's `protocols vrrp version-3`.
VRRP_PROTOCOL = "vrrp3"
PRIORITIES = {"primary": 105, "secondary": 100}
_ACTIVE = {"CREATE_COMPLETED", "MODIFY_COMPLETED", "READ_COMPLETE"}
_GONE = {"DELETE_COMPLETED"}


def _ours(endpoint: Any, rid: str) -> list[Any]:
    return list(endpoint.filter(cf_esi_id=rid))


def _put(endpoint: Any, rid: str, key: Mapping[str, Any], fields: Mapping[str, Any]) -> Any:
    """The object of ``endpoint`` carrying ``esi_id`` ``rid`` and ``key``, written as ``fields``.

    One found by ``esi_id`` and ``key`` is updated when it differs; else it is created.
    """
    wanted = {**key, **fields, "custom_fields": {"esi_id": rid}}
    for record in _ours(endpoint, rid):
        if all(plain(getattr(record, k, None)) == plain(v) for k, v in key.items()):
            save_changed(record, wanted)
            return record
    return endpoint.create(dict(wanted))


def _drop(endpoint: Any, rid: str, keep: set[int] | None = None) -> int:
    """Delete the objects of ``endpoint`` carrying ``esi_id`` ``rid``, but those in ``keep``."""
    gone = 0
    for record in _ours(endpoint, rid):
        if keep is None or record.id not in keep:
            record.delete()
            gone += 1
    return gone


def write_family(nb: Any, store: Any, resource_type: str, rid: str) -> str:
    """Reflect one family member in NetBox IPAM; returns what was done (``active``, ...)."""
    config = read_config(store, resource_type, rid)
    entry = store.get(keys.state(resource_type, rid))
    state = None if entry is None else State.from_value(entry.value)
    if config is None or (state is not None and state.worker_state in _GONE):
        return _remove(nb, resource_type, rid)
    body = config.body
    active = state is not None and state.worker_state in _ACTIVE
    tenant = tenant_pk(nb, str(body.get("tenant_id", "")))
    if resource_type == "public_ip_pool":
        _put(
            nb.ipam.prefixes,
            rid,
            {"prefix": f"{body['subnet_ip']}/{body['submask_length']}"},
            {
                "status": "active",
                "is_pool": True,
                "tenant": tenant,
                "description": f"public IP pool {body.get('name') or rid}"[:200],
            },
        )
        return "active"
    if resource_type == "public_ip":
        if not body.get("cidr"):
            return "skipped: no block allocated"
        status = "active" if active else "reserved"
        gateway = read_config(store, "internet_gateway", str(body["internet_gw_id"]))
        name = gateway.body.get("name") if gateway is not None else body["internet_gw_id"]
        _put(
            nb.ipam.prefixes,
            rid,
            {"prefix": f"{body['cidr']}/{body['submask_length']}"},
            {
                "status": status,
                "tenant": tenant,
                "description": f"public IP of internet gateway {name}"[:200],
            },
        )
        return status
    if resource_type == "gw_interface":
        return _gw_interface(nb, store, rid, body, tenant, active)
    return f"skipped: {resource_type} is not written to NetBox"


def _gw_interface(
    nb: Any, store: Any, rid: str, body: Mapping[str, Any], tenant: int | None, active: bool
) -> str:
    gateway_record = read_config(store, "internet_gateway", str(body["internet_gw_id"]))
    if gateway_record is None:
        return "skipped: its gateway is not in /config"
    gateway = gateway_record.body
    vrf = nb.ipam.vrfs.get(name=gateway["vrf_name"])
    units = _units(nb, store, gateway)
    mask = int(body["netmask"])
    status = "active" if active else "reserved"
    common = {"vrf": vrf.id if vrf is not None else None, "tenant": tenant, "status": status}
    group = _put(
        nb.ipam.fhrp_groups,
        rid,
        {"protocol": VRRP_PROTOCOL, "group_id": int(body["vrid"])},
        {"name": f"{gateway['name']} VRRP"[:100], "description": f"gw_interface {rid}"[:200]},
    )
    kept = {group.id}
    assignments = {
        a.interface_id: a for a in nb.ipam.fhrp_group_assignments.filter(group_id=group.id)
    }
    for role, unit in units.items():
        if unit is None:
            continue
        assignment = assignments.pop(unit.id, None)
        if assignment is None:
            nb.ipam.fhrp_group_assignments.create(
                group=group.id,
                interface_type="dcim.interface",
                interface_id=unit.id,
                priority=PRIORITIES[role],
            )
        elif assignment.priority != PRIORITIES[role]:
            assignment.update({"priority": PRIORITIES[role]})
    for stale in assignments.values():
        stale.delete()
    addresses = []
    vip = _put(
        nb.ipam.ip_addresses,
        rid,
        {"address": f"{body['gw_vipv4']}/{mask}"},
        {
            **common,
            "role": "vrrp",
            "assigned_object_type": "ipam.fhrpgroup",
            "assigned_object_id": group.id,
            "description": f"VIP of internet gateway {gateway['name']}"[:200],
        },
    )
    addresses.append(vip.id)
    for role, unit in units.items():
        assigned: dict[str, Any] = (
            {"assigned_object_type": "dcim.interface", "assigned_object_id": unit.id}
            if unit is not None
            else {"assigned_object_type": None, "assigned_object_id": None}
        )
        own = _put(
            nb.ipam.ip_addresses,
            rid,
            {"address": f"{body[f'{role}_ipv4']}/{mask}"},
            {
                **common,
                **assigned,
                "description": f"{role} router of internet gateway {gateway['name']}"[:200],
            },
        )
        addresses.append(own.id)
    # An address that moved (an update of the gw_interface) leaves its old object.
    _drop(nb.ipam.ip_addresses, rid, keep=set(addresses))
    _drop(nb.ipam.fhrp_groups, rid, keep=kept)
    return status


def _units(nb: Any, store: Any, gateway: Mapping[str, Any]) -> dict[str, Any]:
    """The gateway's unit (``dcim.interface``) on each router, None where NetBox has none."""
    out: dict[str, Any] = {}
    ha = read_config(store, "ha_interface", str(gateway["downlink_interface_id"]))
    for role in ("primary", "secondary"):
        out[role] = None
        if ha is None:
            continue
        physical = read_config(store, "er_physical_interface", str(ha.body[f"{role}_interface_id"]))
        router = (
            None
            if physical is None
            else read_config(store, "edge_router", str(physical.body["device_id"]))
        )
        if router is None:
            continue
        device = nb.dcim.devices.get(name=router.body["name"], role=EDGE_ROUTER_ROLE)
        if device is not None:
            out[role] = nb.dcim.interfaces.get(
                device_id=device.id, name=str(gateway[f"{role}_logical_interface_name"])
            )
    return out


def _remove(nb: Any, resource_type: str, rid: str) -> str:
    if resource_type in ("public_ip_pool", "public_ip"):
        gone = _drop(nb.ipam.prefixes, rid)
    else:
        gone = _drop(nb.ipam.ip_addresses, rid)
        for group in _ours(nb.ipam.fhrp_groups, rid):
            for assignment in nb.ipam.fhrp_group_assignments.filter(group_id=group.id):
                assignment.delete()
            group.delete()
            gone += 1
    return "removed" if gone else "absent"
