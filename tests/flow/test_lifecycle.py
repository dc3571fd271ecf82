"""Versions and workflows over time: updates in flight, batches, failures, retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import JobEntry, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Event, Store
from nornir_esi.store.feed import Feed
from tests.store.helpers import eventually

from .conftest import INVENTORY, ROUTERS

GW = "internet_gateway"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((_, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")


def _settle(store: Store, items: list[tuple[str, dict[str, Any]]]) -> None:
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state


def _states(events: list[Event], key: str) -> list[State]:
    return [State.from_value(e.value) for e in events if e.key == key and e.kind == "put"]


def _events_until(store: Store, start: int, key: str, version: int) -> list[Event]:
    """Every event from ``start`` until ``key`` holds a /state of ``version``."""
    events: list[Event] = []
    with Feed(store, ["/"], start_revision=start) as feed:
        while True:
            event = feed.get(timeout=60)
            assert event is not None, f"no /state version {version} for {key}"
            events.append(event)
            if (
                event.key == key
                and event.kind == "put"
                and State.from_value(event.value).version >= version
            ):
                return events


def test_versions_written_while_one_is_in_flight_end_in_order(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    pair.reset()
    with Service(store, inventory=str(overrides), manager_lease_ttl=5, worker_lease_ttl=5, slots=4):
        desired.apply(store, RESOURCES)
        _settle(store, RESOURCES)
        # Slow commits keep version 1 in flight while versions 2 and 3 arrive.
        for name in ROUTERS.values():
            pair.set_faults(name, commit_delay=0.3)
        start = store.revision() + 1
        desired.apply(store, [(GW, GATEWAY)])
        desired.apply(store, [(GW, dict(GATEWAY, description="second"))])
        desired.apply(store, [(GW, dict(GATEWAY, description="third"))])
        state_key = keys.state(GW, GATEWAY["id"])
        events = _events_until(store, start, state_key, 3)
    pair.reset()
    states = _states(events, state_key)
    # Exactly one terminal state per version, never going backwards.
    assert [(s.version, s.worker_state) for s in states] == [
        (1, "CREATE_COMPLETED"),
        (2, "MODIFY_COMPLETED"),
        (3, "MODIFY_COMPLETED"),
    ]
    # Version 2's first job waited for version 1's jobs.
    planned = [
        JobEntry.from_value(e.value).job
        for e in events
        if e.key.startswith(keys.JOBS_ALL) and e.kind == "put"
    ]
    v1 = {j.id for j in planned if j.version == 1}
    (v2_first,) = [j for j in planned if j.version == 2 and j.is_first]
    assert v1 <= set(v2_first.dependency)


def test_a_gateway_in_the_same_batch_waits_for_its_ha_interface(
    service_store: Store, pair: Simulator
) -> None:
    store = service_store
    start = store.revision() + 1
    desired.apply(store, [*RESOURCES, (GW, GATEWAY)])
    state_key = keys.state(GW, GATEWAY["id"])
    events = _events_until(store, start, state_key, 1)
    assert _states(events, state_key)[-1].worker_state == "CREATE_COMPLETED"
    planned = {
        j.id: j
        for j in (
            JobEntry.from_value(e.value).job
            for e in events
            if e.key.startswith(keys.JOBS_ALL) and e.kind == "put"
        )
    }
    (ha_job,) = [j for j in planned.values() if j.resource_type == "ha_interface"]
    (gw_first,) = [j for j in planned.values() if j.resource_type == GW and j.is_first]
    assert ha_job.id in gw_first.dependency
    # And it did run after it: the HA interface's /state came first.
    order = [e.key for e in events if e.key.startswith(keys.STATE_PREFIX) and e.kind == "put"]
    assert order.index(keys.state("ha_interface", ha_job.resource_id)) < order.index(state_key)


def test_a_failed_version_does_not_block_the_next(service_store: Store, pair: Simulator) -> None:
    store = service_store
    desired.apply(store, RESOURCES)
    _settle(store, RESOURCES)
    # Version 1 fails on the primary's commit; version 2, written right after, waits for
    # version 1's workflow and then succeeds.
    pair.set_faults(
        ROUTERS["primary"], fail_commits=1, fail_message="commit failed: RE busy", commit_delay=0.3
    )
    start = store.revision() + 1
    desired.apply(store, [(GW, GATEWAY)])
    desired.apply(store, [(GW, dict(GATEWAY, description="again"))])
    state_key = keys.state(GW, GATEWAY["id"])
    events = _events_until(store, start, state_key, 2)
    pair.set_faults(ROUTERS["primary"], commit_delay=0.0)
    states = [(s.version, s.worker_state) for s in _states(events, state_key)]
    assert states[0] == (1, "CREATE_FAILED")
    # The first version left nothing on the routers, so the second one creates.
    assert states[-1][0] == 2 and states[-1][1] in ("CREATE_COMPLETED", "MODIFY_COMPLETED")
    eventually(lambda: store.get_prefix(keys.JOBS_ALL) == [], what="every job collected")
    assert store.get(keys.job_state(GW, GATEWAY["id"])) is None


def test_retries_are_counted_in_the_job_entry(service_store: Store, pair: Simulator) -> None:
    store = service_store
    desired.apply(store, RESOURCES)
    _settle(store, RESOURCES)
    pair.set_faults(ROUTERS["secondary"], hold_lock=True)  # temporary: retried
    start = store.revision() + 1
    desired.apply(store, [(GW, GATEWAY)])
    counted = eventually(
        lambda: [
            JobEntry.from_value(e.value).attempts
            for e in store.get_prefix(keys.JOBS_ALL)
            if ":heat_worker:" in e.key and JobEntry.from_value(e.value).attempts > 0
        ],
        what="an attempt counted",
        timeout=30,
    )
    assert counted[0] >= 1
    pair.set_faults(ROUTERS["secondary"], hold_lock=False)
    state_key = keys.state(GW, GATEWAY["id"])
    events = _events_until(store, start, state_key, 1)
    assert _states(events, state_key)[-1].worker_state == "CREATE_COMPLETED"
    assert json.loads(store.get(state_key).value)["error"] == ""  # type: ignore[union-attr]
