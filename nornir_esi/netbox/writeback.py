"""``/state`` -> NetBox: what the routers carry, shown where operators look.

For each internet gateway, from its ``/config`` body and ``/state``:

- its VLAN in the HA interface's VLAN group (created when the gateway came from
  elsewhere than NetBox's script), named after the gateway, ``esi_id`` and ``esi_state``
  set, status ``active`` once created or modified, ``reserved`` while pending;
- its VRF (``vrf_name``, the gateway's tenant);
- its interface unit on each router (``ae0.1025``: a virtual interface under the
  physical one, tagged with the VLAN, in the VRF).

Once the gateway is ``DELETE_COMPLETED`` (or gone from ``/config``), the units, the VRF
and the VLAN go. Idempotent: what is already right is not written again.

VRRP is not written as an FHRP group: a gateway gets its VRRP settings from the router
pair's apply-groups (``InetGW1-VRRP``: wildcards, no group id or virtual address of the
gateway's own), so there is nothing an FHRP group could hold.

:class:`WritebackLoop` follows ``/state/.../internet_gateways/`` and writes each change
back, after a first pass over every gateway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import read_config
from nornir_esi.contract.records import State
from nornir_esi.exceptions import EsiError, TemporaryError
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE
from nornir_esi.netbox.sync import resource_id
from nornir_esi.store.base import Store

__all__ = ["WritebackLoop", "write_back"]

log = logging.getLogger(__name__)

GATEWAY = "internet_gateway"
_ACTIVE = {"CREATE_COMPLETED", "MODIFY_COMPLETED"}
_GONE = {"DELETE_COMPLETED"}


def _by_resource_id(records: Any, model: str) -> dict[str, Any]:
    return {resource_id(model, r): r for r in records}


def _body(store: Store, resource_type: str, rid: str) -> Mapping[str, Any] | None:
    record = read_config(store, resource_type, rid)
    return None if record is None else record.body


def _set(record: Any, changes: Mapping[str, Any]) -> None:
    """Save ``changes`` when they differ from what ``record`` holds."""
    current = {k: getattr(record, k, None) for k in changes}

    def plain(value: Any) -> Any:
        if hasattr(value, "id"):
            return value.id
        if isinstance(value, list):
            return sorted(plain(v) for v in value)
        if isinstance(value, Mapping) and "value" in value:
            return value["value"]
        return value

    if any(plain(current[k]) != plain(v) for k, v in changes.items()):
        record.update(dict(changes))


def write_back(nb: Any, store: Store, gateway_id: str) -> str:
    """Reflect one gateway in NetBox; returns what was done ("active", "removed", ...)."""
    config = read_config(store, GATEWAY, gateway_id)
    state_entry = store.get(keys.state(GATEWAY, gateway_id))
    state = None if state_entry is None else State.from_value(state_entry.value)
    vlans = list(nb.ipam.vlans.filter(cf_esi_id=gateway_id))
    if config is None or (state is not None and state.worker_state in _GONE):
        return _remove(nb, vlans)
    body = config.body
    worker_state = state.worker_state if state is not None else "PENDING_CREATE"
    ha = _body(store, "ha_interface", str(body["downlink_interface_id"]))
    if ha is None:
        return "skipped: its ha_interface is not in /config"
    groups = _by_resource_id(nb.ipam.vlan_groups.all(), "ipam.vlangroup")
    group = groups.get(str(body["downlink_interface_id"]))
    if group is None:
        return "skipped: its HA interface is not a NetBox VLAN group"
    tenant = _tenant(nb, str(body["tenant_id"]))
    vid = int(body["vlan_id"])
    active = worker_state in _ACTIVE
    fields = {
        "name": body["name"],
        "tenant": tenant,
        "custom_fields": {
            "esi_id": gateway_id,
            "esi_internet_service": body["internet_service_id"],
            "esi_qos_option": body["qos_option_id"],
        },
    }
    vlan = vlans[0] if vlans else nb.ipam.vlans.get(group_id=group.id, vid=vid)
    if vlan is None:
        vlan = nb.ipam.vlans.create(group=group.id, vid=vid, status="reserved", **fields)
    if active:
        vrf = nb.ipam.vrfs.get(name=body["vrf_name"])
        if vrf is None:
            vrf = nb.ipam.vrfs.create(name=body["vrf_name"], tenant=tenant)
        _write_units(nb, store, body, ha, vlan.id, vrf.id)
    # The VLAN's status last: active means the VRF and the units are there too.
    status = "active" if active else "reserved"
    custom = {**(vlan.custom_fields or {}), **fields["custom_fields"], "esi_state": worker_state}
    _set(vlan, {**fields, "status": status, "custom_fields": custom})
    return status


def _write_units(
    nb: Any, store: Store, body: Mapping[str, Any], ha: Mapping[str, Any], vlan: int, vrf: int
) -> None:
    """The gateway's interface unit on each router: virtual, tagged, in the VRF."""
    devices = _by_resource_id(nb.dcim.devices.filter(role=EDGE_ROUTER_ROLE), "dcim.device")
    for role in ("primary", "secondary"):
        physical = _body(store, "er_physical_interface", str(ha[f"{role}_interface_id"]))
        device = devices.get(str(physical["device_id"])) if physical is not None else None
        if physical is None or device is None:
            continue
        parent = nb.dcim.interfaces.get(device_id=device.id, name=physical["name"])
        unit_name = str(body[f"{role}_logical_interface_name"])
        unit_fields = {
            "type": "virtual",
            "parent": parent.id if parent is not None else None,
            "mode": "tagged",
            "tagged_vlans": [vlan],
            "vrf": vrf,
            "description": f"inet_gw {body['name']}",
        }
        unit = nb.dcim.interfaces.get(device_id=device.id, name=unit_name)
        if unit is None:
            nb.dcim.interfaces.create(device=device.id, name=unit_name, **unit_fields)
        else:
            _set(unit, unit_fields)


def _tenant(nb: Any, tenant_id: str) -> int | None:
    for tenant in nb.tenancy.tenants.all():
        custom = tenant.custom_fields or {}
        if tenant_id in (custom.get("esi_tenant_id"), tenant.slug):
            return int(tenant.id)
    return None


def _remove(nb: Any, vlans: list[Any]) -> str:
    if not vlans:
        return "absent"
    for vlan in vlans:
        units = list(nb.dcim.interfaces.filter(vlan_id=vlan.id, type="virtual"))
        vrfs = {u.vrf.id for u in units if u.vrf is not None}
        for unit in units:
            unit.delete()
        for vrf_id in vrfs:
            vrf = nb.ipam.vrfs.get(vrf_id)
            if vrf is not None and not list(nb.dcim.interfaces.filter(vrf_id=vrf_id)):
                vrf.delete()
        vlan.delete()
    return "removed"


class WritebackLoop:
    """Follows gateway ``/state`` changes and writes each back.

    A first pass covers every gateway. NetBox or etcd errors are logged, and a full pass
    follows after a pause.
    """

    def __init__(self, nb: Any, store: Store, *, retry_after: float = 2.0) -> None:
        self.nb = nb
        self.store = store
        self.retry_after = retry_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done: dict[str, str] = {}
        self.last_error = ""

    def start(self) -> WritebackLoop:
        """Start the thread; returns the loop."""
        self._thread = threading.Thread(target=self._run, name="netbox writeback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the loop: its watch cancelled; waits up to 30 s for the thread."""
        self._stop.set()
        watch = getattr(self, "_watch", None)
        if watch is not None:
            watch.cancel()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _one(self, gateway_id: str) -> bool:
        try:
            self.done[gateway_id] = write_back(self.nb, self.store, gateway_id)
            return True
        except Exception as exc:  # NetBox answering errors, etcd away: tried again later
            self.last_error = f"{gateway_id}: {type(exc).__name__}: {exc}"
            log.warning("netbox writeback of %s failed: %s", gateway_id, exc)
            return False

    def _run(self) -> None:
        prefix = keys.type_prefix(keys.STATE_PREFIX, GATEWAY)
        while not self._stop.is_set():
            try:
                revision = self.store.revision()
                pending = {
                    parsed[1]
                    for e in self.store.get_prefix(prefix)
                    if (parsed := keys.parse_state_key(e.key))
                }
                self._watch = self.store.watch(prefix, start_revision=revision + 1)
                failed = [g for g in sorted(pending) if not self._one(g)]
                # Once NetBox refused or was away: start over after a pause, with a full
                # pass, so no gateway is left unwritten.
                if not failed:
                    for event in self._watch:
                        parsed = keys.parse_state_key(event.key)
                        if parsed is not None and not self._one(parsed[1]):
                            failed.append(parsed[1])
                            break
                self._watch.cancel()
                if failed:
                    log.warning("netbox writeback: %s not written; trying again", failed)
            except TemporaryError as exc:
                log.warning("netbox writeback: %s; resuming", exc)
            except EsiError as exc:
                log.warning("netbox writeback: %s; starting over", exc)
            self._stop.wait(self.retry_after)
