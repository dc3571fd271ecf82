"""How a job's errors end it: temporary ones retried with backoff up to a limit, permanent
ones at once, and ``on_failure: ignore`` letting the workflow go on.

A job manager and a worker run on real etcd. The handlers are scripted (they raise as each
test says, or pass a job on to the real handler): what is tested is the worker's policy,
read back from the store's history (the attempt counter, the third element of the
``/jobs/all`` value), the audit trail and ``/state``. The worker's jitter is replaced by a
recorder answering 0: the ceiling of every backoff is observed exactly and nothing waits.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import AuditJob, HeatStack, JobEntry, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import DeviceRejectedError, PermanentError, TemporaryError
from nornir_esi.handlers import HANDLERS
from nornir_esi.jobs import worker as worker_module
from nornir_esi.jobs.manager import JobManager
from nornir_esi.jobs.worker import Handler, JobContext, Worker
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service, ensure_heat_templates
from nornir_esi.store.base import Store
from tests.store.helpers import eventually, history

from .conftest import INVENTORY

GW = "internet_gateway"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((_, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")
((_, ROUTER),) = [(t, b) for t, b in RESOURCES if t == "edge_router"][:1]


class Jitter:
    """Stands in for the worker's ``random``: records each ceiling, answers 0 (no wait)."""

    def __init__(self) -> None:
        self.ceilings: list[float] = []

    def uniform(self, low: float, high: float) -> float:
        assert low == 0
        self.ceilings.append(high)
        return 0.0


@pytest.fixture
def jitter(monkeypatch: pytest.MonkeyPatch) -> Jitter:
    recorder = Jitter()
    monkeypatch.setattr(worker_module, "random", recorder)
    return recorder


class Script:
    """A handler: ``answer(job, call number for that job)`` raises, or says what to return."""

    def __init__(self, answer: Callable[[JobContext, int], Any] | None = None) -> None:
        self.answer = answer
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, context: JobContext) -> Any:
        with self._lock:
            self.calls.append(context.job.id)
            n = self.calls.count(context.job.id)
        return None if self.answer is None else self.answer(context, n)

    def of(self, resource_id: str) -> list[str]:
        with self._lock:
            return [c for c in self.calls if keys.parse_job_id(c).resource_id == resource_id]


@contextmanager
def running(store: Store, handlers: dict[str, Handler], **options: Any) -> Iterator[Worker]:
    """A job manager and one worker of ``handlers`` (``options``: the worker's)."""
    ensure_heat_templates(store)
    stop = threading.Event()
    manager = JobManager(store, lease_ttl=5)
    worker = Worker(store, handlers, lease_ttl=5, slots=4, **options)
    threads = [
        threading.Thread(target=r.run, args=(stop,), daemon=True, name=r.id)
        for r in (manager, worker)
    ]
    for thread in threads:
        thread.start()
    try:
        yield worker
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads)


def attempt_counts(store: Store, start: int, job_id: str) -> list[int]:
    """The attempt counter of every write of ``job_id``'s ``/jobs/all`` entry, in order."""
    return [
        JobEntry.from_value(e.value).attempts
        for e in history(store, start, keys.job_all(job_id))
        if e.kind == "put"
    ]


def audit(store: Store, job_id: str) -> AuditJob:
    entry = store.get(keys.audit_job(job_id))
    assert entry is not None, job_id
    return AuditJob.from_value(entry.value)


def assert_nothing_left(store: Store, resource_type: str, resource_id: str) -> None:
    eventually(lambda: store.get_prefix(keys.JOBS_PREFIX) == [], what="every job collected")
    assert store.get(keys.job_state(resource_type, resource_id)) is None


def final_state(store: Store, resource_type: str, resource_id: str) -> State:
    state = wait_for_state(store, resource_type, resource_id, timeout=60)
    assert state is not None, (resource_type, resource_id)
    return state


class TestTemporaryErrors:
    @pytest.mark.parametrize(
        ("retries", "backoff_cap", "suggested", "ceilings"),
        [
            (3, 5.0, 10.0, [0.1, 0.2, 0.4]),  # doubling from 0.1 s
            (5, 0.3, 10.0, [0.1, 0.2, 0.3, 0.3, 0.3]),  # the worker's cap
            (3, 5.0, 0.15, [0.1, 0.15, 0.15]),  # the error's own delay caps it too
        ],
        ids=["doubling", "worker-cap", "error-delay"],
    )
    def test_retried_with_growing_backoff_then_given_up_at_the_limit(
        self,
        store: Store,
        jitter: Jitter,
        retries: int,
        backoff_cap: float,
        suggested: float,
        ceilings: list[float],
    ) -> None:
        def busy(context: JobContext, n: int) -> None:
            raise TemporaryError("router busy", delay=suggested)

        script = Script(busy)
        start = store.revision() + 1
        with running(
            store, {"monitoring_worker": script}, retries=retries, backoff_cap=backoff_cap
        ):
            desired.apply(store, [("edge_router", ROUTER)])
            state = final_state(store, "edge_router", ROUTER["id"])
            assert_nothing_left(store, "edge_router", ROUTER["id"])
        tries = retries + 1
        (job_id,) = set(script.calls)
        assert script.calls == [job_id] * tries
        assert jitter.ceilings == pytest.approx(ceilings)
        error = f"router busy (gave up after {tries} tries)"
        assert (state.worker_state, state.version, state.error) == ("CREATE_FAILED", 1, error)
        # Each retry raised the counter in /jobs/all, from 0 when planned.
        assert attempt_counts(store, start, job_id) == list(range(tries))
        record = audit(store, job_id)
        assert (record.attempts, record.outcome, record.error) == (tries, "failed", error)

    def test_a_temporary_error_that_clears_completes_the_job(
        self, store: Store, jitter: Jitter
    ) -> None:
        def twice_busy(context: JobContext, n: int) -> None:
            if n <= 2:
                raise TemporaryError("router busy", delay=10.0)

        script = Script(twice_busy)
        start = store.revision() + 1
        with running(store, {"monitoring_worker": script}, retries=5):
            desired.apply(store, [("edge_router", ROUTER)])
            state = final_state(store, "edge_router", ROUTER["id"])
            assert_nothing_left(store, "edge_router", ROUTER["id"])
        (job_id,) = set(script.calls)
        assert len(script.calls) == 3
        assert jitter.ceilings == pytest.approx([0.1, 0.2])
        assert (state.worker_state, state.error) == ("CREATE_COMPLETED", "")
        assert attempt_counts(store, start, job_id) == [0, 1, 2]
        record = audit(store, job_id)
        assert (record.attempts, record.outcome, record.error) == (3, "finished", "")

    def test_no_retry_once_the_retry_time_is_spent(self, store: Store, jitter: Jitter) -> None:
        def busy(context: JobContext, n: int) -> None:
            raise TemporaryError("router busy", delay=10.0)

        script = Script(busy)
        with running(store, {"monitoring_worker": script}, retry_for=0.0):
            desired.apply(store, [("edge_router", ROUTER)])
            state = final_state(store, "edge_router", ROUTER["id"])
        assert len(script.calls) == 1
        assert jitter.ceilings == []
        assert (state.worker_state, state.error) == (
            "CREATE_FAILED",
            "router busy (gave up after 1 tries)",
        )


def _settled_graph(store: Store) -> None:
    desired.apply(store, RESOURCES)
    for resource_type, body in RESOURCES:
        state = final_state(store, resource_type, body["id"])
        assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), state


class TestPermanentErrors:
    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            (
                DeviceRejectedError("vMX-router-01", "commit check", "rpc-error: vlan in use"),
                "router vMX-router-01: commit check: rpc-error: vlan in use",
            ),
            (KeyError("vlan_id"), "KeyError: 'vlan_id'"),  # a bug is no reason to retry
        ],
        ids=["rejected", "unexpected"],
    )
    def test_tried_once_and_the_workflow_fails_at_once(
        self, store: Store, jitter: Jitter, error: Exception, reason: str
    ) -> None:
        def heat(context: JobContext, n: int) -> None:
            if context.job.resource_type == GW:
                raise error

        heat_script, monitoring_script = Script(heat), Script()
        handlers: dict[str, Handler] = {
            "heat_worker": heat_script,
            "monitoring_worker": monitoring_script,
        }
        with running(store, handlers, retries=5):
            _settled_graph(store)
            start = store.revision() + 1
            desired.apply(store, [(GW, GATEWAY)])
            state = final_state(store, GW, GATEWAY["id"])
            assert_nothing_left(store, GW, GATEWAY["id"])
        (job_id,) = heat_script.of(GATEWAY["id"])  # exactly one try
        assert jitter.ceilings == []
        assert (state.worker_state, state.version, state.error) == ("CREATE_FAILED", 1, reason)
        assert attempt_counts(store, start, job_id) == [0]
        record = audit(store, job_id)
        assert (record.attempts, record.outcome, record.error) == (1, "failed", reason)
        # The dependent monitoring job was planned, never claimed, and is gone.
        planned = {
            e.key.removeprefix(keys.JOBS_ALL)
            for e in history(store, start, keys.JOBS_ALL)
            if e.kind == "put"
        }
        (monitoring_id,) = planned - {job_id}
        assert keys.parse_job_id(monitoring_id).handler == "monitoring_worker"
        claimed = {
            e.key.removeprefix(keys.JOBS_WORKING)
            for e in history(store, start, keys.JOBS_WORKING)
            if e.kind == "put"
        }
        assert claimed == {job_id}
        assert monitoring_script.of(GATEWAY["id"]) == []


def test_an_update_whose_monitoring_delete_fails_still_modifies(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    """``delete:monitoring_worker`` has ``on_failure: ignore``: when it fails, the modify and
    the new monitoring still run and the version ends ``MODIFY_COMPLETED``."""

    def monitoring(context: JobContext, n: int) -> Any:
        job = context.job
        if job.resource_type == GW and job.action == "delete":
            raise PermanentError(f"{GW} {job.resource_id}: monitoring not stopped")
        return HANDLERS["monitoring_worker"](context)

    def heat(context: JobContext, n: int) -> Any:
        return HANDLERS["heat_worker"](context)

    monitoring_script, heat_script = Script(monitoring), Script(heat)
    pair.reset()
    service = Service(
        store, inventory=str(overrides), workers=1, manager_lease_ttl=5, worker_lease_ttl=5
    )
    # The real handlers, behind the scripts (the worker has not started yet).
    service.workers[0].handlers.update(
        {"monitoring_worker": monitoring_script, "heat_worker": heat_script}
    )
    with service:
        _settled_graph(store)
        desired.apply(store, [(GW, GATEWAY)])
        assert final_state(store, GW, GATEWAY["id"]).worker_state == "CREATE_COMPLETED"
        start = store.revision() + 1
        desired.apply(store, [(GW, dict(GATEWAY, description="changed"))])
        state = wait_for_state(store, GW, GATEWAY["id"], version=2, timeout=60)
        assert_nothing_left(store, GW, GATEWAY["id"])
    assert state is not None
    assert (state.worker_state, state.version, state.error) == ("MODIFY_COMPLETED", 2, "")
    # Each job of version 2 ran (a router's lock held may have made one run twice).
    ran = {keys.parse_job_id(j) for j in heat_script.of(GATEWAY["id"])}
    ran |= {keys.parse_job_id(j) for j in monitoring_script.of(GATEWAY["id"])}
    v2 = sorted((j.action, j.handler) for j in ran if j.version == 2)
    assert v2 == [
        ("create", "monitoring_worker"),
        ("delete", "monitoring_worker"),
        ("modify", "heat_worker"),
    ]
    outcomes = {
        (p.action, p.handler): (record.outcome, record.error)
        for j in heat_script.of(GATEWAY["id"]) + monitoring_script.of(GATEWAY["id"])
        if (p := keys.parse_job_id(j)).version == 2
        for record in [audit(store, j)]
    }
    assert outcomes == {
        ("delete", "monitoring_worker"): (
            "failed",
            f"{GW} {GATEWAY['id']}: monitoring not stopped",
        ),
        ("modify", "heat_worker"): ("finished", ""),
        ("create", "monitoring_worker"): ("finished", ""),
    }
    stack = store.get(keys.heat_stack(GW, GATEWAY["id"]))
    assert stack is not None and HeatStack.from_value(stack.value).stack_status == "UPDATE_COMPLETE"
    # The new monitoring measured the gateway; the ignored failure wrote no state of its own.
    assert state.state_monitoring is not None
    assert json.loads(state.state_monitoring) == {"downlink": "ACTIVE", "uplink": "ACTIVE"}
    states = [
        State.from_value(e.value)
        for e in history(store, start, keys.state(GW, GATEWAY["id"]))
        if e.kind == "put"
    ]
    assert [(s.version, s.worker_state) for s in states] == [(2, "MODIFY_COMPLETED")]
