"""What the writes back to NetBox share: a change saved only when it is one, a tenant found.

Used by :mod:`nornir_esi.netbox.writeback` (gateways) and :mod:`nornir_esi.netbox.ipam`
(the family's prefixes and addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["plain", "save_changed", "tenant_pk"]


def plain(value: Any) -> Any:
    """A pynetbox value as comparable to what is written.

    A nested object by its id, a choice by its value, a list sorted.
    """
    if hasattr(value, "id"):
        return value.id
    if isinstance(value, list):
        return sorted(plain(v) for v in value)
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]
    return value


def save_changed(record: Any, changes: Mapping[str, Any]) -> bool:
    """Save ``changes`` on ``record`` when one differs from what it holds; True when saved."""
    if all(plain(getattr(record, k, None)) == plain(v) for k, v in changes.items()):
        return False
    record.update(dict(changes))
    return True


def tenant_pk(nb: Any, tenant_id: str) -> int | None:
    """The NetBox id of the tenant whose ``esi_tenant_id`` (else slug) is ``tenant_id``."""
    for tenant in nb.tenancy.tenants.all():
        custom = tenant.custom_fields or {}
        if tenant_id in (custom.get("esi_tenant_id"), tenant.slug):
            return int(tenant.id)
    return None
