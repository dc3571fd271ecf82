"""The store contract, run against every backend of ``STORE_BACKENDS`` (real servers)."""

from __future__ import annotations

import threading
import time

import pytest

from nornir_esi.exceptions import LeaseExpiredError, StoreError
from nornir_esi.store import Compare, Entry, Event, Op, Store, Txn, TxnResult, get_many
from nornir_esi.store.base import MAX_TXN_OPS
from tests.store.helpers import WatchReader, eventually

# -- keys -------------------------------------------------------------------------------


def test_put_get(store: Store) -> None:
    assert store.get("a") is None
    rev1 = store.put("a", "one")
    first = store.get("a")
    assert first == Entry("a", "one", mod_revision=rev1, create_revision=rev1, version=1)
    rev2 = store.put("a", "twö")
    second = store.get("a")
    assert rev2 > rev1
    assert second == Entry("a", "twö", mod_revision=rev2, create_revision=rev1, version=2)
    assert store.revision() == rev2


def test_get_prefix_sorted_by_key(store: Store) -> None:
    for key in ["jobs/b", "jobs/a/2", "jobs/é", "jobs/a/10", "jobs0", "job", "other/x"]:
        store.put(key, key.upper())
    got = store.get_prefix("jobs/")
    assert [e.key for e in got] == ["jobs/a/10", "jobs/a/2", "jobs/b", "jobs/é"]
    assert [e.value for e in got] == ["JOBS/A/10", "JOBS/A/2", "JOBS/B", "JOBS/É"]
    assert store.get_prefix("nothing/") == []
    # The empty prefix is everything.
    assert len(store.get_prefix("")) == 7


def test_get_prefix_by_pages(store: Store) -> None:
    for key in ["jobs/a", "jobs/b", "jobs/b0", "jobs/c", "jobs0", "other/x"]:
        store.put(key, key)
    assert [e.key for e in store.get_prefix("jobs/", limit=2)] == ["jobs/a", "jobs/b"]
    # After a key: the next page, never past the prefix.
    page = store.get_prefix("jobs/", after="jobs/b", limit=2)
    assert [e.key for e in page] == ["jobs/b0", "jobs/c"]
    assert store.get_prefix("jobs/", after="jobs/c", limit=2) == []
    assert [e.key for e in store.get_prefix("jobs/", after="jobs/a")] == [
        "jobs/b",
        "jobs/b0",
        "jobs/c",
    ]


def test_delete_and_delete_prefix(store: Store) -> None:
    for key in ["q/1", "q/2", "q/3/x", "q0", "r"]:
        store.put(key, "v")
    assert store.delete("q/1") == 1
    assert store.delete("q/1") == 0
    assert store.get("q/1") is None
    assert store.delete("q/", prefix=True) == 2
    assert [e.key for e in store.get_prefix("")] == ["q0", "r"]
    assert store.delete("", prefix=True) == 2
    assert store.get_prefix("") == []


# -- transactions -----------------------------------------------------------------------


def test_txn_success_and_failure_branches(store: Store) -> None:
    store.put("state", "queued")
    ok = store.txn(
        [Compare.value_is("state", "queued")],
        [Op.put("state", "running"), Op.put("claim", "w1"), Op.get("state")],
        [Op.get("state")],
    )
    assert ok.succeeded
    assert ok.revision == store.revision()
    assert [[e.value for e in g] for g in ok.gets] == [["running"]]
    assert store.get("claim") is not None

    ko = store.txn(
        [Compare.value_is("state", "queued")],
        [Op.put("state", "running")],
        [Op.put("seen", "lost"), Op.get("state"), Op.get("nope")],
    )
    assert not ko.succeeded
    # Only the failure branch ran; the gets come in op order, one tuple per get.
    assert store.get("seen") is not None
    assert [[e.value for e in g] for g in ko.gets] == [["running"], []]
    assert ko.revision == store.revision()


def test_txn_without_gets_reports_revision(store: Store) -> None:
    result = store.txn([Compare.absent("k")], [Op.put("k", "v")])
    assert result == TxnResult(succeeded=True, gets=(), revision=store.revision())
    entry = store.get("k")
    assert entry is not None and entry.mod_revision == result.revision


def test_txn_create_if_absent_race(store: Store) -> None:
    contenders = 8
    barrier = threading.Barrier(contenders)
    results: dict[str, bool] = {}

    def claim(name: str) -> None:
        barrier.wait(5)
        r = store.txn([Compare.absent("lock")], [Op.put("lock", name)], [Op.get("lock")])
        results[name] = r.succeeded

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == contenders
    winners = [name for name, won in results.items() if won]
    assert len(winners) == 1
    entry = store.get("lock")
    assert entry is not None and entry.value == winners[0] and entry.version == 1


def test_txn_value_compares(store: Store) -> None:
    store.put("k", "b")
    assert store.txn([Compare("k", "value", "==", "b")], []).succeeded
    assert not store.txn([Compare("k", "value", "==", "c")], []).succeeded
    assert store.txn([Compare("k", "value", "!=", "c")], []).succeeded
    assert store.txn([Compare("k", "value", "<", "c")], []).succeeded
    assert store.txn([Compare("k", "value", ">", "a")], []).succeeded
    # All compares must hold.
    assert not store.txn([Compare.value_is("k", "b"), Compare.absent("k")], []).succeeded


def test_txn_revision_and_version_compares(store: Store) -> None:
    rev = store.put("job", "v1")
    assert store.txn([Compare.present("job")], []).succeeded
    assert not store.txn([Compare.absent("job")], []).succeeded
    assert store.txn([Compare.absent("other")], []).succeeded
    assert store.txn([Compare("job", "create_revision", "==", rev)], []).succeeded
    assert store.txn([Compare("job", "version", ">", 0)], []).succeeded

    # Compare-and-swap on mod_revision: a stale writer loses.
    assert store.txn([Compare.unchanged_since("job", rev)], [Op.put("job", "v2")]).succeeded
    stale = store.txn([Compare.unchanged_since("job", rev)], [Op.put("job", "v3")], [Op.get("job")])
    assert not stale.succeeded
    assert stale.gets[0][0].value == "v2"
    entry = store.get("job")
    assert entry is not None and entry.version == 2
    assert store.txn([Compare("job", "mod_revision", ">", rev)], []).succeeded
    assert store.txn([Compare("job", "create_revision", "==", rev)], []).succeeded


def test_txn_prefix_compare_none_written_since(store: Store) -> None:
    store.put("/p/a", "1")
    store.put("/pq", "outside the prefix /p/")
    since = store.revision()
    guard = [Compare.none_written_since("/p/", since)]
    assert store.txn(guard, [Op.put("/done/1", "x")]).succeeded
    assert store.txn([Compare.none_written_since("/empty/", since)], []).succeeded
    store.put("/pq", "still outside")
    assert store.txn(guard, [Op.put("/done/2", "x")]).succeeded
    store.put("/p/b", "new under the prefix")
    assert not store.txn(guard, [Op.put("/done/3", "x")]).succeeded
    store.put("/p/a", "2")
    store.delete("/p/b")
    # An older key rewritten fails it too; only a delete goes unseen.
    assert not store.txn([Compare.none_written_since("/p/", since)], []).succeeded
    assert store.get("/done/3") is None


def test_txn_delete_ops(store: Store) -> None:
    for key in ["wf/1/a", "wf/1/b", "wf/10", "job"]:
        store.put(key, "x")
    job = store.get("job")
    assert job is not None
    r = store.txn(
        [Compare.unchanged_since("job", job.mod_revision)],
        [Op.delete("job"), Op.delete("wf/1/", prefix=True), Op.get("wf/10")],
    )
    assert r.succeeded
    assert [e.key for e in store.get_prefix("")] == ["wf/10"]
    assert [e.key for g in r.gets for e in g] == ["wf/10"]


def test_txns_each_succeeds_or_fails_on_its_own(store: Store) -> None:
    store.put("claimed", "w1")
    results = store.txns(
        [
            Txn([Compare.absent("claimed")], [Op.put("claimed", "w2")], [Op.get("claimed")]),
            Txn([Compare.absent("free")], [Op.put("free", "w2"), Op.get("free")]),
        ]
    )
    assert [r.succeeded for r in results] == [False, True]
    assert [[e.value for e in g] for g in results[0].gets] == [["w1"]]
    assert [[e.value for e in g] for g in results[1].gets] == [["w2"]]
    assert store.get("claimed") == store.get("claimed") and store.get("claimed").value == "w1"  # type: ignore[union-attr]
    assert results[0].revision == results[1].revision == store.revision()


def test_txns_beyond_one_request_and_get_many(store: Store) -> None:
    count = 2 * MAX_TXN_OPS + 3
    results = store.txns(
        [Txn([Compare.absent(f"k/{i}")], [Op.put(f"k/{i}", str(i))]) for i in range(count)]
    )
    assert len(results) == count and all(r.succeeded for r in results)
    names = [f"k/{i}" for i in range(count)] + ["k/none"]
    found = get_many(store, names)
    assert [e.value if e else None for e in found] == [str(i) for i in range(count)] + [None]


def test_txns_writing_one_key_twice_is_refused_whole(store: Store) -> None:
    with pytest.raises(StoreError):
        store.txns([Txn([], [Op.put("same", "1")]), Txn([], [Op.put("same", "2")])])
    assert store.get("same") is None


# -- leases -----------------------------------------------------------------------------


def test_lease_revoke_deletes_bound_keys(store: Store) -> None:
    lease = store.lease(5)
    assert lease.id and lease.ttl >= 5
    store.put("claims/a", "w1", lease=lease.id)
    r = store.txn([Compare.absent("claims/b")], [Op.put("claims/b", "w1", lease=lease.id)])
    assert r.succeeded
    store.put("free", "x")
    assert {e.key: e.lease for e in store.get_prefix("claims/")} == {
        "claims/a": lease.id,
        "claims/b": lease.id,
    }
    lease.revoke()
    assert store.get_prefix("claims/") == []
    assert store.get("free") is not None
    lease.revoke()  # already gone: no error
    with pytest.raises(LeaseExpiredError):
        store.put("claims/c", "w1", lease=lease.id)


def test_lease_expires_without_refresh(store: Store) -> None:
    lease = store.lease(1)
    store.put("leader", "m1", lease=lease.id)
    eventually(lambda: store.get("leader") is None, timeout=10, what="leased key expiry")
    assert lease.refresh() == 0


def test_lease_refresh_keeps_it_alive(store: Store) -> None:
    lease = store.lease(1)
    store.put("leader", "m1", lease=lease.id)
    # Stay alive for two TTLs, refreshing well within each one.
    until = time.monotonic() + 2 * lease.ttl
    while time.monotonic() < until:
        assert lease.refresh() >= 1
        assert store.get("leader") is not None
        threading.Event().wait(lease.ttl / 4)
    lease.revoke()
    assert store.get("leader") is None


def test_put_with_unknown_lease_fails(store: Store) -> None:
    with pytest.raises(StoreError):
        store.put("k", "v", lease=0x7EADBEEF)
    assert store.get("k") is None


# -- watch ------------------------------------------------------------------------------


def test_watch_replays_from_revision_then_live(store: Store) -> None:
    r1 = store.put("jobs/1", "queued")
    r2 = store.put("jobs/2", "queued")
    store.put("other", "ignored")
    reader = WatchReader(store.watch("jobs/", start_revision=r1))
    try:
        assert reader.take(2) == [
            Event("put", "jobs/1", "queued", r1),
            Event("put", "jobs/2", "queued", r2),
        ]
        r3 = store.put("jobs/1", "running")
        assert store.delete("jobs/2") == 1
        r4 = store.revision()
        # Several keys in one revision are all delivered.
        r5 = store.txn([], [Op.put("jobs/3", "a"), Op.put("jobs/4", "b")]).revision
        store.put("jobsX", "outside")
        store.put("jobs/end", "")
        assert reader.until("jobs/end")[:-1] == [
            Event("put", "jobs/1", "running", r3),
            Event("delete", "jobs/2", "", r4),
            Event("put", "jobs/3", "a", r5),
            Event("put", "jobs/4", "b", r5),
        ]
    finally:
        reader.close()


def test_watch_from_now_skips_history(store: Store) -> None:
    store.put("w/old", "x")
    reader = WatchReader(store.watch("w/"))
    try:
        rev = store.put("w/new", "y")
        assert reader.take(1) == [Event("put", "w/new", "y", rev)]
    finally:
        reader.close()


def test_watch_revisions_are_ordered(store: Store) -> None:
    start = store.revision() + 1
    reader = WatchReader(store.watch("n/", start_revision=start))
    try:
        writers = [
            threading.Thread(target=lambda i=i: [store.put(f"n/{i}", str(j)) for j in range(20)])
            for i in range(4)
        ]
        for t in writers:
            t.start()
        for t in writers:
            t.join(10)
        events = reader.take(80)
        revisions = [e.mod_revision for e in events]
        assert revisions == sorted(revisions) and len(set(revisions)) == 80
    finally:
        reader.close()


def test_watch_cancel_from_another_thread_ends_iteration(store: Store) -> None:
    watch = store.watch("idle/")
    done = threading.Event()
    seen: list[Event] = []

    def consume() -> None:
        seen.extend(watch)
        done.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    store.put("idle/1", "x")
    eventually(lambda: seen, timeout=5, what="first event")
    watch.cancel()
    assert done.wait(5), "iteration did not end after cancel()"
    watch.cancel()  # twice is fine
    assert [e.key for e in seen] == ["idle/1"]
