"""What the job manager, the workers and the service do when the unexpected happens.

- a version no workflow can be built for ends at once with its ``*_FAILED`` state and the
  reason, whether the manager sees it live or at its reconcile, and the manager goes on;
- a delete that completed, whose keys a stopped manager did not remove, is finished by the
  next manager;
- a worker whose lease expired under a claim takes a new one and goes on;
- a part of the service that ends on an error stops the service, which says why.

Real etcd; no routers (the handlers here are scripted).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, HeatStack, State, WorkerCache
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.jobs.manager import JobManager
from nornir_esi.jobs.worker import JobContext, Worker
from nornir_esi.service import Service, ensure_heat_templates
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed
from tests.store.helpers import eventually

from .conftest import INVENTORY

GW = "internet_gateway"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((_, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")
ROUTER = next(body for kind, body in RESOURCES if kind == "edge_router")
GONE = "00000000-0000-4000-8000-000000000000"


@contextmanager
def leading(store: Store) -> Iterator[JobManager]:
    """A job manager that leads (its reconcile done) until the block ends."""
    ensure_heat_templates(store)
    stop = threading.Event()
    manager = JobManager(store, lease_ttl=5)
    thread = threading.Thread(target=manager.run, args=(stop,), daemon=True, name=manager.id)
    thread.start()
    try:
        assert manager.leading.wait(30), "the manager never led"
        yield manager
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def put_config(store: Store, kind: str, body: dict[str, object], version: int, **kw: bool) -> None:
    """A /config record written straight to etcd, past the front door's checks (as another
    client of the contract could)."""
    record = ConfigRecord(body=dict(body), version=version, **kw)
    store.put(keys.config(kind, str(body["id"])), record.to_json())


def broken_gateway() -> dict[str, object]:
    """The sample gateway on an HA interface that does not exist."""
    return {**GATEWAY, "id": "5e1f0000-0000-4000-8000-0000000000aa", "downlink_interface_id": GONE}


@pytest.mark.parametrize("seen", ["at-reconcile", "live"])
def test_a_version_that_cannot_be_planned_fails_and_the_manager_goes_on(
    store: Store, seen: str
) -> None:
    desired.apply(store, RESOURCES)
    gateway = broken_gateway()
    if seen == "at-reconcile":
        put_config(store, GW, gateway, 1)
    with leading(store) as manager:
        if seen == "live":
            put_config(store, GW, gateway, 1)
        state = wait_for_state(store, GW, str(gateway["id"]), version=1, timeout=30)
        assert state is not None
        assert state.worker_state == "CREATE_FAILED"
        assert state.error.startswith("not planned:")
        assert GONE in state.error
        assert store.get(keys.job_state(GW, str(gateway["id"]))) is None
        # Still leading, still planning: the sample gateway gets its jobs.
        desired.apply(store, [(GW, GATEWAY)])
        eventually(lambda: store.get_prefix(keys.JOBS_READY), what="the sample gateway's first job")
        assert manager.leading.is_set()
        # A fixed version is planned as usual (an update: the failed one was planned).
        put_config(
            store, GW, {**gateway, "downlink_interface_id": GATEWAY["downlink_interface_id"]}, 2
        )
        eventually(
            lambda: [e for e in store.get_prefix(keys.JOBS_ALL) if f"{gateway['id']}" in e.key],
            what="the fixed version's jobs",
        )


def test_an_update_that_cannot_be_planned_is_modify_failed(store: Store) -> None:
    desired.apply(store, RESOURCES)
    gateway = broken_gateway()
    cache = WorkerCache(
        body={**gateway, "downlink_interface_id": GATEWAY["downlink_interface_id"]},
        deleted=False,
        version=1,
    )
    store.put(keys.worker_config(GW, str(gateway["id"])), cache.to_json())
    put_config(store, GW, gateway, 2)
    with leading(store):
        state = wait_for_state(store, GW, str(gateway["id"]), version=2, timeout=30)
    assert state is not None
    assert (state.worker_state, state.version) == ("MODIFY_FAILED", 2)


def test_a_completed_delete_whose_keys_stayed_is_finished_by_the_next_manager(
    store: Store,
) -> None:
    gateway_id = str(GATEWAY["id"])
    kept_id = "5e1f0000-0000-4000-8000-0000000000bb"

    def leftovers(resource_id: str, worker_state: str) -> None:
        # What a manager that stopped between the delete's last job and the removal of the
        # resource's keys leaves behind.
        put_config(store, GW, {**GATEWAY, "id": resource_id}, 2, marked_for_deletion=True)
        cache = WorkerCache(body={**GATEWAY, "id": resource_id}, deleted=True, version=2)
        store.put(keys.worker_config(GW, resource_id), cache.to_json())
        state = State(worker_state=worker_state, version=2, error="")
        store.put(keys.state(GW, resource_id), state.to_json())
        stack = HeatStack(
            stack_id="",
            tenant_id=str(GATEWAY["tenant_id"]),
            stack_status="DELETE_COMPLETE",
            output=[],
            status_reason="",
            id=f"{GW}:{resource_id}",
        )
        store.put(keys.heat_stack(GW, resource_id), stack.to_json())

    # Written first, so the reconcile comes to it first: a failed delete keeps its keys.
    leftovers(kept_id, "DELETE_FAILED")
    leftovers(gateway_id, "DELETE_COMPLETED")
    with leading(store):
        eventually(
            lambda: store.get(keys.config(GW, gateway_id)) is None, what="the config removed"
        )
    for key in (keys.state, keys.worker_config, keys.heat_stack, keys.monitoring):
        assert store.get(key(GW, gateway_id)) is None, key.__name__
    for key in (keys.config, keys.state, keys.worker_config, keys.heat_stack):
        assert store.get(key(GW, kept_id)) is not None, key.__name__


def test_a_worker_whose_lease_expired_under_a_claim_takes_a_new_one(store: Store) -> None:
    ran = threading.Event()

    def monitoring(context: JobContext) -> None:
        ran.set()

    stop = threading.Event()
    worker = Worker(store, {"monitoring_worker": monitoring}, lease_ttl=60)
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True, name=worker.id)
    thread.start()
    try:
        lease = eventually(lambda: worker._lease, what="the worker's lease")
        # Gone before the keeper's next refresh (20 s away) could notice: the next claim
        # is made with a lease etcd no longer has.
        lease.revoke()
        with leading(store):
            desired.apply(store, [("edge_router", ROUTER)])
            assert ran.wait(30), "the router's monitoring job never ran"
            state = wait_for_state(store, "edge_router", str(ROUTER["id"]), timeout=30)
        assert state is not None and state.worker_state == "CREATE_COMPLETED"
        assert thread.is_alive()
        assert worker._lease is not lease
    finally:
        stop.set()
        thread.join(30)


def test_a_part_that_ends_on_an_error_stops_the_service(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Service(store, workers=2)
    broken = service.workers[1]

    def run(stop: threading.Event) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(broken, "run", run)
    with service:
        assert service.stop_event.wait(30), "the service went on without a worker"
    assert service.error == f"{broken.id} stopped on an error: RuntimeError: a bug"
    assert not service.alive()


def test_versions_written_while_no_manager_led_each_get_their_workflow(store: Store) -> None:
    router_id = str(ROUTER["id"])
    ran: list[str] = []
    worker = Worker(store, {"monitoring_worker": lambda context: ran.append(context.job.id)})
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True, name=worker.id)
    thread.start()
    try:
        start = store.revision()
        with leading(store):
            desired.apply(store, [("edge_router", ROUTER)])
            assert wait_for_state(store, "edge_router", router_id, version=1, timeout=30)
        # No manager: two versions written one after the other.
        for n in (2, 3):
            desired.apply(store, [("edge_router", {**ROUTER, "description": f"version {n}"})])
        with leading(store):
            last = wait_for_state(store, "edge_router", router_id, version=3, timeout=30)
        assert last is not None and last.version == 3
    finally:
        stop.set()
        thread.join(30)
    end = store.revision()
    written: list[tuple[int, str]] = []
    with Feed(store, [keys.state("edge_router", router_id)], start_revision=start + 1) as feed:
        while not written or written[-1][0] != 3:
            event = feed.get(timeout=30)
            assert event is not None and event.mod_revision <= end, written
            state = State.from_value(event.value)
            written.append((state.version, state.worker_state))
    assert written == [(1, "CREATE_COMPLETED"), (2, "MODIFY_COMPLETED"), (3, "MODIFY_COMPLETED")]
    # Each version's workflow ran once: version 2's too, though no manager saw it written.
    versions = [keys.parse_job_id(job_id).version for job_id in ran]
    assert sorted(set(versions)) == [1, 2, 3]


def test_a_run_whose_claim_went_leaves_the_job_state_alone(store: Store) -> None:
    from nornir_esi.contract.records import HeatTemplate, JobState, shipped_heat_templates
    from nornir_esi.exceptions import ClaimLostError
    from nornir_esi.handlers.common import update_job_state
    from nornir_esi.jobs.planner import plan
    from nornir_esi.jobs.worker import JobContext

    templates = {
        t.id: t
        for t in (HeatTemplate.from_value(r.body) for r in shipped_heat_templates().values())
    }
    record = ConfigRecord(body=dict(ROUTER), version=1)
    (job,) = plan("edge_router", str(ROUTER["id"]), record, None, templates, lambda t, i: None).jobs
    key = keys.job_state("edge_router", str(ROUTER["id"]))

    def measured(state: JobState) -> None:
        state.state_monitoring = {"router": "ACTIVE"}

    # Its claim gone (the lease expired, another worker ran the job, the workflow ended and
    # removed the job state): the late run must not bring the job state back.
    with pytest.raises(ClaimLostError):
        update_job_state(JobContext(job, store, "worker-late", None), measured)
    assert store.get(key) is None
    # Held: written.
    store.put(keys.job_working(job.id), "worker-now")
    assert update_job_state(JobContext(job, store, "worker-now", None), measured).state_monitoring
    assert store.get(key) is not None
