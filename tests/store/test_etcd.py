"""etcd-specific behaviour: outages, restarts, compaction, a 3-member cluster, settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nornir_esi.exceptions import (
    StoreCompactedError,
    StoreUnavailableError,
    TemporaryError,
    ValidationError,
)
from nornir_esi.store import EtcdStore, Event
from nornir_esi.testing.etcd import EtcdCluster, EtcdServer
from tests.store.helpers import WatchReader, eventually, retry


@pytest.fixture
def own_server() -> Iterator[EtcdServer]:
    """An etcd of the test's own, for tests that stop or restart it."""
    with EtcdServer("own") as server:
        yield server


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_watch_survives_restart_without_loss_or_duplicates(
    own_server: EtcdServer, kill: bool
) -> None:
    store = own_server.client(timeout=5.0)
    try:
        written: list[Event] = []

        def put(key: str, value: str) -> None:
            rev = retry(lambda: store.put(key, value))
            written.append(Event("put", key, value, rev))

        put("jobs/before", "1")
        # From revision 1, so a resume that restarted from the watch's start would replay.
        reader = WatchReader(store.watch("jobs/", start_revision=1))
        try:
            for i in range(5):
                put(f"jobs/{i}", "a")
            assert reader.take(6) == written
            own_server.restart(kill=kill)
            for i in range(5):
                put(f"jobs/{i}", "b")
            put("jobs/end", "")
            # Everything written, in order, each once: nothing lost or replayed.
            assert reader.until("jobs/end") == written[6:]
            assert reader.error is None
        finally:
            reader.close()
    finally:
        store.close()


def test_watch_waits_out_an_outage(own_server: EtcdServer) -> None:
    store = own_server.client(timeout=5.0)
    try:
        reader = WatchReader(store.watch("q/"))
        try:
            r1 = store.put("q/1", "x")
            assert reader.take(1) == [Event("put", "q/1", "x", r1)]
            own_server.halt()
            # Long enough for several failed reconnects of the watch.
            eventually(lambda: _unavailable(store), timeout=5, what="etcd down")
            own_server.start()
            r2 = retry(lambda: store.put("q/2", "y"))
            assert reader.take(1) == [Event("put", "q/2", "y", r2)]
        finally:
            reader.close()
    finally:
        store.close()


def _unavailable(store: EtcdStore) -> bool:
    try:
        store.revision()
    except StoreUnavailableError:
        return True
    return False


def test_unavailable_when_etcd_is_down(own_server: EtcdServer) -> None:
    timeout = 30.0
    store = own_server.client(timeout=timeout)
    try:
        store.put("k", "v")
        lease = store.lease(30)
        own_server.halt()
        calls: dict[str, Callable[[], object]] = {
            "get": lambda: store.get("k"),
            "get_prefix": lambda: store.get_prefix(""),
            "put": lambda: store.put("k", "w"),
            "delete": lambda: store.delete("k"),
            "txn": lambda: store.txn([], []),
            "lease": lambda: store.lease(5),
            "refresh": lease.refresh,
            "revision": store.revision,
            "watch": lambda: store.watch("k"),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as info:
                call()
            assert isinstance(info.value, TemporaryError), name
            assert info.value.delay > 0
            # Fails on the missing connection, not by waiting out the request timeout (the
            # margin is wide on purpose: this is behaviour, not a speed measurement).
            assert time.monotonic() - started < timeout / 3, name
        own_server.start()
        entry = retry(lambda: store.get("k"))
        assert entry is not None and entry.value == "v"
    finally:
        store.close()


def test_watch_of_compacted_revision_raises(own_server: EtcdServer) -> None:
    store = own_server.client()
    try:
        first = store.put("c/1", "x")
        store.put("c/1", "y")
        now = store.put("c/1", "z")
        # Compaction is an operator's job, not part of the Store contract: pyetcd's own.
        raw: Any = store._client
        raw.compact(now)
        with pytest.raises(StoreCompactedError) as info:
            reader_watch = store.watch("c/", start_revision=first)
            list(reader_watch)
        assert info.value.compact_revision == now
        # From the compaction revision on, history is there.
        reader = WatchReader(store.watch("c/", start_revision=now))
        try:
            assert reader.take(1) == [Event("put", "c/1", "z", now)]
        finally:
            reader.close()
    finally:
        store.close()


def test_restart_keeps_data_and_ports(own_server: EtcdServer) -> None:
    endpoint = own_server.endpoints
    store = own_server.client()
    try:
        rev = store.put("persist", "me")
        own_server.restart()
        assert own_server.endpoints == endpoint
        entry = retry(lambda: store.get("persist"))
        assert entry is not None and entry.mod_revision == rev
    finally:
        store.close()


def test_cluster_survives_losing_its_leader() -> None:
    with EtcdCluster(3) as cluster:
        assert len(cluster.endpoints) == 3
        store = cluster.client(timeout=3.0)
        try:
            r1 = store.put("gw/1", "a")
            reader = WatchReader(store.watch("gw/", start_revision=r1))
            try:
                assert [e.key for e in reader.take(1)] == ["gw/1"]
                leader = cluster.leader()
                cluster.stop_member(leader)
                # The client fails over to the remaining members once a new leader is up.
                r2 = retry(lambda: store.put("gw/2", "b"), timeout=20)
                entry = retry(lambda: store.get("gw/2"))
                assert entry is not None and entry.mod_revision == r2
                assert cluster.leader() != leader
                assert reader.until("gw/2", timeout=20) == [Event("put", "gw/2", "b", r2)]

                cluster.start_member(leader)
                # The member that came back caught up.
                with EtcdStore(cluster.endpoints[leader]) as back:
                    caught = retry(lambda: back.get("gw/2"))
                    assert caught is not None and caught.value == "b"
            finally:
                reader.close()
        finally:
            store.close()


def test_from_env(etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESI_ETCD_ENDPOINTS", f" {etcd_server.endpoints}, ")
    for name in ("CA", "CERT", "KEY", "USER", "PASSWORD"):
        monkeypatch.delenv(f"ESI_ETCD_{name}", raising=False)
    with EtcdStore.from_env() as store:
        assert store.endpoints == [etcd_server.endpoints]
        assert store.revision() >= 1
    with pytest.raises(ValidationError):
        EtcdStore.from_env({})
    with pytest.raises(ValidationError):
        EtcdStore("https://127.0.0.1:2379")  # TLS without a CA
    with pytest.raises(ValidationError):
        EtcdStore("http://127.0.0.1:2379", user="root")


def test_cluster_without_quorum_is_unavailable_then_recovers() -> None:
    with EtcdCluster(3) as cluster:
        store = cluster.client(timeout=3.0)
        try:
            store.put("k", "v")
            cluster.stop_member(1)
            cluster.stop_member(2)
            # The last member notices it lost its leader within an election timeout; from
            # then on it refuses at once ("no leader") instead of timing out.
            eventually(lambda: _unavailable(store), timeout=10, what="quorum loss noticed")
            with pytest.raises(StoreUnavailableError):
                store.get("k")
            cluster.start_member(1)
            entry = retry(lambda: store.get("k"), timeout=20)
            assert entry is not None and entry.value == "v"
        finally:
            store.close()


def test_watch_alone_fails_over_from_a_stopped_member() -> None:
    """A client that only watches (no other request to notice the member is gone) moves
    its watch to another member when the one it used stops."""
    with EtcdCluster(3) as cluster:
        watcher_store = cluster.client(timeout=2.0)
        writer = cluster.client(timeout=3.0)
        try:
            first = writer.put("gw/1", "a")
            # Pin the watching client to one member: the one about to stop.
            member = 0
            client = watcher_store._client
            client._current_endpoint_label = cluster.endpoints[member].split("//", 1)[1]
            reader = WatchReader(watcher_store.watch("gw/", start_revision=first))
            try:
                assert [e.key for e in reader.take(1)] == ["gw/1"]
                cluster.stop_member(member)
                second = retry(lambda: writer.put("gw/2", "b"), timeout=30)
                assert reader.until("gw/2", timeout=60) == [Event("put", "gw/2", "b", second)]
            finally:
                reader.close()
        finally:
            watcher_store.close()
            writer.close()
