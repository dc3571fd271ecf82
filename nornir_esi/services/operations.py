"""Seeing before doing, and keeping the routers honest: ``plan``, ``check``, ``repair``.

For any resource whose service configures routers (a gateway or a family member,
:data:`nornir_esi.services.SERVICES`):

- ``plan``: for a pending ``/config`` version, or for the resources of a file, the native
  Junos diff each router would show, computed by the routers themselves (load into the
  candidate under lock, ``show | compare``, discard). Nothing changes. A file's resources
  on one pair are planned as one candidate, as one transaction would commit them.
- ``check`` (drift): what the resource should have on each router, from its current
  ``/config`` version, replayed as its ``repair`` in a dry run: lines missing, changed, or
  added out of band to its own objects show as the diff. A gateway's replay carries the
  members its routers carry (:mod:`nornir_esi.services.carried`), so they are not drift.
  Recorded in the resource's ``/monitoring`` record (``drift``, ``drift_checked_at``,
  ``drift_routers``, ``drift_stack``), beside what its monitoring job wrote there.
- ``repair``: the same change applied through the pair transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import ConfigLookup, lookup_in, read_config, require_config
from nornir_esi.contract.family import MEMBERS
from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.contract.records import Applied, ConfigRecord, Monitoring, State
from nornir_esi.exceptions import EsiError, ValidationError
from nornir_esi.heat.base import Heat
from nornir_esi.pair.change import Change, PairResult
from nornir_esi.pair.coalesce import merge
from nornir_esi.services import SERVICES
from nornir_esi.services.base import Action, DeviceService
from nornir_esi.services.carried import with_members
from nornir_esi.store.base import Store

__all__ = [
    "DRIFT_FIELDS",
    "Drift",
    "Plan",
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
# The fields a drift check writes in a ``/monitoring`` record; the others stay as they were.
DRIFT_FIELDS = ("drift", "drift_checked_at", "drift_routers", "drift_stack")


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
    """How a resource differs from what it should have, on its routers and in its Heat stack.

    ``diffs``: per router, the lines that differ from what the resource should have ("" when
    none). ``stack``: per router too, how the Heat stack's record differs from it; empty when
    it agrees, or when the Heat in use keeps no record.
    """

    resource_id: str
    version: int
    diffs: dict[str, str]
    stack: dict[str, str] = field(default_factory=dict)
    resource_type: str = GATEWAY

    @property
    def found(self) -> bool:
        """Whether there is drift: a router's diff, or a difference in the stack's record."""
        return any(diff.strip() for diff in self.diffs.values()) or bool(self.stack)


@dataclass(frozen=True)
class Plan:
    """A dry run: the resources planned together (``(type, id)``), per router its diff."""

    resources: list[tuple[str, str]]
    diffs: dict[str, str]


def _service(resource_type: str) -> DeviceService:
    service = SERVICES.get(resource_type)
    if service is None:
        raise ValidationError(
            resource_type,
            "type",
            f"changes no router; those that do: {', '.join(SERVICES)}",
        )
    return service


def _current(store: Store, resource_type: str, resource_id: str) -> ConfigRecord:
    _service(resource_type)
    return require_config(store, resource_type, resource_id, missing="does not exist in /config")


def _applied(store: Store, resource_type: str, resource_id: str) -> dict[str, Any] | None:
    entry = store.get(keys.applied(resource_type, resource_id))
    return None if entry is None else Applied.from_value(entry.value).params


def _params(
    store: Store, resource_type: str, body: Mapping[str, Any], lookup: ConfigLookup
) -> dict[str, Any]:
    return params_for(template_of(store, resource_type), resource_type, body, lookup)


def _changes(
    store: Store,
    resource_type: str,
    body: Mapping[str, Any],
    lookup: ConfigLookup,
    *,
    action: Action,
    applied: Mapping[str, Any] | None,
) -> dict[str, Change]:
    params = _params(store, resource_type, body, lookup)
    pair = pair_of(lookup, resource_type, body)
    return with_members(
        store,
        lookup,
        resource_type,
        body,
        _service(resource_type).changes(params, pair, action=action, applied=applied),
        action=action,
        pair=pair,
    )


def _of_current(
    store: Store, resource_type: str, resource_id: str, action: Action
) -> tuple[ConfigRecord, dict[str, Change]]:
    record = _current(store, resource_type, resource_id)
    applied = _applied(store, resource_type, resource_id)
    changes = _changes(
        store, resource_type, record.body, lookup_in(store), action=action, applied=applied
    )
    return record, changes


def _dry_run(devices: PairDevices, wanted: Mapping[str, Change]) -> dict[str, str]:
    return dict(devices.push_pair(wanted, comment="plan", dry_run=True).diffs)


def plan_pending(
    store: Store, devices: PairDevices, resource_id: str, *, resource_type: str = GATEWAY
) -> dict[str, str]:
    """Per router, the diff the resource's current ``/config`` version would commit."""
    record = _current(store, resource_type, resource_id)
    applied = _applied(store, resource_type, resource_id)
    action: Action = (
        "delete" if record.marked_for_deletion else "create" if applied is None else "modify"
    )
    return _dry_run(
        devices,
        _changes(
            store, resource_type, record.body, lookup_in(store), action=action, applied=applied
        ),
    )


def plan_delete(
    store: Store, devices: PairDevices, resource_id: str, *, resource_type: str = GATEWAY
) -> dict[str, str]:
    """Per router, the diff deleting the resource would commit (nothing is marked)."""
    return _dry_run(devices, _of_current(store, resource_type, resource_id, "delete")[1])


def plan_items(
    store: Store, devices: PairDevices, items: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[Plan]:
    """The diffs ``items`` (validated, not written) would commit: one plan per router pair.

    The resources of one pair are loaded into one candidate, in the file's order (a gateway
    before its members): the diff is what they commit together. Other resource types change
    no router and are only validated.
    """
    batch, lookup = desired.validate_batch(store, items)
    by_pair: dict[tuple[str, ...], tuple[list[tuple[str, str]], list[dict[str, Change]]]] = {}
    for resource_type, body in batch:
        if resource_type not in SERVICES:
            continue
        resource_id = str(body["id"])
        applied = _applied(store, resource_type, resource_id)
        action: Action = "create" if applied is None else "modify"
        changes = _changes(store, resource_type, body, lookup, action=action, applied=applied)
        key = tuple(str(changes[role].router.get("id")) for role in sorted(changes))
        resources, parts = by_pair.setdefault(key, ([], []))
        resources.append((resource_type, resource_id))
        parts.append(changes)
    return [
        Plan(resources, _dry_run(devices, parts[0] if len(parts) == 1 else merge(parts)))
        for resources, parts in by_pair.values()
    ]


def _stack_drift(
    store: Store,
    heat: Heat | None,
    resource_type: str,
    resource_id: str,
    body: Mapping[str, Any],
) -> dict[str, str]:
    """Per router, how the stack's recorded configuration differs from ``/config``'s."""
    recorded = heat.recorded(resource_type, resource_id) if heat is not None else None
    if recorded is None:
        return {}
    lookup = lookup_in(store)
    params = _params(store, resource_type, body, lookup)
    pair = pair_of(lookup, resource_type, body)
    out: dict[str, str] = {}
    for role, wanted in _service(resource_type).pushed(params, pair).items():
        have = recorded.get(role)
        if have is None:
            out[wanted.router] = "the Heat stack records nothing for this router"
        elif have != wanted:
            out[wanted.router] = "the Heat stack records other configuration than /config"
    return out


def expected(
    store: Store, resource_id: str, *, resource_type: str = GATEWAY
) -> tuple[ConfigRecord, dict[str, Change]]:
    """The resource's current ``/config`` record, and per role the change back to that version.

    Each change brings its router back to that version; :func:`check` dry-runs them (any diff
    is drift).
    """
    return _of_current(store, resource_type, resource_id, "repair")


def check(
    store: Store,
    devices: PairDevices,
    resource_id: str,
    heat: Heat | None = None,
    *,
    resource_type: str = GATEWAY,
) -> Drift:
    """Drift of a resource from its current ``/config`` version, recorded in ``/monitoring``.

    It is looked for on the routers, and in the Heat stack's record (with a Heat that keeps
    one). A stack that agrees with ``/config`` and routers without drift agree with each
    other.
    """
    record, wanted = expected(store, resource_id, resource_type=resource_type)
    diffs = _dry_run(devices, wanted)
    drift = Drift(
        resource_id,
        record.version,
        diffs,
        _stack_drift(store, heat, resource_type, resource_id, record.body),
        resource_type,
    )
    status: dict[str, Any] = {
        "drift": "FOUND" if drift.found else "NONE",
        "drift_checked_at": int(time.time()),
        "drift_routers": {name: diff for name, diff in diffs.items() if diff.strip()},
    }
    if drift.stack:
        status["drift_stack"] = drift.stack
    key = keys.monitoring(resource_type, resource_id)
    entry = store.get(key)
    kept = (
        {}
        if entry is None
        else {
            k: v
            for k, v in Monitoring.from_value(entry.value).status.items()
            if k not in DRIFT_FIELDS
        }
    )
    store.put(key, Monitoring(status={**kept, **status}, version=record.version).to_json())
    return drift


def repair(
    store: Store,
    devices: PairDevices,
    resource_id: str,
    heat: Heat | None = None,
    *,
    resource_type: str = GATEWAY,
) -> PairResult:
    """Bring both routers back to the resource's current version, as one pair transaction.

    Then the Heat stack (with a Heat that keeps one) and its etcd record follow.
    """
    service = _service(resource_type)
    record = _current(store, resource_type, resource_id)
    lookup = lookup_in(store)
    params = _params(store, resource_type, record.body, lookup)
    pair = pair_of(lookup, resource_type, record.body)
    result = devices.push_pair(
        _changes(
            store,
            resource_type,
            record.body,
            lookup,
            action="repair",
            applied=_applied(store, resource_type, resource_id),
        ),
        comment=f"repair:{resource_type}:{resource_id}:{record.version}",
        verify=service.verifier(params, present=True),
        subject=(resource_type, resource_id),
    )
    if heat is not None and _stack_drift(store, heat, resource_type, resource_id, record.body):
        stack = heat.apply(
            resource_type,
            resource_id,
            tenant_id=str(record.body.get("tenant_id", "")),
            template="heat_worker",
            parameters=params,
            timeout_mins=int(params.get("heat_timeout") or 60),
            exists=True,
            pushed=service.pushed(params, pair),
        )
        store.put(keys.heat_stack(resource_type, resource_id), stack.to_json())
    check(store, devices, resource_id, heat, resource_type=resource_type)
    return result


def settled(store: Store, resource_type: str = GATEWAY) -> list[str]:
    """Ids of the resources of the type whose current version is settled.

    Completed, nothing in flight (for a gateway: nor for a member of its family, whose
    change may or may not be on the routers yet): those are the ones a drift check can
    hold to their ``/config``.
    """
    busy: set[str] = set()
    if resource_type == GATEWAY:
        lookup = lookup_in(store)
        for member_type in MEMBERS:
            for member_id, body in lookup.all_of(member_type):
                if store.get(keys.job_state(member_type, member_id)) is not None:
                    busy.add(str(body.get("internet_gw_id")))
    out: list[str] = []
    for entry in store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, resource_type)):
        parsed = keys.parse_state_key(entry.key)
        if parsed is None:
            continue
        resource_id = parsed[1]
        state = State.from_value(entry.value)
        config = read_config(store, resource_type, resource_id)
        if (
            config is None
            or state.worker_state not in ("CREATE_COMPLETED", "MODIFY_COMPLETED")
            or config.version != state.version
            or store.get(keys.job_state(resource_type, resource_id)) is not None
            or resource_id in busy
        ):
            continue
        out.append(resource_id)
    return out


def check_all(
    store: Store, devices: PairDevices, heat: Heat | None = None
) -> dict[tuple[str, str], Drift]:
    """Drift of every settled resource of every service, by ``(type, id)``."""
    out: dict[tuple[str, str], Drift] = {}
    for resource_type in SERVICES:
        for resource_id in settled(store, resource_type):
            try:
                out[(resource_type, resource_id)] = check(
                    store, devices, resource_id, heat, resource_type=resource_type
                )
            except EsiError as exc:
                log.warning("drift check of %s %s failed: %s", resource_type, resource_id, exc)
    return out
