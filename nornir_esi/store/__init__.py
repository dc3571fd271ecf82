"""The desired-state store, and the etcd server it runs on.

The package holds the contract (``base``), its etcd adapter (``etcd``), feeds, grouped
reads and the fair mutex. The etcd server the tests start is :mod:`nornir_esi.testing.etcd`.
"""

from __future__ import annotations

from nornir_esi.store.base import (
    Compare,
    Entry,
    Event,
    Lease,
    Op,
    Store,
    Txn,
    TxnResult,
    Watch,
    get_many,
)
from nornir_esi.store.etcd import EtcdLease, EtcdStore, EtcdWatch

__all__ = [
    "Compare",
    "Entry",
    "EtcdLease",
    "EtcdStore",
    "EtcdWatch",
    "Event",
    "Lease",
    "Op",
    "Store",
    "Txn",
    "TxnResult",
    "Watch",
    "get_many",
]
