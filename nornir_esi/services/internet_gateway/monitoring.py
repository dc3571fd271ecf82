"""What an internet gateway's monitoring reads on its routers.

Its downlink and uplink HA interfaces' member interfaces, and its firewall counters on
both routers of its pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract.graph import Lookup, member_interfaces, pair_of
from nornir_esi.exceptions import PermanentError
from nornir_esi.metrics import GATEWAY_BYTES, GATEWAY_PACKETS
from nornir_esi.pair.devices import NornirDevices

__all__ = ["gateway_counters", "gateway_state"]

Router = Mapping[str, Any]


def _active(up: bool) -> str:
    return "ACTIVE" if up else "DOWN"


def gateway_counters(params: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """A gateway's firewall counters by direction (``in``, ``out``): ``(filter, counter)``.

    Read from its monitoring params; they are the primary's names, which the secondary's
    equal.
    """
    return {
        "in": (str(params["inet_in_filter"]), str(params["counter_name_in_primary"])),
        "out": (str(params["inet_out_filter"]), str(params["counter_name_out_primary"])),
    }


def gateway_state(
    devices: NornirDevices, lookup: Lookup, body: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, str]:
    """A gateway's ``downlink`` and ``uplink`` states (``ACTIVE``/``DOWN``).

    From the body and the monitoring job's ``params``; a counter missing on a router fails the
    job, and each counter read is kept for Prometheus. Each router is asked once (one session,
    one read of its interfaces and of the gateway's counters), however many of the gateway's
    interfaces it carries.
    """
    ha_ids = {"downlink": str(body.get("downlink_interface_id"))}
    if body.get("associated_uplink_id"):
        ha_ids["uplink"] = str(body["associated_uplink_id"])
    members = {which: member_interfaces(lookup, ha_id) for which, ha_id in ha_ids.items()}
    pair = pair_of(lookup, "internet_gateway", body).by_role()
    directions = gateway_counters(params)
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
