"""Where a tenant's new gateway goes: a downlink HA interface with room, and a free VLAN on it.

A tenant buys a gateway by naming an internet service and a QoS option only; the service
chooses the rest, as the origin's did (its ``vlan_pool_state`` bitmap is not published, so
the pool is computed from ``/config`` here, not kept in a field):

- the candidates are the internet service's ``downlink_interfaces`` (every downlink HA
  interface when the service names none), leaving out one whose ``admin_state_up`` is
  false;
- one has room when its HA router carries fewer gateways than its ``maximum_gateways``,
  and, when the HA interface sets ``maximum_ga_bandwidth`` (a ``guarantee`` option) or
  ``maximum_be_bandwidth`` (any other), the bandwidth of its gateways of that class plus
  the option's stays within it;
- its free VLANs are 1-4094 less its ``restricted_vlans``, less every VLAN whose unit
  (``<member>.<vlan>``) a gateway already uses on either router, one being deleted
  included (its unit is there until its delete has run): the lowest is taken;
- of the candidates with room and a free VLAN, the one with the fewest gateways (then the
  lowest id) wins, so gateways spread over the downlinks.

:func:`create` writes the gateway so that two creates never get the same VLAN: the
placement is read at a revision, and the write requires that no gateway was written since
(:func:`nornir_esi.contract.desired.apply`'s ``written_since``); the create that lost places
again, up to :data:`ATTEMPTS` times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from nornir_esi.contract import desired
from nornir_esi.contract.config import ConfigLookup
from nornir_esi.contract.resources import object_name, parse_vlan_ranges
from nornir_esi.exceptions import ConflictError, TemporaryError, ValidationError
from nornir_esi.services.internet_gateway.request import CHOSEN, GATEWAY, derive
from nornir_esi.store.base import Store

__all__ = ["ATTEMPTS", "create", "place"]

ATTEMPTS = 20
"""How often a create that lost the race for a VLAN places again."""

_VLANS = range(1, 4095)


def _bandwidth(option: Mapping[str, Any] | None) -> tuple[str, int]:
    """``(class, Mbps)`` of a QoS option: ``ga`` for a guarantee, ``be`` for the rest."""
    if option is None:
        return "be", 0
    kind = "ga" if option.get("qos_type") == "guarantee" else "be"
    try:
        return kind, int(option.get("bandwidth") or 0)
    except (TypeError, ValueError):
        return kind, 0


def _restricted(ha: Mapping[str, Any]) -> set[int]:
    text = ha.get("restricted_vlans")
    if not isinstance(text, str):
        return set()
    try:
        return {v for lo, hi in parse_vlan_ranges(text) for v in range(lo, hi + 1)}
    except ValueError:
        return set(_VLANS)  # a pool that cannot be read gives nothing away


def place(lookup: ConfigLookup, chosen: Mapping[str, Any]) -> dict[str, Any]:
    """``chosen`` with ``downlink_interface_id`` and ``vlan_id`` set (see the module docstring).

    ``chosen`` names the internet service and the QoS option; a ConflictError naming
    ``internet_service_id`` when no downlink has room.
    """
    obj = object_name(GATEWAY, chosen)
    service_id = str(chosen.get("internet_service_id"))
    service = lookup("internet_service", service_id)
    if service is None:
        raise ValidationError(obj, "internet_service_id", f"{service_id} does not exist")
    option = lookup("qos_option", str(chosen.get("qos_option_id")))
    kind, bandwidth = _bandwidth(option)

    # Every gateway in /config, those being deleted too: until its delete has run, a
    # gateway's unit is on the routers, and its VLAN not free.
    gateways = [body for _, body in ConfigLookup(lookup.store).all_of(GATEWAY)]
    units = {
        str(body.get(f"{role}_logical_interface_name"))
        for body in gateways
        for role in ("primary", "secondary")
    }
    offered = service.get("downlink_interfaces")
    if offered is None:
        offered = [
            rid for rid, ha in lookup.all_of("ha_interface") if ha.get("link_type") == "downlink"
        ]
    best: tuple[int, str, int] | None = None
    for ha_id in sorted(str(rid) for rid in offered):
        ha = lookup("ha_interface", ha_id)
        if ha is None or ha.get("admin_state_up") is False:
            continue
        router = lookup("ha_router", str(ha.get("ha_router_id"))) or {}
        on_router = [
            g
            for g in gateways
            if (lookup("ha_interface", str(g.get("downlink_interface_id"))) or {}).get(
                "ha_router_id"
            )
            == ha.get("ha_router_id")
        ]
        if len(on_router) >= int(router.get("maximum_gateways") or 0):
            continue
        limit = ha.get(f"maximum_{kind}_bandwidth")
        if isinstance(limit, int):
            used = sum(
                _bandwidth(lookup("qos_option", str(g.get("qos_option_id"))))[1]
                for g in gateways
                if g.get("downlink_interface_id") == ha_id
                and _bandwidth(lookup("qos_option", str(g.get("qos_option_id"))))[0] == kind
            )
            if used + bandwidth > limit:
                continue
        members = [
            (lookup("er_physical_interface", str(ha.get(f"{role}_interface_id"))) or {}).get("name")
            for role in ("primary", "secondary")
        ]
        restricted = _restricted(ha)
        vlan = next(
            (
                v
                for v in _VLANS
                if v not in restricted and not any(f"{m}.{v}" in units for m in members)
            ),
            None,
        )
        if vlan is None:
            continue
        count = sum(1 for g in gateways if g.get("downlink_interface_id") == ha_id)
        if best is None or count < best[0]:
            best = (count, ha_id, vlan)
    if best is None:
        raise ConflictError(
            obj,
            "internet_service_id",
            f"internet_service {service_id} has no downlink with room for another gateway "
            "(gateways, bandwidth or VLANs exhausted)",
        )
    return {**chosen, "downlink_interface_id": best[1], "vlan_id": str(best[2])}


def create(
    store: Store,
    chosen: Mapping[str, Any],
    *,
    requested_by: desired.Requester | None = None,
) -> tuple[dict[str, Any], desired.Change]:
    """Place, derive and write a new gateway; its body as written, and the change.

    ``chosen`` holds what the requester set (an id among them): what it leaves out of the
    HA interface and VLAN is placed, what it leaves out of the rest derived
    (:func:`~nornir_esi.services.internet_gateway.request.derive`); what it gives beyond
    :data:`~nornir_esi.services.internet_gateway.request.CHOSEN` is kept, for validation to
    judge. Raises what validation raises, ConflictError when there is no room (or the id
    exists), TemporaryError after :data:`ATTEMPTS` lost races.
    """
    resource_id = str(chosen["id"])
    given = dict(chosen)
    chosen = {k: v for k, v in given.items() if k in CHOSEN}
    for attempt in range(ATTEMPTS):
        revision = store.revision()
        lookup = ConfigLookup(store, live_only=True)
        placed = chosen
        if "downlink_interface_id" not in chosen or "vlan_id" not in chosen:
            placed = place(lookup, chosen)
        body = {**derive(store, placed), **given, **placed}
        try:
            (change,) = desired.apply(
                store,
                [(GATEWAY, body)],
                requested_by=requested_by,
                expected={(GATEWAY, resource_id): 0},
                written_since={GATEWAY: revision},
            )
            return body, change
        except (TemporaryError, ConflictError) as exc:
            # Lost the race: another create took the VLAN since the placement was read
            # (seen by the write's guard, or by validation's read of the units in use).
            lost = isinstance(exc, TemporaryError) or (
                placed is not chosen and exc.field == "vlan_id"
            )
            if not lost or attempt + 1 >= ATTEMPTS:
                raise
            # Back off, randomly, so the racing creates stop meeting at the same revision.
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")  # pragma: no cover
