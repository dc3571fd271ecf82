"""Helpers the handlers share: reading the graph and merging the job state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nornir_esi import keys
from nornir_esi.exceptions import ClaimLost, EsiError
from nornir_esi.records import ConfigRecord, JobState
from nornir_esi.store.base import Compare, Op, Store

if TYPE_CHECKING:
    from nornir_esi.worker import JobContext

__all__ = ["lookup_in", "update_job_state"]


def lookup_in(store: Store) -> Callable[[str, str], Mapping[str, Any] | None]:
    """``lookup(type, id)``: the body of a resource in ``/config``, each read once by
    this lookup. Make one per job or operation: the walks to a gateway's routers and to
    its member interfaces pass the same HA interface and routers."""
    read: dict[tuple[str, str], Mapping[str, Any] | None] = {}

    def lookup(resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        if (resource_type, resource_id) not in read:
            entry = store.get(keys.config(resource_type, resource_id))
            body = None if entry is None else ConfigRecord.from_value(entry.value).body
            read[(resource_type, resource_id)] = body
        return read[(resource_type, resource_id)]

    return lookup


def update_job_state(ctx: JobContext, change: Callable[[JobState], None]) -> JobState:
    """Read-modify-write of the workflow's job state, retried when it moved meanwhile.

    Only while the job is still this worker's: a run whose claim went (its lease expired in
    an etcd outage and another worker ran the job) must not write the state of a workflow
    that may have ended meanwhile, which would leave it behind. Such a run gets ClaimLost.
    """
    job = ctx.job
    key = keys.job_state(job.resource_type, job.resource_id)
    working = keys.job_working(job.id)
    for _ in range(20):
        entry = ctx.store.get(key)
        state = JobState() if entry is None else JobState.from_value(entry.value)
        change(state)
        guard = (
            Compare.absent(key)
            if entry is None
            else Compare.unchanged_since(key, entry.mod_revision)
        )
        claim = Compare.value_is(working, ctx.worker_id)
        if ctx.store.txn([claim, guard], [Op.put(key, state.to_json())]).succeeded:
            return state
        holder = ctx.store.get(working)
        if holder is None or holder.value != ctx.worker_id:
            raise ClaimLost(f"job {job.id}: no longer this worker's; its job state left alone")
    raise EsiError(
        f"{job.resource_type} {job.resource_id}: job state kept changing; gave up merging"
    )
