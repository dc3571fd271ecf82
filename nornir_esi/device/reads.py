"""Group reads: concurrent reads of one router's state share one read.

Monitoring jobs of many gateways on the same routers each want a few interfaces and
counters; the router answers one interface listing and one read per filter whatever
their number. So (:mod:`nornir_esi.grouping`): the first caller for a router reads;
callers that arrive while it reads wait, and the next read asks for all of them at once.
Each caller gets the part it asked for, or the read's error. Calls one after the other
each read on their own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_esi.grouping import Group

__all__ = ["GroupReads", "StateRead"]

# (router, interfaces, counters) -> {"interfaces": {name: ...}, "counters": {"F/C": ...}}
StateRead = Callable[[Any, list[str], list[tuple[str, str]]], dict[str, Any]]


@dataclass(frozen=True)
class _Ask:
    router: Any
    interfaces: list[str]
    counters: list[tuple[str, str]]

    def part(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "interfaces": {name: state["interfaces"][name] for name in self.interfaces},
            "counters": {f"{f}/{c}": state["counters"][f"{f}/{c}"] for f, c in self.counters},
        }


class GroupReads:
    """``read`` behind a per-router queue; see the module."""

    def __init__(self, read: StateRead) -> None:
        self._read = read
        self._group: Group[_Ask, dict[str, Any]] = Group(self._read_for)

    @property
    def reads(self) -> int:
        """How many reads were made (for tests and the benchmark)."""
        return self._group.runs

    def __call__(
        self,
        key: Hashable,
        router: Any,
        interfaces: Sequence[str] = (),
        counters: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """``router``'s state (``key``: its name) for ``interfaces`` and ``counters``."""
        return self._group(key, _Ask(router, list(interfaces), list(counters)))

    def waiting(self, key: Hashable) -> int:
        """How many calls for ``key`` wait for the next read."""
        return self._group.waiting(key)

    def _read_for(self, key: Hashable, asks: list[_Ask]) -> list[dict[str, Any]]:
        interfaces = sorted({name for ask in asks for name in ask.interfaces})
        counters = sorted({pair for ask in asks for pair in ask.counters})
        state = self._read(asks[0].router, interfaces, counters)
        return [ask.part(state) for ask in asks]
