"""A delete and a new reference racing at the front door: one of them loses.

``desired.delete`` refuses a resource that others still reference, and ``desired.apply``
refuses a reference to a resource being deleted; each checks by reading, then writes in
one transaction. Another request landing between the check and the write must fail that
transaction, or a gateway would end up on an HA interface that is going away. Real etcd;
the other request runs right before the first one's transaction is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.exceptions import TemporaryError, ValidationError
from nornir_esi.store.base import Compare, Op, Store, TxnResult

INVENTORY = Path(__file__).resolve().parents[1] / "inventory"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((GW, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")
HA_INTERFACE = ("ha_interface", str(GATEWAY["downlink_interface_id"]))
SERVICE = ("internet_service", str(GATEWAY["internet_service_id"]))
QOS = ("qos_option", str(GATEWAY["qos_option_id"]))
# The service lists the HA interface among its downlinks, the QoS option belongs to the
# service: they go together.
GOING = [HA_INTERFACE, SERVICE, QOS]


class Racing:
    """``store``, with ``meanwhile`` run once right before the first transaction."""

    def __init__(self, store: Store, meanwhile: Callable[[], object]) -> None:
        self._store = store
        self._meanwhile: Callable[[], object] | None = meanwhile

    def txn(
        self, compare: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()
        return self._store.txn(compare, success, failure)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def marked(store: Store, resource_type: str, resource_id: str) -> bool:
    entry = store.get(keys.config(resource_type, resource_id))
    return entry is not None and ConfigRecord.from_value(entry.value).marked_for_deletion


def test_a_reference_written_while_a_delete_was_checked_fails_the_delete(store: Store) -> None:
    desired.apply(store, RESOURCES)
    # The gateway arrives after the delete found no referrer, before its transaction.
    racing = Racing(store, lambda: desired.apply(store, [(GW, GATEWAY)]))
    with pytest.raises(TemporaryError, match="delete again"):
        desired.delete(racing, GOING)  # type: ignore[arg-type]
    assert not marked(store, *HA_INTERFACE)
    # Asked again, the delete sees the gateway and says so.
    with pytest.raises(ValidationError, match=f"internet_gateway {GATEWAY['id']}"):
        desired.delete(store, GOING)
    assert not marked(store, *HA_INTERFACE)


def test_a_delete_landing_while_a_reference_was_checked_fails_the_reference(
    store: Store,
) -> None:
    desired.apply(store, RESOURCES)
    # The HA interface is marked for deletion after the gateway's check found it there.
    racing = Racing(store, lambda: desired.delete(store, GOING))
    with pytest.raises(TemporaryError, match="apply it again"):
        desired.apply(racing, [(GW, GATEWAY)])  # type: ignore[arg-type]
    assert marked(store, *HA_INTERFACE)
    assert store.get(keys.config(GW, str(GATEWAY["id"]))) is None
    # Applied again, the gateway is refused: what it references is going away.
    with pytest.raises(ValidationError, match=r"downlink_interface_id|internet_service_id"):
        desired.apply(store, [(GW, GATEWAY)])
    assert store.get(keys.config(GW, str(GATEWAY["id"]))) is None


def test_unrelated_writes_do_not_fail_a_delete(store: Store) -> None:
    desired.apply(store, RESOURCES)
    port = next(body for kind, body in RESOURCES if kind == "er_physical_interface")
    # A physical interface changes meanwhile: it references none of what goes.
    change = ("er_physical_interface", {**port, "description": "moved to another rack"})
    racing = Racing(store, lambda: desired.apply(store, [change]))
    desired.delete(racing, GOING)  # type: ignore[arg-type]
    assert marked(store, *HA_INTERFACE)
