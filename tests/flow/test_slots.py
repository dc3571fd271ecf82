"""One worker runs several jobs at once, up to its slots, and no more."""

from __future__ import annotations

from pathlib import Path

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Event, Store
from nornir_esi.store.feed import Feed
from tests.store.helpers import history

from .conftest import INVENTORY, ROUTERS
from .test_scale_out import _gateways

SLOTS = 4


def _held(events: list[Event]) -> list[dict[str, set[str]]]:
    """After each /jobs/working event: worker id -> the job claims it holds."""
    holder: dict[str, str] = {}
    out = []
    for event in events:
        if not event.key.startswith(keys.JOBS_WORKING):
            continue
        if event.kind == "delete":
            holder.pop(event.key, None)
        else:
            holder[event.key] = event.value
        by_worker: dict[str, set[str]] = {}
        for key, worker in holder.items():
            by_worker.setdefault(worker, set()).add(key)
        out.append(by_worker)
    return out


def test_a_worker_holds_as_many_jobs_as_it_has_slots(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    pair.reset()
    gateways = _gateways(SLOTS + 1)
    with Service(
        store,
        inventory=str(overrides),
        workers=1,
        slots=SLOTS,
        manager_lease_ttl=5,
        worker_lease_ttl=5,
    ) as service:
        resources = desired.load_file(INVENTORY / "resources.yaml")
        desired.apply(store, resources)
        for resource_type, body in resources:
            assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
        (worker,) = service.workers

        # The gate: while another session holds the primary's configuration lock, no
        # gateway's pair transaction can get through, so no heat job can end; each claimed
        # one stays claimed, retrying.
        pair.set_faults(ROUTERS["primary"], hold_lock=True)
        start = store.revision() + 1
        desired.apply(store, gateways)
        held: list[dict[str, set[str]]] = []
        seen: list[Event] = []
        with Feed(store, [keys.JOBS_WORKING], start_revision=start) as feed:
            while not held or len(held[-1].get(worker.id, ())) < SLOTS:
                event = feed.get(timeout=60)
                assert event is not None, f"claims held so far: {held[-1:]}"
                seen.append(event)
                held = _held(seen)
        at_once = held[-1][worker.id]
        # All of them heat jobs of different gateways, none finished: running together.
        assert len(at_once) == SLOTS
        assert all(":heat_worker:internet_gateway:" in key for key in at_once)
        assert len({keys.parse_job_id(keys.job_id_of(k) or "").resource_id for k in at_once}) == (
            SLOTS
        )
        assert all(store.get(keys.state(t, b["id"])) is None for t, b in gateways)

        pair.set_faults(ROUTERS["primary"], hold_lock=False)
        for resource_type, body in gateways:
            state = wait_for_state(store, resource_type, body["id"], timeout=90)
            assert state is not None and state.worker_state == "CREATE_COMPLETED", state
        events = history(store, start)

    # Never more at once than the slots: the fifth gateway's heat job waited for a slot.
    most = max(len(claims) for by_worker in _held(events) for claims in by_worker.values())
    assert most == SLOTS
    assert {w for by_worker in _held(events) for w in by_worker} == {worker.id}
