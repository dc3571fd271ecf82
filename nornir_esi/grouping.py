"""Grouping: concurrent calls of the same kind share one request.

The pattern of the group commit (:mod:`nornir_esi.pair.coalesce`) for requests that carry
many items at no more cost than one: a router's interface listing (:mod:`nornir_esi.device.reads`),
a read of many etcd keys in one round trip (:mod:`nornir_esi.store.grouped`).

Per key: a call that finds no request in flight sends one with its item at once (no
waiting for company, so a lone call is as fast as before). Calls that arrive while it is
in flight wait; when it is answered, the oldest waiting call's thread sends the next
request, for every call waiting then. Each thread sends at most the request that carries
its own item, so none works on others' calls once its own is answered.

Each call gets its own answer, or the error its request raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Group"]

T = TypeVar("T")
R = TypeVar("R")

# run(key, items) -> one answer per item, in order; raising fails every item.
Run = Callable[[Hashable, list[T]], Sequence[R]]


@dataclass(eq=False)
class _Call(Generic[T, R]):
    item: T
    woken: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    answer: R | None = None
    error: BaseException | None = None


class Group(Generic[T, R]):
    """``run`` behind a queue per key; see the module."""

    def __init__(self, run: Run[T, R]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, list[_Call[T, R]]] = {}
        self._busy: set[Hashable] = set()
        self.runs = 0  # requests sent (for tests and the benchmark)

    def __call__(self, key: Hashable, item: T) -> R:
        """The answer to ``item``, from the request for ``key`` that carries it; see the module.

        Raises the error that request raised.
        """
        mine: _Call[T, R] = _Call(item)
        with self._lock:
            self._waiting.setdefault(key, []).append(mine)
            if key not in self._busy:
                self._busy.add(key)
                mine.woken.set()
        while True:
            mine.woken.wait()
            if mine.done:
                break
            # Leading: this request carries this call's item.
            self._send(key)
        if mine.error is not None:
            raise mine.error
        return mine.answer  # type: ignore[return-value]

    def waiting(self, key: Hashable) -> int:
        """How many calls for ``key`` wait for a request (the one in flight excluded)."""
        with self._lock:
            return len(self._waiting.get(key, ()))

    def _send(self, key: Hashable) -> None:
        with self._lock:
            group = self._waiting.pop(key, [])
            self.runs += 1
        try:
            answers = list(self._run(key, [call.item for call in group]))
            if len(answers) != len(group):
                raise RuntimeError(f"{len(answers)} answers for {len(group)} items")
        except BaseException as exc:  # each call gets it, as its own request would
            for call in group:
                call.error = exc
        else:
            for call, answer in zip(group, answers, strict=True):
                call.answer = answer
        with self._lock:
            following = self._waiting.get(key)
            if following:
                following[0].woken.set()  # the oldest waiting call sends the next
            else:
                self._busy.discard(key)
        for call in group:
            call.done = True
            call.woken.set()
