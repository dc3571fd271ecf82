"""Waiting with a deadline, and reading a watch from a thread."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from nornir_esi.exceptions import TemporaryError
from nornir_esi.store import Event, Watch

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
