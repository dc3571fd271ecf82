"""The desired-state store: the contract (``base``), its etcd adapter and local servers."""

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
from nornir_esi.store.server import EtcdCluster, EtcdServer, EtcdUser

__all__ = [
    "Compare",
    "Entry",
    "EtcdCluster",
    "EtcdLease",
    "EtcdServer",
    "EtcdStore",
    "EtcdUser",
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
