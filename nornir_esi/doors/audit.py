"""The audit trail of a resource, version by version.

For each version: who asked for it, the jobs that ran it, what each router's commit
history says of those jobs, and the stack it left.

Stored, and kept after the resource is deleted (``keys.audit_*``, shapes in ``records``):

- ``request``: the front door, the principal and the door's request id, written with the
  version's ``/config`` write (:class:`~nornir_esi.contract.desired.Requester`);
- ``jobs/<job_id>``: the worker that ended the job, its attempts, outcome, error and
  times, written with the job's end;
- ``stack``: the Heat stack's id and status the version's heat job left, and the routers
  (``edge_router`` id and name by role) it changed.

Read live from the routers of the resource's pair, at query time: each commit of a job
carries the job id as its comment (``pair.py``; a transaction that carried several jobs'
changes names them all, separated by spaces: ``coalesce.py``), so a job's commits are the
entries of ``show system commit`` whose log names its id, and its rollback index is the
position of the newest of them (``rollback <index>`` brings back the configuration the job
left). A pair
transaction commits twice (``commit confirmed``, then the confirming commit), so a job
has two commits per router; an undone one has a third, ``rollback of <job id>``. A heat
job that finished without a commit on a router had nothing to change there (a change the
Junos configuration does not carry, such as the description): its ``commits`` are empty,
as those of the jobs that never touch a router. A router that cannot be read says so and
hides nothing else.

The pair is found through the resource's ``/config`` while it lives; once it is gone, the
routers are those its heat jobs recorded, looked up by id in ``/config`` (edge routers
outlive the gateways on them). A recorded router that is gone too says so.

Jobs still queued (waiting, ready, working) show in their version with their queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from nornir_esi.contract import keys
from nornir_esi.contract.config import lookup_in, read_config
from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.records import (
    AuditJob,
    AuditRequest,
    AuditRouter,
    AuditStack,
    ConfigRecord,
    HeatStack,
    State,
)
from nornir_esi.doors.views import job_rows
from nornir_esi.exceptions import EsiError, ValidationError
from nornir_esi.services import SERVICES
from nornir_esi.store.base import Store

__all__ = ["CommitReader", "gather"]

# The types whose jobs change a router pair: every service's, and the HA pair's own.
_PAIRED = (*SERVICES, "ha_interface", "ha_router")


class CommitReader(Protocol):
    """What the audit needs of the routers (:class:`nornir_esi.pair.devices.NornirDevices`)."""

    def commits(
        self, routers: list[Mapping[str, Any]]
    ) -> Mapping[str, list[dict[str, Any]] | EsiError]:
        """Each router's commit history, newest first, by name; its error if unreadable."""
        ...


def gather(
    store: Store,
    resource_type: str,
    resource_id: str,
    devices: CommitReader | None = None,
) -> dict[str, Any]:
    """The audit trail of one resource as a JSON-able object (see the module docstring).

    ``devices`` None: the routers are not read (``routers`` says so).
    """
    prefix = keys.audit_prefix(resource_type, resource_id)  # refuses an unknown type or id
    versions: dict[int, dict[str, Any]] = {}
    recorded: dict[int, tuple[AuditRouter, ...]] = {}

    def version(number: int) -> dict[str, Any]:
        return versions.setdefault(
            number, {"version": number, "request": None, "jobs": [], "stack": None}
        )

    for entry in store.get_prefix(prefix):
        parsed = keys.parse_audit_key(entry.key)
        if parsed is None:
            continue
        slot = version(parsed.version)
        if parsed.kind == "request":
            slot["request"] = AuditRequest.from_value(entry.value).to_value()
        elif parsed.kind == "stack":
            stack = AuditStack.from_value(entry.value)
            slot["stack"] = stack.to_value()
            recorded[parsed.version] = stack.routers
        else:
            job = AuditJob.from_value(entry.value).to_value()
            slot["jobs"].append({"job": parsed.job_id, **job})
    for row in job_rows(store):
        if row["resource"] != f"{resource_type} {resource_id}":
            continue
        queued = {"job": row["job"], "handler": row["handler"], "action": row["action"]}
        queued.update(worker=row["worker"], attempts=row["attempts"], outcome=row["queue"])
        queued.update(error="", started="", ended="", planned=row["planned"])
        # A job in flight has its manager's record ("planned"): the queue says more.
        jobs = version(int(row["version"]))["jobs"]
        jobs[:] = [j for j in jobs if j["job"] != row["job"]]
        jobs.append(queued)
    for slot in versions.values():
        slot["jobs"].sort(key=lambda j: (j["started"] or "~", j["job"]))

    config = read_config(store, resource_type, resource_id)
    # Oldest version first, so that a router keeps the role its newest job recorded.
    by_id = {r.id: r for v in sorted(recorded) for r in recorded[v]}
    routers, note = _routers(store, resource_type, config, list(by_id.values()), devices)
    for slot in versions.values():
        for job in slot["jobs"]:
            job["routers"] = {
                name: _job_commits(commits, job["job"]) for (name, _), commits in routers.items()
            }
    return {
        "type": resource_type,
        "id": resource_id,
        "current": _current(store, resource_type, resource_id, config),
        "stack": _stack(store, resource_type, resource_id),
        "routers": {
            name: {"role": role, "error": _router_error(commits)}
            for (name, role), commits in routers.items()
        },
        "routers_note": note,
        "versions": [versions[n] for n in sorted(versions)],
    }


def _current(
    store: Store, resource_type: str, resource_id: str, config: ConfigRecord | None
) -> dict[str, Any] | None:
    if config is None:
        return None
    entry = store.get(keys.state(resource_type, resource_id))
    state = None if entry is None else State.from_value(entry.value)
    return {
        "version": config.version,
        "deleting": config.marked_for_deletion,
        "worker_state": state.worker_state if state else "",
        "state_version": state.version if state else None,
        "error": state.error if state else "",
    }


def _stack(store: Store, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    entry = store.get(keys.heat_stack(resource_type, resource_id))
    return None if entry is None else HeatStack.from_value(entry.value).to_value()


def _routers(
    store: Store,
    resource_type: str,
    config: ConfigRecord | None,
    recorded: list[AuditRouter],
    devices: CommitReader | None,
) -> tuple[dict[tuple[str, str], list[dict[str, Any]] | EsiError], str]:
    """Each router's commit history (or why it cannot be read), by (name, role), and a note.

    The note says where the routers come from or why there are none.

    The pair of the resource's ``/config``; without it, the ``recorded`` routers.
    """
    if resource_type not in _PAIRED:
        return {}, f"a {resource_type} changes no router configuration"
    if config is None and not recorded:
        return {}, "its /config is gone and no job recorded its routers: they are not known"
    if devices is None:
        return {}, "the routers were not read"
    found: list[tuple[str, Mapping[str, Any]]] = []
    gone: dict[tuple[str, str], list[dict[str, Any]] | EsiError] = {}
    note = ""
    if config is not None:
        try:
            pair = pair_of(lookup_in(store), resource_type, config.body)
        except EsiError as exc:
            return {}, f"its routers cannot be found: {exc}"
        found = list(pair.by_role().items())
    else:
        note = "its /config is gone: these are the routers its jobs recorded"
        for router in recorded:
            record = read_config(store, "edge_router", router.id)
            if record is None:
                gone[(router.name, router.role)] = ValidationError(
                    f"edge_router {router.id} ({router.name})",
                    "",
                    "is gone from /config: its commits cannot be read",
                )
            else:
                found.append((router.role, record.body))
    read = devices.commits([body for _, body in found]) if found else {}
    routers = {(str(b["name"]), role): read.get(str(b["name"]), []) for role, b in found}
    return routers | gone, note


def _router_error(commits: list[dict[str, Any]] | EsiError) -> str:
    return str(commits) if isinstance(commits, EsiError) else ""


def _job_commits(commits: list[dict[str, Any]] | EsiError, job_id: str) -> dict[str, Any]:
    """A job's commits on one router: their rollback indexes, newest first.

    With them, the index to roll back to for the configuration the job left (None when it
    has no commit there, or none within the router's rollback history).
    """
    if isinstance(commits, EsiError):
        return {"error": str(commits)}
    own: list[int] = []
    undone: list[int] = []
    for commit in commits:
        log: str = commit["log"]
        rollback = log.startswith("rollback of ")
        if job_id in log.removeprefix("rollback of ").split():
            (undone if rollback else own).append(commit["index"])
    return {"commits": own, "rollback": own[0] if own else None, "undone": undone}
