"""``monitoring_worker``: read the real state of a resource from its routers.

CONTRACT section 7. The original reported through a message bus and said ``ACTIVE`` even
for an absent uplink; here the state is read from the routers over NETCONF:

- edge_router: reachable -> ``router: ACTIVE``; ``/monitoring`` ``router: UP|DOWN``;
- er_physical_interface: oper-status of the interface -> ``interface``; ``/monitoring``;
- ha_router: each router reachable -> ``primary``, ``secondary``;
- ha_interface: each member physical interface up -> ``primary``, ``secondary``;
- gw_interface: VRRP settled, MASTER on the primary and BACKUP on the secondary, in
  ``state_monitoring`` and ``/monitoring`` (``{"status": {...}}``, as the origin's collector);
- internet_gateway: the downlink (and uplink, when set) HA interface is ``ACTIVE`` when both
  member interfaces are up; an absent uplink is reported ``ACTIVE`` as the original did
  (there is nothing to be down). The gateway's four firewall counters must exist on both
  routers once its configuration is committed; a missing one fails the job.

The update chain's ``delete:monitoring_worker`` and a ``logical_delete`` stop monitoring:
the resource's ``/monitoring`` record is removed.
"""

from __future__ import annotations

from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import lookup_in
from nornir_esi.contract.graph import Lookup, member_interfaces, pair_of, router_of_interface
from nornir_esi.contract.records import JobState, Monitoring
from nornir_esi.exceptions import PermanentError
from nornir_esi.handlers.common import Context, update_job_state
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services import service_for
from nornir_esi.store.base import Op

__all__ = ["monitoring_worker"]


def _active(up: bool) -> str:
    return "ACTIVE" if up else "DOWN"


def monitoring_worker(ctx: Context) -> list[Op]:
    """Measure, and merge ``state_monitoring`` into the job state.

    ``/monitoring`` lands with the job's end (as the origin wrote it after ``/state``).
    """
    job = ctx.job
    if job.action in ("delete", "logical_delete"):
        return [Op.delete(keys.monitoring(job.resource_type, job.resource_id))]
    lookup = lookup_in(ctx.store)
    devices = ctx.services.devices
    body = job.resource_input
    live: dict[str, Any] | None = None
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
    elif (service := service_for(job.resource_type)) is not None:
        states = service.monitor(devices, lookup, body, ctx.params)
        live = service.live(states)
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


def _ha_interface_state(
    devices: NornirDevices, lookup: Lookup, ha_interface_id: str
) -> dict[str, str]:
    members = member_interfaces(lookup, ha_interface_id)
    return {
        role: _active(devices.interfaces_up(router, [name]))
        for role, (router, name) in members.items()
    }
