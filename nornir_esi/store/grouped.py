"""A store whose single-key reads and transactions, made at once by many threads, share round trips.

A worker runs hundreds of jobs at once, and their handlers walk the resource graph one
``get`` at a time: a burst of 1,000 gateways made about 10,000 reads of the same few
dozen routers and interfaces, each its own round trip to etcd. Through
:class:`GroupedGets`, the reads that arrive while one is in flight go together in the next
(:mod:`nornir_esi.grouping`; :func:`~nornir_esi.store.base.get_many`, each key once).

Each read is still made after its call began, so it sees every write that landed before
(as its own round trip would); a lone read goes at once.

Transactions likewise (:class:`GroupedTxns`): those waiting while one is in flight go
nested in the next request (:meth:`Store.txns`), but only transactions that touch no key
of each other's: etcd evaluates every nested transaction's compares before any of their
writes, so two that compare and write one key would both succeed together where one after
the other the second would fail. A transaction touching a key of one already in the
request, or a prefix, waits for a request of its own. Each gets its own answer or error.
Everything else is passed on unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from nornir_esi.grouping import Group
from nornir_esi.store.base import Compare, Entry, Lease, Op, Store, TxnResult, Watch, get_many
from nornir_esi.store.base import Txn as TxnSpec

__all__ = ["GroupedGets", "GroupedTxns"]


def _touched(txn: TxnSpec) -> set[str] | None:
    """The keys ``txn`` compares, reads or writes; None when one of them is a prefix."""
    touched: set[str] = set()
    for c in txn.compare:
        if c.prefix:
            return None
        touched.add(c.key)
    for op in (*txn.success, *txn.failure):
        if op.prefix:
            return None
        touched.add(op.key)
    return touched


def _rounds(txns: Sequence[TxnSpec]) -> list[list[int]]:
    """The indexes of ``txns`` in requests of transactions with no key in common, in order."""
    rounds: list[tuple[list[int], set[str] | None]] = []
    for i, txn in enumerate(txns):
        touched = _touched(txn)
        if touched is not None:
            for indexes, taken in rounds:
                if taken is not None and not (taken & touched):
                    indexes.append(i)
                    taken |= touched
                    break
            else:
                rounds.append(([i], touched))
        else:
            rounds.append(([i], None))
    return [indexes for indexes, _ in rounds]


class GroupedTxns:
    """Transactions on ``store``, sharing requests when their keys are disjoint (see the module)."""

    def __init__(self, store: Store) -> None:
        self.inner = store
        self._group: Group[TxnSpec, TxnResult] = Group(self._run)

    @property
    def round_trips(self) -> int:
        """Requests sent for grouped transactions (for tests and the benchmark)."""
        return self._group.runs

    def waiting(self) -> int:
        """Transactions waiting for the next request (the one in flight excluded)."""
        return self._group.waiting("txn")

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """Run ``success`` when every ``compare`` holds, else ``failure``, atomically.

        Sent with the transactions waiting alongside it that touch none of its keys.
        """
        return self._group("txn", TxnSpec(compare, success, failure))

    def _run(self, _kind: Hashable, txns: list[TxnSpec]) -> list[TxnResult]:
        if len(txns) == 1:
            (txn,) = txns
            return [self.inner.txn(txn.compare, txn.success, txn.failure)]
        results: list[TxnResult | None] = [None] * len(txns)
        for indexes in _rounds(txns):
            for i, result in zip(indexes, self.inner.txns([txns[i] for i in indexes]), strict=True):
                results[i] = result
        return results  # type: ignore[return-value]


class GroupedGets:
    """``store`` with grouped ``get`` and ``txn`` (see the module)."""

    def __init__(self, store: Store) -> None:
        self.inner = store
        self._gets: Group[str, Entry | None] = Group(self._get_many)
        self._txns = GroupedTxns(store)

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
        """One transaction on the inner store, grouped (:class:`GroupedTxns`)."""
        return self._txns.txn(compare, success, failure)

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
