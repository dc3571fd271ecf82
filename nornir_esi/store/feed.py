"""Several prefix watches merged into one queue, for loops that also need timeouts.

A watch's iterator blocks; the manager and the workers must also notice a stop request
or a lost lease. A :class:`Feed` runs one thread per watch and hands events to a queue
the loop waits on with a timeout. A watch that fails ends the feed with that error, so
the loop re-reads the store and starts over instead of missing events.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from nornir_esi.store.base import Event, Store, Watch

__all__ = ["Feed"]


class Feed:
    """Events under ``prefixes`` from ``start_revision`` on, merged in arrival order."""

    def __init__(self, store: Store, prefixes: Sequence[str], *, start_revision: int) -> None:
        self._queue: queue.Queue[Event | BaseException | None] = queue.Queue()
        self._watches: list[Watch] = []
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        for prefix in prefixes:
            watch = store.watch(prefix, start_revision=start_revision)
            self._watches.append(watch)
            thread = threading.Thread(
                target=self._pump, args=(watch,), name=f"feed {prefix}", daemon=True
            )
            self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def _pump(self, watch: Watch) -> None:
        try:
            for event in watch:
                self._queue.put(event)
        except BaseException as exc:  # handed to the consumer, which decides
            if not self._closed.is_set():
                self._queue.put(exc)

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds or a :meth:`wake`.

        A watch's error is re-raised here.
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is None:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def wake(self) -> None:
        """Make a waiting :meth:`get` return None now (from another thread).

        For when the consumer has something else to look at.
        """
        self._queue.put(None)

    def close(self) -> None:
        """Cancel the watches and wait (10 s each at most) for their threads to end."""
        self._closed.set()
        for watch in self._watches:
            watch.cancel()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
