"""Helpers the handlers share: reading the graph and merging the job state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nornir_esi import keys
from nornir_esi.exceptions import EsiError
from nornir_esi.records import ConfigRecord, JobState
from nornir_esi.store.base import Compare, Op, Store

__all__ = ["lookup_in", "update_job_state"]


def lookup_in(store: Store) -> Callable[[str, str], Mapping[str, Any] | None]:
    """``lookup(type, id)``: the current body of a resource in ``/config``."""

    def lookup(resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        entry = store.get(keys.config(resource_type, resource_id))
        return None if entry is None else ConfigRecord.from_value(entry.value).body

    return lookup


def update_job_state(
    store: Store, resource_type: str, resource_id: str, change: Callable[[JobState], None]
) -> JobState:
    """Read-modify-write of the workflow's job state, retried when it moved meanwhile."""
    key = keys.job_state(resource_type, resource_id)
    for _ in range(20):
        entry = store.get(key)
        state = JobState() if entry is None else JobState.from_value(entry.value)
        change(state)
        guard = (
            Compare.absent(key)
            if entry is None
            else Compare.unchanged_since(key, entry.mod_revision)
        )
        if store.txn([guard], [Op.put(key, state.to_json())]).succeeded:
            return state
    raise EsiError(f"{resource_type} {resource_id}: job state kept changing; gave up merging")
