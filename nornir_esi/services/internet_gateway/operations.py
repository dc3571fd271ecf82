"""Seeing before doing, and keeping the routers honest: ``plan``, ``check``, ``repair``.

- ``plan``: for a pending ``/config`` version, or for resources in a file, the native Junos
  diff each router would show, computed by the routers themselves (load into the
  candidate under lock, ``show | compare``, discard). Nothing changes.
- ``check`` (drift): what the gateway should have on each router, from its current
  ``/config`` version, replayed as ``replace`` in a dry run: lines missing, changed, or
  added out of band to the gateway's own objects show as the diff. Recorded under
  ``/monitoring/...`` for the gateway.
- ``repair``: the same change applied through the pair transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import lookup_in, read_config, require_config
from nornir_esi.contract.graph import Lookup, pair_of
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.contract.records import Applied, ConfigRecord, Monitoring, State
from nornir_esi.exceptions import EsiError
from nornir_esi.heat.base import Heat
from nornir_esi.pair.change import Change, PairResult
from nornir_esi.services.base import Action
from nornir_esi.services.internet_gateway.changes import changes, pushed
from nornir_esi.services.internet_gateway.verify import gateway_verifier
from nornir_esi.store.base import Store

__all__ = [
    "Drift",
    "DriftChecker",
    "check",
    "check_all",
    "expected",
    "plan_delete",
    "plan_items",
    "plan_pending",
    "repair",
    "settled",
]

log = logging.getLogger(__name__)

GATEWAY = "internet_gateway"


class PairDevices(Protocol):
    def push_pair(
        self,
        changes: Mapping[str, Any],
        *,
        comment: str,
        verify: Any = None,
        dry_run: bool = False,
        subject: Any = None,
    ) -> PairResult: ...


@dataclass(frozen=True)
class Drift:
    """How a gateway differs from what it should have, on its routers and in its Heat stack.

    ``diffs``: per router, the lines that differ from what the gateway should have ("" when
    none). ``stack``: per router too, how the Heat stack's record differs from it; empty when
    it agrees, or when the Heat in use keeps no record.
    """

    resource_id: str
    version: int
    diffs: dict[str, str]
    stack: dict[str, str] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether there is drift: a router's diff, or a difference in the stack's record."""
        return any(diff.strip() for diff in self.diffs.values()) or bool(self.stack)


def _current(store: Store, resource_id: str) -> ConfigRecord:
    return require_config(store, GATEWAY, resource_id, missing="does not exist in /config")


def _applied(store: Store, resource_id: str) -> dict[str, Any] | None:
    entry = store.get(keys.applied(GATEWAY, resource_id))
    return None if entry is None else Applied.from_value(entry.value).params


def _changes(
    store: Store,
    body: Mapping[str, Any],
    lookup: Lookup,
    *,
    action: Action,
    applied: Mapping[str, Any] | None,
) -> dict[str, Change]:
    params = params_for(template_of(store, GATEWAY), GATEWAY, body, lookup)
    return changes(params, pair_of(lookup, GATEWAY, body), action=action, applied=applied)


def _of_current(
    store: Store, resource_id: str, action: Action
) -> tuple[ConfigRecord, dict[str, Change]]:
    record = _current(store, resource_id)
    applied = _applied(store, resource_id)
    return record, _changes(store, record.body, lookup_in(store), action=action, applied=applied)


def _dry_run(devices: PairDevices, wanted: Mapping[str, Change]) -> dict[str, str]:
    return dict(devices.push_pair(wanted, comment="plan", dry_run=True).diffs)


def plan_pending(store: Store, devices: PairDevices, resource_id: str) -> dict[str, str]:
    """Per router, the diff the gateway's current ``/config`` version would commit."""
    record = _current(store, resource_id)
    applied = _applied(store, resource_id)
    action: Action = (
        "delete" if record.marked_for_deletion else "create" if applied is None else "modify"
    )
    return _dry_run(
        devices, _changes(store, record.body, lookup_in(store), action=action, applied=applied)
    )


def plan_delete(store: Store, devices: PairDevices, resource_id: str) -> dict[str, str]:
    """Per router, the diff deleting the gateway would commit (nothing is marked)."""
    return _dry_run(devices, _of_current(store, resource_id, "delete")[1])


def plan_items(
    store: Store, devices: PairDevices, items: Iterable[tuple[str, Mapping[str, Any]]]
) -> dict[str, dict[str, str]]:
    """Per gateway in ``items`` (validated, not written), per router, the diff it would commit.

    Other resource types change no router and are only validated.
    """
    batch, lookup = desired.validate_batch(store, items)
    out: dict[str, dict[str, str]] = {}
    for resource_type, body in batch:
        if resource_type != GATEWAY:
            continue
        applied = _applied(store, str(body["id"]))
        action: Action = "create" if applied is None else "modify"
        out[str(body["id"])] = _dry_run(
            devices, _changes(store, body, lookup, action=action, applied=applied)
        )
    return out


def _stack_drift(
    store: Store, heat: Heat | None, resource_id: str, body: Mapping[str, Any]
) -> dict[str, str]:
    """Per router, how the stack's recorded configuration differs from ``/config``'s."""
    recorded = heat.recorded(GATEWAY, resource_id) if heat is not None else None
    if recorded is None:
        return {}
    lookup = lookup_in(store)
    params = params_for(template_of(store, GATEWAY), GATEWAY, body, lookup)
    out: dict[str, str] = {}
    for role, wanted in pushed(params, pair_of(lookup, GATEWAY, body)).items():
        have = recorded.get(role)
        if have is None:
            out[wanted.router] = "the Heat stack records nothing for this router"
        elif have != wanted:
            out[wanted.router] = "the Heat stack records other configuration than /config"
    return out


def expected(store: Store, resource_id: str) -> tuple[ConfigRecord, dict[str, Change]]:
    """The gateway's current ``/config`` record, and per role the change back to that version.

    Each change brings its router back to that version; :func:`check` dry-runs them (any diff
    is drift).
    """
    return _of_current(store, resource_id, "repair")


def check(store: Store, devices: PairDevices, resource_id: str, heat: Heat | None = None) -> Drift:
    """Drift of a gateway from its current ``/config`` version, recorded in ``/monitoring``.

    It is looked for on the routers, and in the Heat stack's record (with a Heat that keeps
    one). A stack that agrees with ``/config`` and routers without drift agree with each
    other.
    """
    record, wanted = expected(store, resource_id)
    diffs = _dry_run(devices, wanted)
    drift = Drift(
        resource_id, record.version, diffs, _stack_drift(store, heat, resource_id, record.body)
    )
    status: dict[str, Any] = {
        "drift": "FOUND" if drift.found else "NONE",
        "drift_checked_at": int(time.time()),
        "drift_routers": {name: diff for name, diff in diffs.items() if diff.strip()},
    }
    if drift.stack:
        status["drift_stack"] = drift.stack
    store.put(
        keys.monitoring(GATEWAY, resource_id),
        Monitoring(status=status, version=record.version).to_json(),
    )
    return drift


def repair(
    store: Store, devices: PairDevices, resource_id: str, heat: Heat | None = None
) -> PairResult:
    """Bring both routers back to the gateway's current version, as one pair transaction.

    Then the Heat stack (with a Heat that keeps one) and its etcd record follow.
    """
    record = _current(store, resource_id)
    lookup = lookup_in(store)
    params = params_for(template_of(store, GATEWAY), GATEWAY, record.body, lookup)
    pair = pair_of(lookup, GATEWAY, record.body)
    result = devices.push_pair(
        changes(params, pair, action="repair", applied=_applied(store, resource_id)),
        comment=f"repair:{GATEWAY}:{resource_id}:{record.version}",
        verify=gateway_verifier(params, present=True),
        subject=(GATEWAY, resource_id),
    )
    if heat is not None and _stack_drift(store, heat, resource_id, record.body):
        stack = heat.apply(
            GATEWAY,
            resource_id,
            tenant_id=str(record.body.get("tenant_id", "")),
            template="heat_worker",
            parameters=params,
            timeout_mins=int(params.get("heat_timeout") or 60),
            exists=True,
            pushed=pushed(params, pair),
        )
        store.put(keys.heat_stack(GATEWAY, resource_id), stack.to_json())
    check(store, devices, resource_id, heat)
    return result


def settled(store: Store) -> list[str]:
    """Ids of the gateways whose current version is settled (completed, nothing in flight).

    Those are the ones a drift check can hold to their ``/config``.
    """
    out: list[str] = []
    for entry in store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, GATEWAY)):
        parsed = keys.parse_state_key(entry.key)
        if parsed is None:
            continue
        resource_id = parsed[1]
        state = State.from_value(entry.value)
        config = read_config(store, GATEWAY, resource_id)
        if (
            config is None
            or state.worker_state not in ("CREATE_COMPLETED", "MODIFY_COMPLETED")
            or config.version != state.version
            or store.get(keys.job_state(GATEWAY, resource_id)) is not None
        ):
            continue
        out.append(resource_id)
    return out


def check_all(store: Store, devices: PairDevices, heat: Heat | None = None) -> dict[str, Drift]:
    """Drift of every gateway whose current version is settled (completed, nothing in flight)."""
    out: dict[str, Drift] = {}
    for resource_id in settled(store):
        try:
            out[resource_id] = check(store, devices, resource_id, heat)
        except EsiError as exc:
            log.warning("drift check of %s %s failed: %s", GATEWAY, resource_id, exc)
    return out


class DriftChecker:
    """Checks every settled gateway for drift each ``interval`` seconds, while this process leads.

    ``leading`` says this process's job manager leads, so one process checks, not all.
    """

    def __init__(
        self,
        store: Store,
        devices: PairDevices,
        interval: float,
        leading: threading.Event,
        heat: Heat | None = None,
    ) -> None:
        self.store = store
        self.devices = devices
        self.heat = heat
        self.interval = interval
        self.leading = leading
        self.rounds = 0

    def run(self, stop: threading.Event) -> None:
        """Check every settled gateway each ``interval`` seconds while leading, until ``stop``.

        Drift found is logged as a warning, and so is a round that failed; ``rounds`` counts the
        rounds done.
        """
        while not stop.wait(self.interval):
            if not self.leading.is_set():
                continue
            try:
                drifts = check_all(self.store, self.devices, self.heat)
                found = [rid for rid, drift in drifts.items() if drift.found]
            except EsiError as exc:
                log.warning("drift check round failed: %s", exc)
                continue
            self.rounds += 1
            if found:
                log.warning("drift found on %s %s", GATEWAY, ", ".join(found))
