"""Gateway requests from NetBox's custom scripts: create, update, delete, or a dry run.

The script sends what an operator chose in NetBox (the HA interface, VLAN id, name,
tenant, internet service and QoS option); the rest of the body is derived by
:func:`nornir_esi.services.internet_gateway.request.derive`, as for ``nornir-esi gateway create``.

A dry run validates and returns each router's native Junos diff (computed by the
routers, nothing written); otherwise the change goes through :mod:`nornir_esi.contract.desired`
and the answer carries the version written and the ids of the jobs the job manager
planned for it (when it did so within ``jobs_timeout``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import require_config
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.exceptions import ValidationError
from nornir_esi.services import operations
from nornir_esi.services.internet_gateway.request import CHOSEN as _CHOSEN
from nornir_esi.services.internet_gateway.request import GATEWAY, derive
from nornir_esi.store.base import Store

__all__ = ["GATEWAY", "derive", "handle", "planned_jobs"]

_UPDATABLE = ("name", "description", "qos_option_id", "internet_service_id")


def _current(store: Store, resource_id: str) -> ConfigRecord:
    return require_config(store, GATEWAY, resource_id)


def planned_jobs(store: Store, resource_id: str, version: int, timeout: float) -> list[str]:
    """The ids of the jobs planned for ``version``, once the job manager planned them.

    Polled until ``timeout``; empty when no manager did so meanwhile.

    Read from the audit trail, where the manager records each job as it plans it: a job
    may already be done and collected from ``/jobs/all`` when this looks first.
    """
    prefix = keys.audit_jobs(GATEWAY, resource_id, version)
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(entry.key[len(prefix) :] for entry in store.get_prefix(prefix))
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
    requested_by: desired.Requester | None = None,
) -> dict[str, Any]:
    """One request; ValidationError (naming the object and field) writes nothing.

    ``requested_by`` (NetBox's user and request id) goes into the audit trail.
    """
    resource_id = str(gateway.get("id") or "")
    if not resource_id:
        raise ValidationError(GATEWAY, "id", "is missing")
    if action == "delete":
        record = _current(store, resource_id)
        if dry_run:
            diffs = operations.plan_delete(store, devices, resource_id)
            return {"id": resource_id, "outcome": "dry-run", "diffs": diffs, "jobs": []}
        (change,) = desired.delete(store, [(GATEWAY, resource_id)], requested_by=requested_by)
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
            diffs = operations.plan_items(store, devices, [(GATEWAY, body)])[0].diffs
            return {
                "id": resource_id,
                "outcome": "dry-run",
                "diffs": diffs,
                "jobs": [],
                "body": body,
            }
        (change,) = desired.apply(store, [(GATEWAY, body)], requested_by=requested_by)
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
