"""The leading job manager goes away while a batch of gateways is being planned; the
standby takes over: nothing planned is lost, nothing is planned twice.

The proof is the store's whole history from before the batch: every ``/jobs/all`` entry
ever written, grouped by workflow (resource, version). A version planned twice shows as
two workflows (the job ids' random suffixes differ); one never planned shows as none.
The workers run scripted handlers that succeed: what is tested is the planning.
"""

from __future__ import annotations

import signal
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import JobEntry, State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import StoreUnavailableError
from nornir_esi.jobs.manager import JobManager
from nornir_esi.jobs.worker import JobContext, Worker
from nornir_esi.service import ensure_heat_templates
from nornir_esi.store.base import Compare, Event, Lease, Op, Store, Txn, TxnResult
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import eventually, history
from tests.synthetic import gateway_states, gateways, resource_graph

from .test_crash import run_process, wait_running

GW = "internet_gateway"
COUNT = 30
SEVER_AT = 10  # the leader is cut off at its 10th gateway planned


def _succeed(context: JobContext) -> None:
    return None


HANDLERS = {"heat_worker": _succeed, "monitoring_worker": _succeed}


@contextmanager
def running(runner: JobManager | Worker) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True, name=runner.id)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), f"{runner.id} did not stop"


def _plans_a_gateway(ops: Sequence[Op]) -> bool:
    return any(
        op.kind == "put" and op.key.startswith(keys.JOBS_ALL) and f":{GW}:" in op.key for op in ops
    )


class _SeveredLease:
    def __init__(self, lease: Lease, owner: Severed) -> None:
        self._lease = lease
        self._owner = owner

    @property
    def id(self) -> int:
        return self._lease.id

    @property
    def ttl(self) -> int:
        return self._lease.ttl

    def refresh(self) -> int:
        self._owner.check()
        return self._lease.refresh()

    def revoke(self) -> None:
        self._owner.check()
        self._lease.revoke()


class Severed:
    """A real store that is cut off for good at the ``at``-th transaction planning a
    gateway: that one lands (``landed``, its answer lost) or not, and from then on nothing
    reaches etcd, not even the lease's refresh: to the rest of the system, a manager that
    died mid-batch."""

    def __init__(self, store: Store, *, at: int, landed: bool) -> None:
        self._store = store
        self._at = at
        self._landed = landed
        self._seen = 0
        self._lock = threading.Lock()
        self.cut = threading.Event()

    def check(self) -> None:
        if self.cut.is_set():
            raise StoreUnavailableError("etcd: unreachable (Severed)", delay=0.2)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        self.check()
        with self._lock:
            if _plans_a_gateway(success):
                self._seen += 1
                last = self._seen == self._at
            else:
                last = False
        if not last:
            return self._store.txn(compare, success, failure)
        if self._landed:
            self._store.txn(compare, success, failure)
        self.cut.set()
        raise StoreUnavailableError("etcd: txn: answer lost (Severed)", delay=0.2)

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        """Those before the ``at``-th gateway planned land (an earlier request of the
        round, as etcd gets a long round in several); then as :meth:`txn`."""
        self.check()
        with self._lock:
            cut_at = None
            for n, txn in enumerate(txns):
                if _plans_a_gateway(txn.success):
                    self._seen += 1
                    if self._seen == self._at:
                        cut_at = n
                        break
        if cut_at is None:
            return self._store.txns(txns)
        self._store.txns(txns[: cut_at + 1] if self._landed else txns[:cut_at])
        self.cut.set()
        raise StoreUnavailableError("etcd: txns: answer lost (Severed)", delay=0.2)

    def lease(self, ttl: int) -> _SeveredLease:
        self.check()
        return _SeveredLease(self._store.lease(ttl), self)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.check()
            return attr(*args, **kwargs)

        return call


def assert_each_version_planned_once(events: list[Event], ids: set[str]) -> None:
    """One workflow per (gateway, version): one heat and one monitoring job, planned once
    (one cache write), ended once (one ``/state``, ``CREATE_COMPLETED``)."""
    workflows: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in events:
        if e.kind == "put" and e.key.startswith(keys.JOBS_ALL):
            job = JobEntry.from_value(e.value).job
            if job.resource_type == GW:
                workflows[(job.resource_id, job.version)].add(job.id)
    assert set(workflows) == {(i, 1) for i in ids}
    twice = {k: v for k, v in workflows.items() if len(v) != 2}
    assert not twice, twice
    for job_ids in workflows.values():
        assert sorted(keys.parse_job_id(j).handler for j in job_ids) == [
            "heat_worker",
            "monitoring_worker",
        ]
    cache_writes = [
        e.key for e in events if e.kind == "put" and e.key.startswith(keys.WORKER_CONFIG_PREFIX)
    ]
    assert sorted(cache_writes) == sorted(keys.worker_config(GW, i) for i in ids)
    states = [
        (keys.parse_state_key(e.key), State.from_value(e.value).worker_state)
        for e in events
        if e.kind == "put" and e.key.startswith(keys.type_prefix(keys.STATE_PREFIX, GW))
    ]
    assert sorted(states) == sorted(((GW, i), "CREATE_COMPLETED") for i in ids)


def elections(events: list[Event]) -> list[tuple[int, str]]:
    """``(revision, manager id)`` of each term that began in ``events``."""
    return [
        (e.mod_revision, e.value)
        for e in events
        if e.key == keys.JOB_MANAGER_ID and e.kind == "put"
    ]


def _settle(store: Store, items: list[tuple[str, dict[str, Any]]]) -> None:
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None, (resource_type, body["id"])
        assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), state


def _all_done(store: Store, ids: set[str]) -> dict[str, State] | None:
    states = gateway_states(store, ids)
    return states if len(states) == len(ids) else None


@pytest.mark.parametrize("landed", [False, True], ids=["not-written", "written-answer-lost"])
def test_a_leader_cut_off_mid_batch_is_replaced_and_nothing_is_planned_twice(
    store: Store, landed: bool
) -> None:
    graph = resource_graph(1)
    burst = gateways(graph, COUNT)
    ids = {body["id"] for _, body in burst}
    ensure_heat_templates(store)
    severed = Severed(store, at=SEVER_AT, landed=landed)
    leader = JobManager(severed, manager_id="manager-a", lease_ttl=3)  # type: ignore[arg-type]
    standby = JobManager(store, manager_id="manager-b", lease_ttl=3)
    with ExitStack() as stack:
        stack.enter_context(running(leader))
        eventually(leader.leading.is_set, what="A leads", timeout=30)
        stack.enter_context(running(standby))
        stack.enter_context(running(Worker(store, HANDLERS, lease_ttl=3)))
        desired.apply(store, graph)
        _settle(store, graph)
        start = store.revision() + 1
        desired.apply(store, burst)
        assert severed.cut.wait(30), "A never got to its 10th gateway"
        eventually(standby.leading.is_set, what="B leads", timeout=30)
        states = eventually(lambda: _all_done(store, ids), what="every gateway", timeout=60)
        assert {s.worker_state for s in states.values()} == {"CREATE_COMPLETED"}
        eventually(lambda: store.get_prefix(keys.JOBS_PREFIX) == [], what="no job keys left")
        assert leader.leading.is_set() is False
    events = history(store, start)
    assert_each_version_planned_once(events, ids)
    # A planned up to where it was cut off; B, elected after, planned the rest.
    ((elected, who),) = elections(events)
    assert who == "manager-b"
    by_a = {
        JobEntry.from_value(e.value).job.resource_id
        for e in events
        if e.kind == "put" and e.key.startswith(keys.JOBS_ALL) and e.mod_revision < elected
    }
    assert len(by_a) == (SEVER_AT if landed else SEVER_AT - 1)
    assert store.get_prefix(keys.JOB_STATE_PREFIX) == []


def test_a_leader_killed_right_after_a_batch_is_replaced_and_nothing_is_planned_twice(
    store: Store, etcd_server: EtcdServer, overrides: Path, tmp_path: Path
) -> None:
    """The managers are processes (no workers): the leader is SIGKILLed as soon as its
    first gateway job appears."""
    graph = resource_graph(1)
    burst = gateways(graph, COUNT)
    ids = {body["id"] for _, body in burst}
    with ExitStack() as stack:
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        a = stack.enter_context(
            run_process(etcd_server.endpoints, overrides, logs[0], "--workers", "0")
        )
        wait_running(a, logs[0])
        eventually(lambda: store.get(keys.JOB_MANAGER_ID), what="A leads", timeout=30)
        leader_a = store.get(keys.JOB_MANAGER_ID)
        assert leader_a is not None
        b = stack.enter_context(
            run_process(etcd_server.endpoints, overrides, logs[1], "--workers", "0")
        )
        wait_running(b, logs[1])
        stack.enter_context(running(Worker(store, HANDLERS, lease_ttl=3)))
        desired.apply(store, graph)
        _settle(store, graph)
        start = store.revision() + 1
        with Feed(store, [keys.JOBS_ALL], start_revision=start) as feed:
            desired.apply(store, burst)
            while True:
                event = feed.get(timeout=30)
                assert event is not None, "A planned nothing"
                if event.kind == "put" and f":{GW}:" in event.key:
                    break
            a.send_signal(signal.SIGKILL)
            a.wait()
        states = eventually(lambda: _all_done(store, ids), what="every gateway", timeout=90)
        assert {s.worker_state for s in states.values()} == {"CREATE_COMPLETED"}
        eventually(lambda: store.get_prefix(keys.JOBS_PREFIX) == [], what="no job keys left")
        assert b.poll() is None, logs[1].read_text(errors="replace")
    events = history(store, start)
    assert_each_version_planned_once(events, ids)
    ((_, who),) = elections(events)
    assert who != leader_a.value
    assert store.get_prefix(keys.JOB_STATE_PREFIX) == []
