"""What ``nornir-esi status`` and ``nornir-esi jobs`` show.

They show rows read from etcd, for a table (rich) or ``--json``:

- a resource row: type, id, name, the ``/config`` version (and whether it is being
  deleted), the ``/state`` of the newest version the workers finished (``worker_state``,
  its version, the error), the monitoring status (:func:`monitoring_status`);
- a job row: its queue (waiting, ready, working), id, handler, action, resource, version,
  the worker holding it, the attempts so far, and its age: the contract's job records
  carry no time, so it is the time the job manager planned it, from the job's audit
  record;
- a resource's status as the API shows it (:func:`api_status`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import AuditJob, ConfigRecord, JobEntry, Monitoring, State
from nornir_esi.contract.resources import RESOURCE_TYPES
from nornir_esi.store.base import Store

__all__ = ["FAILED", "api_status", "job_rows", "monitoring_status", "resource_rows"]

FAILED = ("CREATE_FAILED", "MODIFY_FAILED", "DELETE_FAILED")
_QUEUES = (
    ("waiting", keys.JOBS_WAITING),
    ("ready", keys.JOBS_READY),
    ("working", keys.JOBS_WORKING),
)


def _by_id(store: Store, prefix: str, resource_type: str) -> dict[str, str]:
    return {
        e.key.rsplit("/", 1)[1]: e.value
        for e in store.get_prefix(keys.type_prefix(prefix, resource_type))
    }


def monitoring_status(monitoring: Monitoring | None, state: State | None) -> dict[str, Any] | None:
    """A resource's monitoring status, None when it has none.

    It is its ``/monitoring`` record's, or, for a resource that has none (a gateway: its
    monitoring worker's measure lands in the workflow's results), the ``state_monitoring``
    of its ``/state``; None when neither has one.
    """
    if monitoring is not None:
        return monitoring.status
    return None if state is None else state.measured()


def resource_rows(store: Store, resource_type: str | None = None) -> list[dict[str, Any]]:
    """One row per resource in ``/config`` (of ``resource_type``, or of every type)."""
    types = [resource_type] if resource_type else sorted(RESOURCE_TYPES)
    rows: list[dict[str, Any]] = []
    for type_name in types:
        keys.plural(type_name)  # an unknown type is a ValidationError here
        states = _by_id(store, keys.STATE_PREFIX, type_name)
        monitoring = _by_id(store, keys.MONITORING_PREFIX, type_name)
        for rid, value in _by_id(store, keys.CONFIG_PREFIX, type_name).items():
            record = ConfigRecord.from_value(value)
            state = State.from_value(states[rid]) if rid in states else None
            live = Monitoring.from_value(monitoring[rid]) if rid in monitoring else None
            rows.append(
                {
                    "type": type_name,
                    "id": rid,
                    "name": record.body.get("name", ""),
                    "version": record.version,
                    "deleting": record.marked_for_deletion,
                    "worker_state": state.worker_state if state else "",
                    "state_version": state.version if state else None,
                    "error": state.error if state else "",
                    "monitoring": monitoring_status(live, state) or {},
                }
            )
    return rows


def job_rows(store: Store) -> list[dict[str, Any]]:
    """One row per job waiting, ready or working; ``age``: seconds since it was planned."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for queue, prefix in _QUEUES:
        for entry in store.get_prefix(prefix):
            job_id = keys.job_id_of(entry.key)
            if not job_id:
                continue
            parts = keys.parse_job_id(job_id)
            stored = store.get(keys.job_all(job_id))
            attempts = JobEntry.from_value(stored.value).attempts if stored else 0
            planned = _planned(store, job_id)
            rows.append(
                {
                    "queue": queue,
                    "job": job_id,
                    "handler": parts.handler,
                    "action": parts.action,
                    "resource": f"{parts.resource_type} {parts.resource_id}",
                    "version": parts.version,
                    "worker": entry.value if queue == "working" else "",
                    "attempts": attempts,
                    "planned": planned,
                    "age": _age(planned, now),
                }
            )
    return rows


def _planned(store: Store, job_id: str) -> str:
    entry = store.get(keys.audit_job(job_id))
    return "" if entry is None else AuditJob.from_value(entry.value).planned


def _age(planned: str, now: datetime) -> float | None:
    """Seconds since ``planned`` (None when unknown: a job planned before it was kept)."""
    if not planned:
        return None
    return round((now - datetime.fromisoformat(planned)).total_seconds(), 1)


def api_status(record: ConfigRecord, state: State | None) -> tuple[str, str]:
    """``(status, error)`` of a resource from its ``/config`` record and its ``/state``.

    The API's status, also shown by ``gateway show``: see the table in
    :mod:`nornir_esi.doors.northbound`'s docstring; ``error`` is ``""`` unless the status is ERROR.
    """
    if state is not None and state.version >= record.version:
        if state.worker_state.endswith("_FAILED"):
            return "ERROR", state.error or f"the workflow ended in {state.worker_state}"
        if not record.marked_for_deletion and state.worker_state != "DELETE_COMPLETED":
            return "ACTIVE", ""
    if record.marked_for_deletion:
        return "PENDING_DELETE", ""
    stored = record.body.get("status")
    if stored in ("PENDING_CREATE", "PENDING_UPDATE"):
        return str(stored), ""
    # A type without a stored status (internet_service): the version tells.
    return ("PENDING_CREATE" if record.version == 1 else "PENDING_UPDATE"), ""
