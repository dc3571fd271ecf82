"""Typed reads of ``/config``: the one place that turns its keys into records.

- :func:`read_config`: one resource's current record, or None;
- :func:`require_config`: the same, or a ValidationError naming the resource;
- :func:`configs_of`: every record of one type, with its id, in key order;
- :func:`heat_template_of`: a type's heat template record in ``/config``, or None;
- :class:`ConfigLookup` (:func:`lookup_in`): ``lookup(type, id)`` -> the body, each
  resource read once, for the walks of one job, operation or batch.

Writes go through :mod:`nornir_esi.contract.desired`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import ConfigRecord, HeatTemplate
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store

__all__ = [
    "ConfigLookup",
    "configs_of",
    "heat_template_of",
    "lookup_in",
    "read_config",
    "require_config",
]


def read_config(store: Store, resource_type: str, resource_id: str) -> ConfigRecord | None:
    """The current ``/config`` record of the resource, None when it has none."""
    entry = store.get(keys.config(resource_type, resource_id))
    return None if entry is None else ConfigRecord.from_value(entry.value)


def require_config(
    store: Store, resource_type: str, resource_id: str, *, missing: str = "is not in /config"
) -> ConfigRecord:
    """The current ``/config`` record of the resource, which must have one.

    A ValidationError naming the resource (field ``id``, reason ``missing``) when it has none.
    """
    record = read_config(store, resource_type, resource_id)
    if record is None:
        raise ValidationError(f"{resource_type} {resource_id}", "id", missing)
    return record


def configs_of(store: Store, resource_type: str) -> list[tuple[str, ConfigRecord]]:
    """Every ``/config`` record of ``resource_type``, with its resource id, in key order."""
    out: list[tuple[str, ConfigRecord]] = []
    for entry in store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, resource_type)):
        parsed = keys.parse_config_key(entry.key)
        if parsed is not None:
            out.append((parsed[1], ConfigRecord.from_value(entry.value)))
    return out


def heat_template_of(store: Store, resource_type: str) -> HeatTemplate | None:
    """The heat template record of ``resource_type`` in ``/config``, None when absent."""
    entry = store.get(keys.heat_template(resource_type))
    if entry is None:
        return None
    return HeatTemplate.from_value(ConfigRecord.from_value(entry.value).body)


class ConfigLookup:
    """``lookup(type, id)``: the body of a resource in ``/config``, each read once by this lookup.

    Make one per job, operation or batch: the walks to a gateway's routers and to its member
    interfaces pass the same HA interface and routers.

    ``pending``: bodies that answer before ``/config`` (a batch's own resources, so a
    reference may point at another resource of the same batch). ``live_only``: a resource
    marked for deletion answers None (a new reference to it would dangle once it is gone).
    """

    def __init__(
        self,
        store: Store,
        *,
        pending: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
        live_only: bool = False,
    ) -> None:
        self.store = store
        self.pending: dict[tuple[str, str], Mapping[str, Any]] = dict(pending or {})
        self.live_only = live_only
        self._read: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._all: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}

    def __call__(self, resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        """The body of the resource, None when ``/config`` has none."""
        wanted = (resource_type, resource_id)
        if wanted in self.pending:
            return self.pending[wanted]
        if wanted not in self._read:
            record = read_config(self.store, resource_type, resource_id)
            if record is not None and self.live_only and record.marked_for_deletion:
                record = None
            self._read[wanted] = None if record is None else record.body
        return self._read[wanted]

    def stored(self, resource_type: str, resource_id: str) -> Mapping[str, Any] | None:
        """The body ``/config`` holds for the resource, whatever is pending; None without one.

        With ``live_only``, one marked for deletion answers None.
        """
        saved = self.pending.pop((resource_type, resource_id), None)
        try:
            return self(resource_type, resource_id)
        finally:
            if saved is not None:
                self.pending[(resource_type, resource_id)] = saved

    def all_of(self, resource_type: str) -> list[tuple[str, Mapping[str, Any]]]:
        """``(id, body)`` of every resource of the type, the pending ones over ``/config``.

        ``/config`` is read once per type by this lookup; with ``live_only``, one marked for
        deletion is left out.
        """
        if resource_type not in self._all:
            found: list[tuple[str, Mapping[str, Any]]] = []
            for resource_id, record in configs_of(self.store, resource_type):
                if self.live_only and record.marked_for_deletion:
                    continue
                found.append((resource_id, record.body))
            self._all[resource_type] = found
        out = {rid: body for rid, body in self._all[resource_type]}
        for (kind, rid), body in self.pending.items():
            if kind == resource_type:
                out[rid] = body
        return list(out.items())


def lookup_in(store: Store) -> ConfigLookup:
    """A :class:`ConfigLookup` of ``store``'s ``/config``."""
    return ConfigLookup(store)
