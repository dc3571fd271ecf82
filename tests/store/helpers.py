"""Waiting with a deadline, reading a watch from a thread, losing chosen transactions."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from nornir_esi.exceptions import StoreUnavailableError, TemporaryError
from nornir_esi.store import Event, Watch
from nornir_esi.store.base import Compare, Op, Store, Txn, TxnResult
from nornir_esi.store.feed import Feed

T = TypeVar("T")


def eventually(
    fn: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """``fn()`` once it returns a truthy value without a TemporaryError, or fail at the
    deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = fn()
            if result:
                return result
            last = result
        except TemporaryError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or fn} not true after {timeout}s (last: {last!r})")
        threading.Event().wait(interval)


def retry(fn: Callable[[], T], *, timeout: float = 10.0) -> T:
    """``fn()``, called again on TemporaryError until the deadline (a client's job)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except TemporaryError:
            if time.monotonic() > deadline:
                raise
            threading.Event().wait(0.05)


class WatchReader:
    """Iterates a watch on a thread; the test takes events with a deadline."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.events: queue.Queue[Event] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.watch:
                self.events.put(event)
        except BaseException as exc:
            self.error = exc

    def take(self, n: int, timeout: float = 10.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        got: list[Event] = []
        while len(got) < n:
            try:
                got.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"got {len(got)} of {n} events after {timeout}s: {got} (error: {self.error!r})"
                ) from None
        return got

    def until(self, key: str, timeout: float = 10.0) -> list[Event]:
        """Every event up to and including the first one on ``key``.

        Writing a sentinel key and reading up to it proves nothing extra (no duplicate)
        arrived before it, without waiting for silence.
        """
        deadline = time.monotonic() + timeout
        got: list[Event] = []
        while not got or got[-1].key != key:
            got.extend(self.take(1, timeout=max(0.0, deadline - time.monotonic())))
        return got

    def close(self) -> None:
        self.watch.cancel()
        self.thread.join(5)
        assert not self.thread.is_alive(), "watch iteration did not end after cancel()"


class LossyStore:
    """A real store whose next ``times`` transactions matching ``lose`` (or reads matching
    ``lose_get``) fail with :class:`StoreUnavailableError`, as requests do when an etcd member
    goes away: before reaching etcd (nothing written) or, with ``landed``, after it (written,
    the answer lost). Everything else passes through to the real store."""

    def __init__(
        self,
        store: Store,
        lose: Callable[[Sequence[Op]], bool],
        *,
        landed: bool,
        times: int = 1,
        lose_get: Callable[[str], bool] | None = None,
    ) -> None:
        self._store = store
        self._lose = lose
        self._landed = landed
        self._left = times
        self._lose_get = lose_get
        self._lock = threading.Lock()
        self.lost: list[Sequence[Op]] = []
        self.lost_gets: list[str] = []

    def get(self, key: str) -> Any:
        """The real get, unless ``lose_get`` picks the key and losses are left."""
        with self._lock:
            hit = self._lose_get is not None and self._left > 0 and self._lose_get(key)
            if hit:
                self._left -= 1
        if hit:
            self.lost_gets.append(key)
            raise StoreUnavailableError(f"etcd: get {key}: no answer (LossyStore)", delay=0.1)
        return self._store.get(key)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        return self._request([Txn(compare, success, failure)], single=True)[0]

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        """As :meth:`txn`, for a request of several: one of them picked loses the request
        whole (etcd applies all of it or none)."""
        return self._request(txns, single=False)

    def _request(self, txns: Sequence[Txn], *, single: bool) -> list[TxnResult]:
        # The reads of a transaction (``get_many``) are reads too: ``lose_get`` picks them.
        read = next(
            (
                op.key
                for t in txns
                for op in t.success
                if op.kind == "get" and self._lose_get is not None and self._lose_get(op.key)
            ),
            None,
        )
        with self._lock:
            picked = (
                None
                if read is not None
                else next((t.success for t in txns if self._lose(t.success)), None)
            )
            hit = self._left > 0 and (read is not None or picked is not None)
            if hit:
                self._left -= 1
        if hit and read is not None:
            self.lost_gets.append(read)
            raise StoreUnavailableError(f"etcd: get {read}: no answer (LossyStore)", delay=0.1)
        send = (
            (lambda: [self._store.txn(*_parts(txns[0]))])
            if single
            else (lambda: self._store.txns(txns))
        )
        if not hit:
            return send()
        if self._landed:
            send()
        assert picked is not None
        self.lost.append(picked)
        raise StoreUnavailableError("etcd: txn: answer lost (LossyStore)", delay=0.1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _parts(txn: Txn) -> tuple[Sequence[Compare], Sequence[Op], Sequence[Op]]:
    return txn.compare, txn.success, txn.failure


class InterposingStore:
    """A real store on which ``meanwhile`` runs once, right after the first read of
    ``key``: another writer landing between a front door's check and its write."""

    def __init__(self, store: Store, key: str, meanwhile: Callable[[], object]) -> None:
        self._store = store
        self._key = key
        self._meanwhile: Callable[[], object] | None = meanwhile

    def get(self, key: str) -> Any:
        entry = self._store.get(key)
        if key == self._key and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return entry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


HISTORY_MARKER = "/test/end-of-history"


def history(store: Store, start: int, prefix: str = "") -> list[Event]:
    """Every event under ``prefix`` from revision ``start`` up to now, from etcd's history.

    A marker key is written and the whole keyspace read until its event, so no event
    before it is missing, those of one transaction included (no quiet period waited).
    """
    store.put(HISTORY_MARKER, "")
    events: list[Event] = []
    with Feed(store, ["/"], start_revision=start) as feed:
        while True:
            event = feed.get(timeout=30)
            assert event is not None, "the history marker never came through the watch"
            if event.key == HISTORY_MARKER:
                return [e for e in events if e.key.startswith(prefix)]
            events.append(event)
