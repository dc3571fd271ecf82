"""Grouped reads and transactions (``store.grouped``) on a real etcd: ``get`` calls made
while one is in flight share the next round trip, each key read once, and none is answered
by a read that began before it was called; transactions share a request only when they
touch no key of each other's, so each lands as it would alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from nornir_esi.store import Compare, Entry, Op, Store, TxnResult
from nornir_esi.store.base import Txn
from nornir_esi.store.grouped import GroupedGets, GroupedTxns
from tests.store.helpers import eventually


class Held:
    """``store`` whose transactions, once ``hold`` is called, are answered only at
    ``release`` (etcd has answered by then: the answer is on its way); records the keys
    each transaction read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads: list[list[str]] = []
        self.batches: list[list[Txn]] = []
        self._held = threading.Event()
        self._held.set()
        self.in_flight = threading.Event()

    def hold(self) -> None:
        self._held.clear()
        self.in_flight.clear()

    def release(self) -> None:
        self._held.set()

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        self.reads.append([op.key for op in success if op.kind == "get"])
        result = self._store.txn(compare, success, failure)
        self.in_flight.set()
        assert self._held.wait(30)
        return result

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        self.batches.append(list(txns))
        return self._store.txns(txns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _first_get_held(
    store: Store, pool: ThreadPoolExecutor, key: str
) -> tuple[Held, GroupedGets, Future[Entry | None]]:
    """Grouped gets on ``store``, and a first get of ``key`` whose answer is held."""
    held = Held(store)
    grouped = GroupedGets(held)  # type: ignore[arg-type]
    held.hold()
    first = pool.submit(grouped.get, key)
    assert held.in_flight.wait(30)
    return held, grouped, first


def test_gets_in_flight_together_share_the_next_round_trip(store: Store) -> None:
    for n in range(4):
        store.put(f"/cfg/{n}", f"v{n}")
    with ThreadPoolExecutor(8) as pool:
        held, grouped, first = _first_get_held(store, pool, "/cfg/0")
        # While the first read is held: six more, two keys asked twice, one absent.
        asked = ["/cfg/1", "/cfg/2", "/cfg/1", "/cfg/3", "/cfg/absent", "/cfg/2"]
        later = []
        for n, key in enumerate(asked, 1):
            later.append(pool.submit(grouped.get, key))
            eventually(lambda n=n: grouped.waiting() == n, what=f"{n} waiting")  # type: ignore[misc]
        held.release()
        first_entry = first.result(30)
        entries = [f.result(30) for f in later]
    assert first_entry is not None and first_entry.value == "v0"
    assert [None if e is None else e.value for e in entries] == [
        "v1", "v2", "v1", "v3", None, "v2",
    ]  # fmt: skip
    # Two round trips: the first read's, then one for the six, each key in it once.
    assert held.reads == [["/cfg/0"], ["/cfg/1", "/cfg/2", "/cfg/3", "/cfg/absent"]]
    assert grouped.round_trips == 2


def test_a_get_waiting_for_the_next_round_trip_sees_a_write_made_meanwhile(
    store: Store,
) -> None:
    store.put("/cfg/a", "old")
    with ThreadPoolExecutor(2) as pool:
        held, grouped, first = _first_get_held(store, pool, "/cfg/a")
        # The first read is on its way; a write lands, then a second get is called.
        store.put("/cfg/a", "new")
        second = pool.submit(grouped.get, "/cfg/a")
        eventually(lambda: grouped.waiting() == 1, what="the second waiting")
        held.release()
        first_entry, second_entry = first.result(30), second.result(30)
    assert first_entry is not None and second_entry is not None
    # The first read was made before the write; the second, called after it, was not
    # answered from that read but from its own.
    assert (first_entry.value, second_entry.value) == ("old", "new")
    assert len(held.reads) == 2


def test_everything_else_goes_through_unchanged(store: Store) -> None:
    grouped = GroupedGets(store)
    grouped.put("/cfg/x", "1")
    assert grouped.txn([Compare.value_is("/cfg/x", "1")], [Op.put("/cfg/y", "2")]).succeeded
    assert [e.key for e in grouped.get_prefix("/cfg/")] == ["/cfg/x", "/cfg/y"]
    assert grouped.delete("/cfg/", prefix=True) == 2
    assert grouped.get("/cfg/x") is None
    assert grouped.revision() == store.revision()


def test_transactions_in_flight_together_share_a_request_only_with_disjoint_keys(
    store: Store,
) -> None:
    held = Held(store)
    grouped = GroupedTxns(held)  # type: ignore[arg-type]
    claim = [Compare.absent("/lock")]
    with ThreadPoolExecutor(8) as pool:
        held.hold()
        first = pool.submit(grouped.txn, [], [Op.put("/job/0", "done")])
        assert held.in_flight.wait(30)
        # While the first is held: two that each take /lock if it is free (one after the
        # other, only the first can), two on keys of their own, one on a prefix.
        asked = [
            (claim, [Op.put("/lock", "a")]),
            ([], [Op.put("/job/1", "done")]),
            (claim, [Op.put("/lock", "b")]),
            ([], [Op.delete("/old/", prefix=True)]),
            ([Compare.absent("/job/2")], [Op.put("/job/2", "done")]),
        ]
        later = []
        for n, (compare, ops) in enumerate(asked, 1):
            later.append(pool.submit(grouped.txn, compare, ops))
            eventually(lambda n=n: grouped.waiting() == n, what=f"{n} waiting")  # type: ignore[misc]
        held.release()
        assert first.result(30).succeeded
        results = [f.result(30) for f in later]
    # One request for the first, one for the four after it, nested in disjoint rounds:
    # the first claim with the two jobs, the second claim alone, the prefix alone.
    assert grouped.round_trips == 2
    assert [[op.key for t in batch for op in t.success] for batch in held.batches] == [
        ["/lock", "/job/1", "/job/2"], ["/lock"], ["/old/"],
    ]  # fmt: skip
    assert [r.succeeded for r in results] == [True, True, False, True, True]
    lock = store.get("/lock")
    assert lock is not None and lock.value == "a"
    assert {e.key for e in store.get_prefix("/job/")} == {"/job/0", "/job/1", "/job/2"}
