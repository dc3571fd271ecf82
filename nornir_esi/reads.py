"""Group reads: concurrent reads of one router's state share one read.

Monitoring jobs of many gateways on the same routers each want a few interfaces and
counters; the router answers one interface listing and one read per filter whatever
their number. So, as with the group commit of :mod:`nornir_esi.coalesce`: the first
caller for a router reads; callers that arrive while it reads wait, and the next read
(done by that same first caller) asks for all of them at once. Each caller gets the part
it asked for, or the read's error. Calls one after the other each read on their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupReads", "StateRead"]

# (router, interfaces, counters) -> {"interfaces": {name: ...}, "counters": {"F/C": ...}}
StateRead = Callable[[Any, list[str], list[tuple[str, str]]], dict[str, Any]]


@dataclass
class _Call:
    interfaces: list[str]
    counters: list[tuple[str, str]]
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] | None = None
    error: BaseException | None = None

    def answer(self, state: dict[str, Any]) -> None:
        self.result = {
            "interfaces": {name: state["interfaces"][name] for name in self.interfaces},
            "counters": {f"{f}/{c}": state["counters"][f"{f}/{c}"] for f, c in self.counters},
        }
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class GroupReads:
    """``read`` behind a per-router queue; see the module."""

    def __init__(self, read: StateRead) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, list[_Call]] = {}
        self._reading: set[Hashable] = set()
        self.reads = 0  # how many reads were made (for tests and the benchmark)

    def __call__(
        self,
        key: Hashable,
        router: Any,
        interfaces: Sequence[str] = (),
        counters: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """``router``'s state (``key``: its name) for ``interfaces`` and ``counters``."""
        mine = _Call(list(interfaces), list(counters))
        with self._lock:
            self._waiting.setdefault(key, []).append(mine)
            lead = key not in self._reading
            self._reading.add(key)
        if lead:
            self._lead(key, router)
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def waiting(self, key: Hashable) -> int:
        """How many calls for ``key`` wait for the next read."""
        with self._lock:
            return len(self._waiting.get(key, ()))

    def _lead(self, key: Hashable, router: Any) -> None:
        while True:
            with self._lock:
                group = self._waiting.pop(key, [])
                if not group:
                    self._reading.discard(key)
                    return
            interfaces = sorted({name for call in group for name in call.interfaces})
            counters = sorted({pair for call in group for pair in call.counters})
            self.reads += 1
            try:
                state = self._read(router, interfaces, counters)
            except BaseException as exc:  # each caller gets it, as its own read would
                for call in group:
                    call.fail(exc)
            else:
                for call in group:
                    call.answer(state)
