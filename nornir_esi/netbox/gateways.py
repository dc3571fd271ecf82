"""Gateway requests from NetBox's custom scripts: create, update, delete, or a dry run.

The script sends what an operator chose in NetBox (the HA interface, VLAN id, name,
tenant, internet service and QoS option); the rest of the body is derived here, the one
place that knows the origin's conventions:

- ``vrf_name``: ``vrf_gw_<HA interface name>_<vlan>``;
- ``primary_/secondary_logical_interface_name``: ``<interface>.<vlan>`` on each router;
- ``maximum_static_routes``: the internet service's ``default_static_routes_per_gateway``.

A dry run validates and returns each router's native Junos diff (computed by the
routers, nothing written); otherwise the change goes through :mod:`nornir_esi.desired`
and the answer carries the version written and the ids of the jobs the job manager
planned for it (when it did so within ``jobs_timeout``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from nornir_esi import desired, keys, operations
from nornir_esi.exceptions import ValidationError
from nornir_esi.handlers.common import lookup_in
from nornir_esi.records import ConfigRecord
from nornir_esi.store.base import Store

__all__ = ["GATEWAY", "derive", "handle", "planned_jobs"]

GATEWAY = "internet_gateway"
_HANDLERS = ("heat_worker", "monitoring_worker")
_CHOSEN = (
    "id",
    "name",
    "tenant_id",
    "description",
    "vlan_id",
    "downlink_interface_id",
    "internet_service_id",
    "qos_option_id",
)
_UPDATABLE = ("name", "description", "qos_option_id", "internet_service_id")


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
    unknown = sorted(set(chosen) - set(_CHOSEN))
    if unknown:
        raise ValidationError(what, unknown[0], "is not something a request may set")
    lookup = lookup_in(store)
    ha = _need(lookup, what, "ha_interface", chosen.get("downlink_interface_id"))
    service = _need(lookup, what, "internet_service", chosen.get("internet_service_id"))
    vlan = str(chosen.get("vlan_id", ""))
    body = {k: chosen[k] for k in _CHOSEN if k in chosen}
    body["vlan_id"] = vlan
    body.setdefault("description", "")
    body["vrf_name"] = f"vrf_gw_{ha['name']}_{vlan}"
    for role in ("primary", "secondary"):
        interface = _need(lookup, what, "er_physical_interface", ha.get(f"{role}_interface_id"))
        body[f"{role}_logical_interface_name"] = f"{interface['name']}.{vlan}"
    if "default_static_routes_per_gateway" in service:
        body["maximum_static_routes"] = service["default_static_routes_per_gateway"]
    return body


def _current(store: Store, resource_id: str) -> ConfigRecord:
    entry = store.get(keys.config(GATEWAY, resource_id))
    if entry is None:
        raise ValidationError(f"{GATEWAY} {resource_id}", "id", "is not in /config")
    return ConfigRecord.from_value(entry.value)


def planned_jobs(store: Store, resource_id: str, version: int, timeout: float) -> list[str]:
    """The ids of the jobs planned for ``version``, once the job manager planned them
    (polled until ``timeout``; empty when no manager did so meanwhile)."""
    prefixes = [
        f"{keys.JOBS_ALL}{action}:{handler}:{GATEWAY}:{resource_id}:{version}:"
        for action in keys.ACTIONS
        for handler in _HANDLERS
    ]
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(
            entry.key[len(keys.JOBS_ALL) :]
            for prefix in prefixes
            for entry in store.get_prefix(prefix)
        )
        if found or time.monotonic() >= deadline:
            return found
        threading.Event().wait(0.05)


def handle(
    store: Store,
    devices: operations.PairDevices,
    action: Literal["create", "update", "delete"],
    gateway: Mapping[str, Any],
    *,
    dry_run: bool,
    jobs_timeout: float = 5.0,
) -> dict[str, Any]:
    """One request; ValidationError (naming the object and field) writes nothing."""
    resource_id = str(gateway.get("id") or "")
    if not resource_id:
        raise ValidationError(GATEWAY, "id", "is missing")
    if action == "delete":
        record = _current(store, resource_id)
        if dry_run:
            diffs = operations.plan_delete(store, devices, resource_id)
            return {"id": resource_id, "outcome": "dry-run", "diffs": diffs, "jobs": []}
        (change,) = desired.delete(store, [(GATEWAY, resource_id)])
    else:
        if action == "update":
            record = _current(store, resource_id)
            extra = sorted(set(gateway) - {"id", *_UPDATABLE})
            if extra:
                raise ValidationError(f"{GATEWAY} {resource_id}", extra[0], "cannot be updated")
            chosen = {k: record.body[k] for k in _CHOSEN if k in record.body}
            chosen.update(gateway)
        elif action == "create":
            if store.get(keys.config(GATEWAY, resource_id)) is not None:
                raise ValidationError(f"{GATEWAY} {resource_id}", "id", "exists already")
            chosen = dict(gateway)
        else:
            raise ValidationError(GATEWAY, "action", f"{action!r} is not create/update/delete")
        body = derive(store, chosen)
        if dry_run:
            diffs = operations.plan_items(store, devices, [(GATEWAY, body)])[resource_id]
            return {
                "id": resource_id,
                "outcome": "dry-run",
                "diffs": diffs,
                "jobs": [],
                "body": body,
            }
        (change,) = desired.apply(store, [(GATEWAY, body)])
    jobs = (
        planned_jobs(store, resource_id, change.version, jobs_timeout)
        if change.outcome != "unchanged"
        else []
    )
    return {
        "id": resource_id,
        "outcome": change.outcome,
        "version": change.version,
        "diffs": {},
        "jobs": jobs,
    }
