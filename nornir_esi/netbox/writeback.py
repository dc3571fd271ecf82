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

A gateway alone has no VRRP group of its own (the pair's apply-groups hold only
wildcards): its gw_interface brings the group, and with it the FHRP group
(:mod:`nornir_esi.netbox.ipam`).

:class:`WritebackLoop` follows ``/state/`` and writes each change of a gateway back, and
each of its family's IPAM (:mod:`nornir_esi.netbox.ipam`: public IP pools and blocks as
prefixes, a gw_interface's addresses, its VIP with role VRRP in an FHRP group), after a
first pass over every one.
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
from nornir_esi.netbox.ipam import FAMILY_TYPES, write_family
from nornir_esi.netbox.objects import save_changed, tenant_pk
from nornir_esi.netbox.schema import EDGE_ROUTER_ROLE
from nornir_esi.netbox.sync import resource_id
from nornir_esi.store.base import Store

__all__ = ["WritebackLoop", "write_back"]

log = logging.getLogger(__name__)

GATEWAY = "internet_gateway"
# What the loop writes back, in the order of a full pass.
_ORDER = (GATEWAY, *FAMILY_TYPES)
_ACTIVE = {"CREATE_COMPLETED", "MODIFY_COMPLETED"}
_GONE = {"DELETE_COMPLETED"}


def _by_resource_id(records: Any, model: str) -> dict[str, Any]:
    return {resource_id(model, r): r for r in records}


def _body(store: Store, resource_type: str, rid: str) -> Mapping[str, Any] | None:
    record = read_config(store, resource_type, rid)
    return None if record is None else record.body


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
    tenant = tenant_pk(nb, str(body["tenant_id"]))
    vid = int(body["vlan_id"])
    active = worker_state in _ACTIVE
    fields: dict[str, Any] = {
        # NetBox wants a VLAN's name; a gateway's may be "" (the origin's default).
        "name": body.get("name") or f"inet-gw-{vid}",
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
    save_changed(vlan, {**fields, "status": status, "custom_fields": custom})
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
            save_changed(unit, unit_fields)


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
    """Follows the ``/state`` changes of gateways and their family, and writes each back.

    Gateways with :func:`write_back`, the family's pools, public IPs and gw_interfaces
    with :func:`nornir_esi.netbox.ipam.write_family`. A first pass covers every one,
    gateways first. NetBox or etcd errors are logged, and a full pass follows after a pause.
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

    def _one(self, resource: tuple[str, str]) -> bool:
        resource_type, rid = resource
        try:
            if resource_type == GATEWAY:
                self.done[rid] = write_back(self.nb, self.store, rid)
            else:
                self.done[rid] = write_family(self.nb, self.store, resource_type, rid)
            return True
        except Exception as exc:  # NetBox answering errors, etcd away: tried again later
            self.last_error = f"{resource_type} {rid}: {type(exc).__name__}: {exc}"
            log.warning("netbox writeback of %s %s failed: %s", resource_type, rid, exc)
            return False

    @staticmethod
    def _written(key: str) -> tuple[str, str] | None:
        """The ``(type, id)`` of a ``/state`` key this loop writes back; None for another."""
        parsed = keys.parse_state_key(key)
        return parsed if parsed is not None and parsed[0] in _ORDER else None

    def _run(self) -> None:
        prefix = keys.STATE_PREFIX
        while not self._stop.is_set():
            try:
                revision = self.store.revision()
                pending = {
                    found
                    for e in self.store.get_prefix(prefix)
                    if (found := self._written(e.key)) is not None
                }
                self._watch = self.store.watch(prefix, start_revision=revision + 1)
                # Gateways first: a gw_interface's addresses go on their units.
                ordered = sorted(pending, key=lambda r: (_ORDER.index(r[0]), r[1]))
                failed = [r for r in ordered if not self._one(r)]
                # Once NetBox refused or was away: start over after a pause, with a full
                # pass, so nothing is left unwritten.
                if not failed:
                    for event in self._watch:
                        found = self._written(event.key)
                        if found is not None and not self._one(found):
                            failed.append(found)
                            break
                self._watch.cancel()
                if failed:
                    log.warning("netbox writeback: %s not written; trying again", failed)
            except TemporaryError as exc:
                log.warning("netbox writeback: %s; resuming", exc)
            except EsiError as exc:
                log.warning("netbox writeback: %s; starting over", exc)
            self._stop.wait(self.retry_after)
