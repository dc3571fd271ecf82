"""Typed reads of ``/config``: a resource's current record, and a lookup of bodies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.store.base import Store

__all__ = ["lookup_in"]


def lookup_in(store: Store) -> Callable[[str, str], Mapping[str, Any] | None]:
    """``lookup(type, id)``: the body of a resource in ``/config``, each read once by
    this lookup. Make one per job or operation: the walks to a gateway's routers and to
    its member interfaces pass the same HA interface and routers."""
    read: dict[tuple[str, str], Mapping[str, Any] | None] = {}

    def lookup(resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        if (resource_type, resource_id) not in read:
            entry = store.get(keys.config(resource_type, resource_id))
            body = None if entry is None else ConfigRecord.from_value(entry.value).body
            read[(resource_type, resource_id)] = body
        return read[(resource_type, resource_id)]

    return lookup
