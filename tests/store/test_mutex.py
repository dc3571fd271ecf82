"""The fair etcd mutex (``nornir_esi.store.mutex``): one holder at a time, turns in the
order asked, a dead holder's turn ends with its lease."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from nornir_esi.contract import keys
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store
from nornir_esi.store.mutex import EtcdMutex
from tests.store.helpers import eventually

PREFIX = keys.pair_queue(["pe0-a", "pe0-b"])


def contenders(store: Store) -> int:
    return len(store.get_prefix(PREFIX))


def test_holders_take_turns_in_the_order_they_asked(store: Store) -> None:
    mutex = EtcdMutex(store)
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()
    holding: list[str] = []

    def hold(name: str, first: bool = False) -> None:
        with mutex.hold(PREFIX, owner=name):
            holding.append(name)
            assert len(holding) == 1, holding  # never two at once
            order.append(name)
            if first:
                inside.set()
                assert release.wait(30)
            holding.remove(name)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hold, "a", True)]
        assert inside.wait(30)
        for count, name in enumerate(("b", "c", "d"), start=2):
            futures.append(pool.submit(hold, name))
            # Each one's key is written before the next asks: the order is known.
            eventually(lambda c=count: contenders(store) == c, what=f"{name} queued")
        release.set()
        for future in futures:
            future.result(30)
    assert order == ["a", "b", "c", "d"]
    assert contenders(store) == 0  # every key went with its lease


def test_a_holder_that_dies_loses_its_turn_with_its_lease(store: Store) -> None:
    # A process that died holding the mutex: its key, bound to a lease nobody refreshes.
    lease = store.lease(2)
    store.put(f"{PREFIX}dead", "a dead worker", lease=lease.id)
    mutex = EtcdMutex(store)
    with mutex.hold(PREFIX, owner="alive"):
        # Reached only once etcd expired the dead holder's lease.
        assert [e.value for e in store.get_prefix(PREFIX)] == ["alive"]
    assert contenders(store) == 0


def test_the_pair_queue_key_refuses_a_name_that_is_no_key_part() -> None:
    with pytest.raises(ValidationError, match="name"):
        keys.pair_queue(["pe0-a", "a/b"])
    assert keys.pair_queue(["pe0-a", "pe0-b"]) == "/esi-worker/pair_queue/v2.0/pe0-a/pe0-b/"
