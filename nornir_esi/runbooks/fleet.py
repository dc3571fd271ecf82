"""The fleet's internet gateways per router, for the operators' runbooks (``tasks/``).

The runbooks hand them to a Nornir task: one task runs on many hosts, and each host takes
its own share, ``gateways[host name]``.

- :func:`counters_by_router`: each gateway on the router, with its logical interface and
  its firewall counters, named as the monitoring worker reads them
  (:func:`~nornir_esi.services.internet_gateway.monitoring.gateway_counters`), for
  :func:`~nornir_esi.tasks.collect_counters.collect_counters`;
- :func:`expected_by_router`: what each settled gateway should have on the router, the
  change ``nornir-esi check`` dry-runs
  (:func:`~nornir_esi.services.operations.expected`), for
  :func:`~nornir_esi.tasks.check_drift.check_drift`;
- :func:`ha_router`: an HA router by id or name, as an operator names it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from nornir_esi.contract.config import lookup_in
from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.mapping import params_for, template_of
from nornir_esi.exceptions import ValidationError
from nornir_esi.runbooks.inventory import live_bodies
from nornir_esi.services import operations
from nornir_esi.services.internet_gateway.monitoring import gateway_counters
from nornir_esi.store.base import Store
from nornir_esi.tasks.check_drift import GatewayConfig
from nornir_esi.tasks.collect_counters import GatewayCounters

__all__ = ["counters_by_router", "expected_by_router", "ha_router"]

GATEWAY = "internet_gateway"
# The template record whose params name the counters the monitoring worker reads.
MONITORING_TEMPLATE = f"{GATEWAY}_monitoring"


def ha_router(store: Store, id_or_name: str) -> dict[str, Any]:
    """The body of the HA router with this id or name (not one marked for deletion)."""
    for body in live_bodies(store, "ha_router"):
        if id_or_name in (body.get("id"), body.get("name")):
            return body
    raise ValidationError(f"ha_router {id_or_name}", "", "is neither an id nor a name in /config")


def counters_by_router(
    store: Store,
    *,
    ha_router_id: str | None = None,
    gateway_ids: Collection[str] | None = None,
) -> dict[str, list[GatewayCounters]]:
    """Per router name, the gateways on it, with their counters.

    The gateways are those in ``/config``, not being deleted; only those of the HA router
    ``ha_router_id`` and only ``gateway_ids`` when given.
    """
    lookup = lookup_in(store)
    template = template_of(store, MONITORING_TEMPLATE)
    out: dict[str, list[GatewayCounters]] = {}
    for body in live_bodies(store, GATEWAY):
        if gateway_ids is not None and body.get("id") not in gateway_ids:
            continue
        if ha_router_id is not None:
            downlink = lookup("ha_interface", str(body.get("downlink_interface_id"))) or {}
            if downlink.get("ha_router_id") != ha_router_id:
                continue
        counters = gateway_counters(params_for(template, GATEWAY, body, lookup))
        for role, router in pair_of(lookup, GATEWAY, body).by_role().items():
            out.setdefault(str(router["name"]), []).append(
                GatewayCounters(
                    id=str(body["id"]),
                    name=str(body.get("name", body["id"])),
                    role=role,
                    interface=str(body.get(f"{role}_logical_interface_name", "")),
                    counters=counters,
                )
            )
    return out


def expected_by_router(
    store: Store, *, gateway_ids: Collection[str] | None = None
) -> dict[str, list[GatewayConfig]]:
    """Per router name, what each settled gateway on it should have there.

    Only ``gateway_ids`` when given. A gateway with a job in flight is not held to a version.
    """
    out: dict[str, list[GatewayConfig]] = {}
    for resource_id in operations.settled(store):
        if gateway_ids is not None and resource_id not in gateway_ids:
            continue
        record, wanted = operations.expected(store, resource_id)
        for change in wanted.values():
            out.setdefault(str(change.router["name"]), []).append(
                GatewayConfig(
                    id=resource_id,
                    name=str(record.body.get("name", resource_id)),
                    version=record.version,
                    commands=change.commands,
                    text=change.text,
                    prune_policies=tuple(change.prune_policies),
                )
            )
    return out
