"""``monitoring_worker``: read the real state of a resource from its routers.

CONTRACT section 7. The original reported through a message bus and said ``ACTIVE`` even
for an absent uplink; here the state is read from the routers over NETCONF:

- edge_router: reachable -> ``router: ACTIVE``; ``/monitoring`` ``router: UP|DOWN``;
- er_physical_interface: oper-status of the interface -> ``interface``; ``/monitoring``;
- ha_router: each router reachable -> ``primary``, ``secondary``;
- ha_interface: each member physical interface up -> ``primary``, ``secondary``;
- internet_gateway: the downlink (and uplink, when set) HA interface is ``ACTIVE`` when both
  member interfaces are up; an absent uplink is reported ``ACTIVE`` as the original did
  (there is nothing to be down). The gateway's four firewall counters must exist on both
  routers once its configuration is committed; a missing one fails the job.

The update chain's ``delete:monitoring_worker`` and a ``logical_delete`` stop monitoring:
the resource's ``/monitoring`` record is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi import keys
from nornir_esi.exceptions import PermanentError
from nornir_esi.handlers.common import lookup_in, update_job_state
from nornir_esi.inventory.graph import member_interfaces, pair_of, router_of_interface
from nornir_esi.metrics import GATEWAY_BYTES, GATEWAY_PACKETS
from nornir_esi.records import JobState, Monitoring
from nornir_esi.store.base import Op
from nornir_esi.worker import JobContext

__all__ = ["gateway_counters", "monitoring_worker"]

Router = Mapping[str, Any]


def _active(up: bool) -> str:
    return "ACTIVE" if up else "DOWN"


def monitoring_worker(ctx: JobContext) -> list[Op]:
    """Measure, merge ``state_monitoring`` into the job state; ``/monitoring`` lands with the
    job's end (as the origin wrote it after ``/state``)."""
    job = ctx.job
    if job.action in ("delete", "logical_delete"):
        return [Op.delete(keys.monitoring(job.resource_type, job.resource_id))]
    lookup = lookup_in(ctx.store)
    devices = ctx.services["devices"]
    body = job.resource_input
    live: dict[str, str] | None = None
    if job.resource_type == "edge_router":
        up = devices.reachable(body)
        states = {"router": _active(up)}
        live = {"router": "UP" if up else "DOWN"}
    elif job.resource_type == "er_physical_interface":
        router = router_of_interface(lookup, body)
        up = devices.interfaces_up(router, [str(body.get("name", ""))])
        states = {"interface": _active(up)}
        live = {"interface": "UP" if up else "DOWN"}
    elif job.resource_type == "ha_router":
        pair = pair_of(lookup, "ha_router", body)
        states = {role: _active(devices.reachable(r)) for role, r in pair.by_role().items()}
    elif job.resource_type == "ha_interface":
        states = _ha_interface_state(devices, lookup, job.resource_id)
    elif job.resource_type == "internet_gateway":
        states = _gateway_state(ctx, devices, lookup, body)
    else:
        raise PermanentError(
            f"{job.resource_type} {job.resource_id}: monitoring_worker does not know this type"
        )

    def record(state: JobState) -> None:
        state.state_monitoring = states

    update_job_state(ctx, record)
    if live is None:
        return []
    record_live = Monitoring(status=live, version=job.version)
    return [Op.put(keys.monitoring(job.resource_type, job.resource_id), record_live.to_json())]


def _ha_interface_state(devices: Any, lookup: Any, ha_interface_id: str) -> dict[str, str]:
    members = member_interfaces(lookup, ha_interface_id)
    return {
        role: _active(devices.interfaces_up(router, [name]))
        for role, (router, name) in members.items()
    }


def gateway_counters(params: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """A gateway's firewall counters by direction (``in``, ``out``): ``(filter, counter)``,
    from its monitoring params; the primary's names, which the secondary's equal."""
    return {
        "in": (str(params["inet_in_filter"]), str(params["counter_name_in_primary"])),
        "out": (str(params["inet_out_filter"]), str(params["counter_name_out_primary"])),
    }


def _gateway_state(
    ctx: JobContext, devices: Any, lookup: Any, body: Mapping[str, Any]
) -> dict[str, str]:
    """Each router asked once (one session, one read of its interfaces and of the
    gateway's counters), however many of the gateway's interfaces it carries."""
    ha_ids = {"downlink": str(body.get("downlink_interface_id"))}
    if body.get("associated_uplink_id"):
        ha_ids["uplink"] = str(body["associated_uplink_id"])
    members = {which: member_interfaces(lookup, ha_id) for which, ha_id in ha_ids.items()}
    pair = pair_of(lookup, "internet_gateway", body).by_role()
    directions = gateway_counters(ctx.params)
    counters = list(directions.values())
    routers: dict[str, Router] = {}
    interfaces: dict[str, list[str]] = {}
    for by_role in members.values():
        for router, name in by_role.values():
            routers[str(router.get("name"))] = router
            interfaces.setdefault(str(router.get("name")), []).append(name)
    on_pair = {str(router.get("name")) for router in pair.values()}
    for router in pair.values():
        routers[str(router.get("name"))] = router
    states = {
        name: devices.state(
            router,
            interfaces=interfaces.get(name, []),
            counters=counters if name in on_pair else [],
        )
        for name, router in routers.items()
    }

    def all_up(which: str) -> bool:
        return all(
            states[str(router.get("name"))]["interfaces"].get(name) == "up"
            for router, name in members[which].values()
        )

    for role, router in pair.items():
        values = states[str(router.get("name"))]["counters"]
        missing = [f"{f}/{c}" for f, c in counters if values.get(f"{f}/{c}") is None]
        for direction, (filter_name, counter) in directions.items():
            value = values.get(f"{filter_name}/{counter}")
            if value is not None:
                labels = (str(body.get("id")), str(router.get("name")), direction)
                GATEWAY_PACKETS.labels(*labels).set(value["packets"])
                GATEWAY_BYTES.labels(*labels).set(value["bytes"])
        if missing:
            raise PermanentError(
                f"internet_gateway {body.get('id')}: counters {', '.join(missing)} are missing "
                f"on the {role} router {router.get('name')}"
            )
    # An absent uplink is ACTIVE, as the original reported it (nothing to be down).
    uplink = _active(all_up("uplink")) if "uplink" in members else "ACTIVE"
    return {"downlink": _active(all_up("downlink")), "uplink": uplink}
