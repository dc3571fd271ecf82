"""The Feed: several watches merged into one queue, and a way to wake its consumer."""

from __future__ import annotations

import threading

from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed


def test_events_of_every_prefix_arrive_in_one_queue(store: Store) -> None:
    with Feed(store, ["/a/", "/b/"], start_revision=store.revision() + 1) as feed:
        store.put("/a/1", "x")
        store.put("/b/1", "y")
        got = {feed.get(timeout=30).key, feed.get(timeout=30).key}  # type: ignore[union-attr]
    assert got == {"/a/1", "/b/1"}


def test_wake_ends_a_wait_at_once_and_loses_no_event(store: Store) -> None:
    """A worker whose slot frees wakes its loop (it then looks at the ready queue) instead
    of waiting for the next event or the timeout. The wait here is longer than a test may
    take (pytest's timeout, 120 s): without the wake, the test fails."""
    with Feed(store, ["/a/"], start_revision=store.revision() + 1) as feed:
        waker = threading.Thread(target=feed.wake)
        waker.start()
        assert feed.get(timeout=600) is None
        waker.join()
        store.put("/a/1", "x")
        event = feed.get(timeout=30)
        assert event is not None and event.key == "/a/1"
