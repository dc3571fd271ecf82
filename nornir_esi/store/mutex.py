"""A fair mutex in etcd.

Its holders take turns in the order they asked, whatever process or machine they run in.

etcd's own recipe (``etcdctl lock``, Go's ``concurrency.Mutex``): each contender puts a
key of its own under the mutex's prefix, bound to a lease of its own, and holds the mutex
once no key under the prefix was created before its own; until then it watches the one
created just before it. Releasing revokes the lease, which deletes the key; a contender
that dies loses its key with its lease (``ttl`` seconds after its last refresh).

The workers queue their pair transactions here (``keys.pair_queue``): without it, two
worker processes with changes for the same pair would meet at the routers' configuration
lock, where the one that just committed takes the lock again at once and the other, which
can only try now and then, may wait for many transactions. The turn orders the
transactions; what keeps two of them off one router at once is still the router's own
configuration lock (a turn whose lease ran out during an etcd outage may overlap the next).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from nornir_esi.exceptions import EsiError, TemporaryError
from nornir_esi.store.base import Lease, Store
from nornir_esi.store.feed import Feed

__all__ = ["EtcdMutex"]

log = logging.getLogger(__name__)


class EtcdMutex:
    """Mutexes under ``prefix`` (one per name, a prefix of its own: ``<prefix>``)."""

    def __init__(self, store: Store, *, ttl: int = 30) -> None:
        self.store = store
        self.ttl = ttl

    @contextlib.contextmanager
    def hold(self, prefix: str, owner: str = "") -> Iterator[None]:
        """Hold the mutex of ``prefix`` for the ``with`` block, after waiting for the turn.

        The contenders' keys are under ``prefix`` (ending in ``/``). A store error raises
        (a StoreError); the key, if put, goes with its lease.
        """
        lease = self.store.lease(self.ttl)
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep, args=(lease, done), name=f"mutex {prefix}", daemon=True
        )
        keeper.start()
        try:
            key = f"{prefix}{lease.id:x}"
            self.store.put(key, owner, lease=lease.id)
            self._wait_for_turn(prefix, key, done)
            yield
        finally:
            done.set()
            keeper.join()
            with contextlib.suppress(EsiError):
                lease.revoke()

    def _wait_for_turn(self, prefix: str, key: str, done: threading.Event) -> None:
        while True:
            entries = self.store.get_prefix(prefix)
            mine = next((e for e in entries if e.key == key), None)
            if mine is None:
                raise TemporaryError(f"{key}: gone before its turn (its lease expired)")
            before = [e for e in entries if e.create_revision < mine.create_revision]
            if not before:
                return
            last = max(before, key=lambda e: e.create_revision)
            # From just after it was written: a deletion before the watch starts is seen.
            with Feed(self.store, [last.key], start_revision=last.mod_revision + 1) as feed:
                while not done.is_set():
                    event = feed.get(timeout=self.ttl / 3)
                    if event is None or event.kind == "delete":
                        break  # gone (or a long wait: look again)

    def _keep(self, lease: Lease, done: threading.Event) -> None:
        while not done.wait(self.ttl / 3):
            try:
                lease.refresh()
            except EsiError as exc:
                log.warning("mutex lease %x: refresh failed: %s", lease.id, exc)
