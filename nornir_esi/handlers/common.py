"""What the handlers share: the services they are given, and merging the job state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import JobState
from nornir_esi.exceptions import ClaimLostError, EsiError
from nornir_esi.heat.base import Heat
from nornir_esi.jobs.worker import JobContext
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.store.base import Compare, Op

__all__ = ["Context", "Services", "update_job_state"]


@dataclass(frozen=True)
class Services:
    """What the handlers work with: the routers (``devices``) and Heat (``heat``)."""

    devices: NornirDevices
    heat: Heat


# What a handler is given.
Context = JobContext[Services]


def update_job_state(ctx: JobContext[Any], change: Callable[[JobState], None]) -> JobState:
    """Read-modify-write of the workflow's job state, retried when it moved meanwhile.

    Only while the job is still this worker's: a run whose claim went (its lease expired in
    an etcd outage and another worker ran the job) must not write the state of a workflow
    that may have ended meanwhile, which would leave it behind. Such a run gets ClaimLostError.
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
            raise ClaimLostError(f"job {job.id}: no longer this worker's; its job state left alone")
    raise EsiError(
        f"{job.resource_type} {job.resource_id}: job state kept changing; gave up merging"
    )
