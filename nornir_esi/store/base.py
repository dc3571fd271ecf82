"""The store contract: what nornir-esi needs of etcd, and nothing more.

The job manager, the workers and the front doors talk to a :class:`Store`; the etcd
adapter (``store/etcd.py``) implements it. Values are UTF-8 text (JSON documents or plain
handler names); the record shapes live in ``records.py`` and the keys in ``keys.py``.

The operations are the ones the contract's queue protocol needs:

- ``txn``: compare-and-swap of several keys at once (claiming a job, planning a workflow
  in one step, compare-and-delete of a job state);
- leases: a worker's claims and the manager's leadership vanish when it dies;
- ``watch``: every change under a prefix from a revision on, with nothing lost across
  reconnects (the adapter resumes from the last revision it delivered).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "Compare",
    "Entry",
    "Event",
    "Lease",
    "Op",
    "Store",
    "Txn",
    "TxnResult",
    "Watch",
    "get_many",
]

# etcd's default --max-txn-ops: the most operations one transaction may carry.
MAX_TXN_OPS = 128


@dataclass(frozen=True)
class Entry:
    """A key with its value and etcd metadata."""

    key: str
    value: str
    mod_revision: int
    create_revision: int
    version: int
    lease: int = 0


@dataclass(frozen=True)
class Event:
    """One change seen by a watch: ``put`` (with the new value) or ``delete``."""

    kind: Literal["put", "delete"]
    key: str
    value: str
    mod_revision: int


@dataclass(frozen=True)
class Compare:
    """A condition of a transaction.

    ``target`` is what is compared: ``value``, ``version`` (0 when the key is absent),
    ``mod_revision`` or ``create_revision``; ``op`` one of ``==``, ``!=``, ``<``, ``>``.
    ``prefix``: the condition must hold for every key under ``key`` (none: it holds).
    """

    key: str
    target: Literal["value", "version", "mod_revision", "create_revision"]
    op: Literal["==", "!=", "<", ">"]
    operand: str | int
    prefix: bool = False

    @classmethod
    def absent(cls, key: str) -> Compare:
        """``key`` does not exist."""
        return cls(key, "version", "==", 0)

    @classmethod
    def present(cls, key: str) -> Compare:
        """``key`` exists."""
        return cls(key, "version", ">", 0)

    @classmethod
    def value_is(cls, key: str, value: str) -> Compare:
        """``key`` holds exactly ``value``."""
        return cls(key, "value", "==", value)

    @classmethod
    def unchanged_since(cls, key: str, mod_revision: int) -> Compare:
        """``key`` was last written at ``mod_revision`` (nobody wrote it since it was read)."""
        return cls(key, "mod_revision", "==", mod_revision)

    @classmethod
    def none_written_since(cls, prefix: str, revision: int) -> Compare:
        """No key under ``prefix`` was written after ``revision``."""
        return cls(prefix, "mod_revision", "<", revision + 1, prefix=True)


@dataclass(frozen=True)
class Op:
    """An operation of a transaction: ``put``, ``delete`` or ``get``.

    A ``put`` is optionally bound to a lease; a ``delete`` removes one key, or every key
    under it with ``prefix=True``.
    """

    kind: Literal["put", "delete", "get"]
    key: str
    value: str = ""
    lease: int = 0
    prefix: bool = False

    @classmethod
    def put(cls, key: str, value: str, *, lease: int = 0) -> Op:
        """Write ``value`` to ``key``, bound to ``lease`` unless it is 0."""
        return cls("put", key, value, lease=lease)

    @classmethod
    def delete(cls, key: str, *, prefix: bool = False) -> Op:
        """Delete ``key``, or every key under it with ``prefix=True``."""
        return cls("delete", key, prefix=prefix)

    @classmethod
    def get(cls, key: str) -> Op:
        """Read ``key``; its entry lands in :attr:`TxnResult.gets`."""
        return cls("get", key)


@dataclass(frozen=True)
class Txn:
    """One transaction of :meth:`Store.txns`.

    It runs ``success`` when every ``compare`` holds, else ``failure``.
    """

    compare: Sequence[Compare]
    success: Sequence[Op]
    failure: Sequence[Op] = ()


@dataclass(frozen=True)
class TxnResult:
    """Whether the compares held, and the entries of each ``get`` op that ran, in order."""

    succeeded: bool
    gets: tuple[tuple[Entry, ...], ...] = ()
    revision: int = 0


class Lease(Protocol):
    """A lease keys can be bound to; it expires ``ttl`` seconds after the last refresh."""

    @property
    def id(self) -> int:
        """The lease's etcd ID, what keys are bound to."""
        ...

    @property
    def ttl(self) -> int:
        """The lease's time to live in seconds, as granted."""
        ...

    def refresh(self) -> int:
        """Keep the lease alive; returns the remaining TTL, 0 when it has expired."""
        ...

    def revoke(self) -> None:
        """End the lease now; its keys are deleted."""
        ...


class Watch(Protocol):
    """An open watch: iterate for events, ``cancel`` from any thread to end the iteration."""

    def __iter__(self) -> Iterator[Event]: ...

    def cancel(self) -> None:
        """End the watch; the iteration stops."""
        ...


class Store(Protocol):
    """Key-value store with transactions, leases and watches (etcd v3 semantics)."""

    def get(self, key: str) -> Entry | None:
        """The entry of ``key``, None when it is absent."""
        ...

    def get_prefix(self, prefix: str, *, after: str = "", limit: int = 0) -> list[Entry]:
        """Every key under ``prefix``, sorted by key.

        Only those after the key ``after``, when given, and the first ``limit`` (0: all).
        """
        ...

    def put(self, key: str, value: str, *, lease: int = 0) -> int:
        """Write a key; returns the store's revision after the write."""
        ...

    def delete(self, key: str, *, prefix: bool = False) -> int:
        """Delete a key (or a prefix); returns how many keys were deleted."""
        ...

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        """Atomically run ``success`` when every ``compare`` holds, else ``failure``."""
        ...

    def txns(self, txns: Sequence[Txn]) -> list[TxnResult]:
        """Independent transactions in one round trip (per :data:`MAX_TXN_OPS` of them).

        Each succeeds or fails on its own compares, as if sent alone.
        No key may be written by two of them (etcd refuses the request). An answer lost
        is a StoreUnavailableError, as for ``txn``: any of them may have landed.
        """
        ...

    def lease(self, ttl: int) -> Lease:
        """Grant a new lease of ``ttl`` seconds."""
        ...

    def watch(self, prefix: str, *, start_revision: int = 0) -> Watch:
        """Changes under ``prefix`` from ``start_revision`` (0: from now) on, in order.

        The adapter reconnects on its own and resumes after the last delivered revision; a
        revision that was compacted away is an error (the caller re-reads and starts over).
        """
        ...

    def revision(self) -> int:
        """The store's current revision."""
        ...

    def close(self) -> None:
        """Release the connection; open watches end."""
        ...


def get_many(store: Store, keys: Sequence[str]) -> list[Entry | None]:
    """The entries of ``keys`` (None: absent), in order.

    They are read in one round trip per :data:`MAX_TXN_OPS` keys rather than one per key.

    The keys of one round trip are read at one revision; of several, not necessarily.
    """
    found: list[Entry | None] = []
    for start in range(0, len(keys), MAX_TXN_OPS):
        chunk = keys[start : start + MAX_TXN_OPS]
        result = store.txn([], [Op.get(key) for key in chunk])
        found += [entries[0] if entries else None for entries in result.gets]
    return found
