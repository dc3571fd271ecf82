"""A store whose single-key reads, made at once by many threads, share round trips.

A worker runs hundreds of jobs at once, and their handlers walk the resource graph one
``get`` at a time: a burst of 1,000 gateways made about 10,000 reads of the same few
dozen routers and interfaces, each its own round trip to etcd. Through
:class:`GroupedGets`, the reads that arrive while one is in flight go together in the next
(:mod:`nornir_esi.grouping`; :func:`~nornir_esi.store.base.get_many`, each key once).

Each read is still made after its call began, so it sees every write that landed before
(as its own round trip would); a lone read goes at once. Everything else is passed on
unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from nornir_esi.grouping import Group
from nornir_esi.store.base import Compare, Entry, Lease, Op, Store, TxnResult, Watch, get_many
from nornir_esi.store.base import Txn as TxnSpec

__all__ = ["GroupedGets"]


class GroupedGets:
    """``store`` with grouped ``get`` (see the module)."""

    def __init__(self, store: Store) -> None:
        self.inner = store
        self._gets: Group[str, Entry | None] = Group(self._get_many)

    @property
    def round_trips(self) -> int:
        """Reads sent for ``get`` (for tests and the benchmark)."""
        return self._gets.runs

    def waiting(self) -> int:
        """Gets waiting for the next round trip (the one in flight excluded)."""
        return self._gets.waiting("get")

    def get(self, key: str) -> Entry | None:
        """The entry of ``key`` (None: absent), read with the gets waiting alongside it."""
        return self._gets("get", key)

    def _get_many(self, _kind: Hashable, keys: list[str]) -> list[Entry | None]:
        unique = list(dict.fromkeys(keys))
        found = dict(zip(unique, get_many(self.inner, unique), strict=True))
        return [found[key] for key in keys]

    # -- the rest, unchanged -------------------------------------------------------------

    def get_prefix(self, prefix: str, *, after: str = "", limit: int = 0) -> list[Entry]:
        """Every key under ``prefix`` (after ``after``, ``limit`` at most), from the inner store."""
        return self.inner.get_prefix(prefix, after=after, limit=limit)

    def put(self, key: str, value: str, *, lease: int = 0) -> int:
        """Write a key in the inner store; returns its revision after the write."""
        return self.inner.put(key, value, lease=lease)

    def delete(self, key: str, *, prefix: bool = False) -> int:
        """Delete a key (or a prefix) in the inner store; returns how many were deleted."""
        return self.inner.delete(key, prefix=prefix)

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """One transaction on the inner store."""
        return self.inner.txn(compare, success, failure)

    def txns(self, txns: Sequence[TxnSpec]) -> list[TxnResult]:
        """Independent transactions on the inner store, as :meth:`Store.txns`."""
        return self.inner.txns(txns)

    def lease(self, ttl: int) -> Lease:
        """A new lease of ``ttl`` seconds from the inner store."""
        return self.inner.lease(ttl)

    def watch(self, prefix: str, *, start_revision: int = 0) -> Watch:
        """A watch on the inner store: changes under ``prefix`` from ``start_revision``."""
        return self.inner.watch(prefix, start_revision=start_revision)

    def revision(self) -> int:
        """The inner store's current revision."""
        return self.inner.revision()

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()
