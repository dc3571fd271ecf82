"""A burst costs few round trips to etcd, each job's transactions still its own.

The job manager plans the versions it sees together a round at a time
(``JobManager.plan_versions``: one read of their caches, one request of nested
transactions per round; a round never holds two versions of which one must wait for the
other's jobs) and collects finished jobs together; a worker claims the jobs made ready
together in one request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, JobEntry
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.jobs.manager import JobManager, _rounds
from nornir_esi.jobs.worker import JobContext, Worker
from nornir_esi.service import ensure_heat_templates
from nornir_esi.store.base import Compare, Entry, Op, Store, Txn, TxnResult
from tests.store.helpers import eventually
from tests.synthetic import gateways, resource_graph

from .test_takeover import running

GW = "internet_gateway"


class Requests:
    """``store``, counting per kind of write (a key prefix) the transactions and the
    requests that carried them."""

    def __init__(self, store: Store, prefix: str, kind: str) -> None:
        self._store = store
        self._prefix, self._kind = prefix, kind
        self.lock = threading.Lock()
        self.requests = 0
        self.transactions = 0

    def _count(self, txns: Sequence[Txn]) -> None:
        hits = [
            t
            for t in txns
            if any(op.kind == self._kind and op.key.startswith(self._prefix) for op in t.success)
        ]
        with self.lock:
            self.requests += bool(hits)
            self.transactions += len(hits)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        self._count([Txn(compare, success, failure)])
        return self._store.txn(compare, success, failure)

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        self._count(txns)
        return self._store.txns(txns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _entry(resource_type: str, body: dict[str, Any], revision: int) -> tuple[str, str, Entry]:
    value = ConfigRecord(body=body, version=1, marked_for_deletion=False).to_json()
    return (
        resource_type,
        body["id"],
        Entry(keys.config(resource_type, body["id"]), value, revision, 0, 0),
    )


def test_a_round_ends_where_a_version_would_wait_for_one_in_it() -> None:
    graph = resource_graph(1)
    by_type = {t: b for t, b in graph}
    first, second, third = (body for _, body in gateways(graph, 3))
    # Independent gateways share a round; the HA interface they use does not, nor does a
    # second version of one of them.
    versions = [
        _entry(GW, first, 10),
        _entry(GW, second, 10),
        _entry("ha_interface", by_type["ha_interface"], 10),
        _entry(GW, third, 10),
        _entry(GW, second, 11),
        _entry(GW, first, 11),
        _entry(GW, first, 12),
    ]
    rounds = [[(t, i) for t, i, _ in group] for group in _rounds(versions)]
    assert rounds == [
        [(GW, first["id"]), (GW, second["id"])],
        [("ha_interface", by_type["ha_interface"]["id"])],
        [(GW, third["id"]), (GW, second["id"]), (GW, first["id"])],
        [(GW, first["id"])],
    ]


def test_a_burst_is_planned_in_few_requests_and_each_waits_for_what_it_uses(
    store: Store,
) -> None:
    ensure_heat_templates(store)
    graph = resource_graph(1)
    burst = gateways(graph, 40)
    counting = Requests(store, keys.WORKER_CONFIG_PREFIX, "put")  # one per version planned
    manager = JobManager(counting, manager_id="manager-rounds", lease_ttl=5)  # type: ignore[arg-type]
    with running(manager):
        eventually(manager.leading.is_set, what="the manager leads", timeout=30)
        # The pair's resources and the burst in one transaction: one revision.
        desired.apply(store, [*graph, *burst])
        total = len(graph) + len(burst)
        eventually(lambda: counting.transactions == total, what="every version planned", timeout=30)
    jobs = [JobEntry.from_value(e.value).job for e in store.get_prefix(keys.JOBS_ALL)]
    by_resource = {(j.resource_type, j.resource_id): j for j in jobs if j.is_first}
    ha_interface = next(b for t, b in graph if t == "ha_interface")
    ha_job = by_resource[("ha_interface", ha_interface["id"])]
    for _, body in burst:
        assert ha_job.id in by_resource[(GW, body["id"])].dependency
    # At most a round per type of the graph (a type references those before it), one for
    # the 40 gateways: at most 7 requests, where a transaction per version made 48.
    assert counting.requests <= len({t for t, _ in graph}) + 1


def test_a_burst_is_claimed_and_collected_in_few_requests(store: Store) -> None:
    ensure_heat_templates(store)
    graph = resource_graph(1)
    burst = gateways(graph, 40)
    heat_jobs = "create:heat_worker:internet_gateway:"
    claims = Requests(store, keys.JOBS_WORKING + heat_jobs, "put")
    collects = Requests(store, keys.JOBS_FINISHED + heat_jobs, "delete")
    release = threading.Event()

    def heat(ctx: JobContext) -> None:
        # Each heat job holds its slot until all of them are claimed: the claims are not
        # spread by slots coming free, and they all finish at once.
        assert release.wait(30)

    handlers = {"heat_worker": heat, "monitoring_worker": lambda ctx: None}
    manager = JobManager(collects, manager_id="manager-batching", lease_ttl=5)  # type: ignore[arg-type]
    worker = Worker(claims, handlers, slots=128, lease_ttl=5)  # type: ignore[arg-type]
    with running(manager), running(worker):
        eventually(manager.leading.is_set, what="the manager leads", timeout=30)
        desired.apply(store, graph)
        _settled(store, graph)
        desired.apply(store, burst)
        eventually(
            lambda: len(store.get_prefix(keys.JOBS_WORKING + heat_jobs)) == len(burst),
            what="every heat job claimed",
        )
        release.set()
        _settled(store, burst)
        eventually(lambda: store.get_prefix(keys.JOBS_PREFIX) == [], what="no job keys left")
    # Each heat job claimed and collected, one transaction each, in fewer requests: the
    # jobs made ready together are claimed together (a handful of requests), the jobs
    # finished at about the same moment collected together (one request per job before;
    # how many arrive together here depends on the threads' timing).
    assert claims.transactions >= collects.transactions == len(burst)
    assert claims.requests <= len(burst) // 4
    assert collects.requests <= len(burst) * 3 // 4


def _settled(store: Store, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and state.worker_state.endswith(("COMPLETED", "COMPLETE")), (
            resource_type,
            state,
        )
