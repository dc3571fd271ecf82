"""Whether a gateway forwards, as its routers show it now: VRRP, iBGP, routes.

:func:`forwarding_health` reads, per router of the gateway's pair, the VRRP state of its
gw_interface's group, the iBGP neighbor's state in its routing instance and its static
routes (active of total); :func:`refresh` records the VRRP part in the gw_interface's
``/monitoring`` as its monitoring job did, so a failover (the primary's link down: the
secondary takes over) shows there; the leader's periodic drift round calls
:func:`refresh_all`. ``nornir-esi status --forwarding`` prints the health.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import ConfigLookup, read_config
from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.contract.records import Monitoring
from nornir_esi.exceptions import DeviceError, EsiError, ValidationError
from nornir_esi.pair.change import ROLES
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services.operations import settled
from nornir_esi.store.base import Store

__all__ = ["RouterHealth", "forwarding_health", "forwards", "refresh", "refresh_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterHealth:
    """One router's part: VRRP state, iBGP neighbor state, static routes active and total."""

    router: str
    vrrp: str = "NOT_RUNNING"
    bgp: str = "NONE"
    routes_active: int = 0
    routes_total: int = 0
    error: str = ""
    missing: list[str] = field(default_factory=list)


def _gw_interface(lookup: ConfigLookup, gateway_id: str) -> tuple[str, Mapping[str, Any]] | None:
    for rid, body in lookup.all_of("gw_interface"):
        if body.get("internet_gw_id") == gateway_id:
            return rid, body
    return None


def forwarding_health(
    store: Store, devices: NornirDevices, gateway_id: str
) -> dict[str, RouterHealth]:
    """Per role, how the gateway forwards on that router now; see the module."""
    lookup = ConfigLookup(store, live_only=True)
    gateway = lookup("internet_gateway", gateway_id)
    if gateway is None:
        raise ValidationError(f"internet_gateway {gateway_id}", "id", "is not in /config")
    pair = pair_of(lookup, "internet_gateway", gateway).by_role()
    found = _gw_interface(lookup, gateway_id)
    params = (
        params_for(template_of(store, "gw_interface"), "gw_interface", found[1], lookup)
        if found is not None
        else {}
    )
    routes = [
        str(body.get("destination"))
        for _, body in lookup.all_of("static_route")
        if body.get("internet_gw_id") == gateway_id
    ]
    vrf = str(gateway["vrf_name"])
    out: dict[str, RouterHealth] = {}
    for role in ROLES:
        router = pair[role]
        name = str(router.get("name"))
        logical = str(gateway[f"{role}_logical_interface_name"])
        try:
            state = devices.forwarding(router, interfaces=[logical], instance=vrf)
        except DeviceError as exc:
            out[role] = RouterHealth(name, error=str(exc))
            continue
        vrrp = "NOT_RUNNING"
        bgp = "NONE"
        if params:
            vrid = int(params["vrrp_group"])
            group = next((g for g in state["vrrp"] if g.group == vrid), None)
            vrrp = group.state.upper() if group is not None else "NOT_RUNNING"
            other = "secondary" if role == "primary" else "primary"
            peer = next(
                (p for p in state["bgp"] if p.address == params[f"{other}_device_gw_ip"]), None
            )
            bgp = peer.state if peer is not None else "MISSING"
        active = {r.destination for r in state["routes"] if r.protocol == "Static" and r.active}
        out[role] = RouterHealth(
            name,
            vrrp=vrrp,
            bgp=bgp,
            routes_active=sum(1 for d in routes if d in active),
            routes_total=len(routes),
            missing=[d for d in routes if d not in active],
        )
    return out


def refresh(store: Store, devices: NornirDevices, gateway_id: str) -> dict[str, RouterHealth]:
    """The gateway's health now, its VRRP part recorded in its gw_interface's ``/monitoring``.

    As the monitoring job recorded it, ``"status": {"primary": ..., "secondary": ...}`` (a
    router that cannot be read: ``UNREACHABLE``), the record's other fields kept; written
    only when it changed. Nothing is written for a gateway without a gw_interface.
    """
    health = forwarding_health(store, devices, gateway_id)
    found = _gw_interface(ConfigLookup(store, live_only=True), gateway_id)
    if found is None:
        return health
    rid = found[0]
    record = read_config(store, "gw_interface", rid)
    if record is None:
        return health
    status = {role: "UNREACHABLE" if h.error else h.vrrp for role, h in health.items()}
    key = keys.monitoring("gw_interface", rid)
    entry = store.get(key)
    kept = {} if entry is None else Monitoring.from_value(entry.value).status
    if kept.get("status") != status:
        live = Monitoring(status={**kept, "status": status}, version=record.version)
        store.put(key, live.to_json())
    return health


def refresh_all(store: Store, devices: NornirDevices) -> None:
    """:func:`refresh` every settled gateway that has a settled gw_interface.

    A gateway whose routers cannot be read is logged and left as it was recorded.
    """
    lookup = ConfigLookup(store, live_only=True)
    interfaces = set(settled(store, "gw_interface"))
    for rid, body in lookup.all_of("gw_interface"):
        if rid not in interfaces:
            continue
        gateway_id = str(body.get("internet_gw_id"))
        try:
            refresh(store, devices, gateway_id)
        except EsiError as exc:
            log.warning("forwarding of internet_gateway %s not read: %s", gateway_id, exc)


def forwards(health: Mapping[str, RouterHealth]) -> bool:
    """Whether ``health`` is a gateway that forwards.

    Primary MASTER, secondary BACKUP, the iBGP session Established on both, every static
    route active on both.
    """
    wanted = {"primary": "MASTER", "secondary": "BACKUP"}
    return all(
        not h.error
        and h.vrrp == wanted[role]
        and h.bgp == "Established"
        and h.routes_active == h.routes_total
        for role, h in health.items()
    )
