"""Waiting for a resource's terminal ``/state``, by watching it (no polling)."""

from __future__ import annotations

import time

from nornir_esi.contract import keys
from nornir_esi.contract.config import read_config
from nornir_esi.contract.records import State
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed

__all__ = ["wait_for_state"]


def wait_for_state(
    store: Store,
    resource_type: str,
    resource_id: str,
    *,
    version: int | None = None,
    timeout: float = 120.0,
) -> State | None:
    """The first ``/state`` of ``version`` (default: the current config version) or newer.

    None when none arrived within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    if version is None:
        config = read_config(store, resource_type, resource_id)
        version = 1 if config is None else config.version
    key = keys.state(resource_type, resource_id)
    revision = store.revision()
    current = store.get(key)
    if current is not None and State.from_value(current.value).version >= version:
        return State.from_value(current.value)
    with Feed(store, [key], start_revision=revision + 1) as feed:
        while (left := deadline - time.monotonic()) > 0:
            event = feed.get(timeout=min(left, 1.0))
            if event is None or event.kind != "put" or event.key != key:
                continue
            state = State.from_value(event.value)
            if state.version >= version:
                return state
    return None
