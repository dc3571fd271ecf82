"""The static route service: a destination routed, in the gateway's VRF, to the tenant.

On each router of the gateway's pair (the origin's ``static_route_internet`` template):
``routing-instances <vrf> routing-options static route <route> next-hop <next_hop>``. It
is what makes a public IP block reachable inbound: the uplink side imports the VRF's
routes (the gateway's ``INSTANCE-MASTER_IN`` term), the VRF sends them to the tenant's
router on the segment. After each router's commit the route must be active in
``<vrf>.inet.0`` with its next hop: a next hop that does not resolve over the gateway's
segment leaves the route hidden, and the pair transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from nornir_esi.exceptions import DeviceRejectedError
from nornir_esi.pair.change import Role, Verifier
from nornir_esi.services import rendering
from nornir_esi.services.member import MemberService, poll
from nornir_esi.tasks.collect_forwarding import Route, routes

__all__ = ["SERVICE", "StaticRoute", "StaticRouteVerifier"]


@dataclass(frozen=True)
class StaticRouteVerifier:
    """Checks each static route is active in its VRF with its next hop (or gone).

    ``items``: ``(vrf_name, route, next_hop, present)``; one read per routing instance.
    """

    items: tuple[tuple[str, str, str, bool], ...]
    settle: float = 15.0

    def merge(self, others: Sequence[Verifier]) -> StaticRouteVerifier:
        """One verifier of this one's routes and those of ``others``."""
        merged = [self, *(v for v in others if isinstance(v, StaticRouteVerifier))]
        return StaticRouteVerifier(
            tuple(i for v in merged for i in v.items), max(v.settle for v in merged)
        )

    def __call__(self, task: Task, role: Role) -> None:
        """Check ``task.host``; see :class:`~nornir_esi.pair.change.Verifier`."""

        def problems() -> list[str]:
            tables: dict[str, list[Route]] = {}
            found: list[str] = []
            for vrf, route, next_hop, present in self.items:
                if vrf not in tables:
                    tables[vrf] = _table(task, vrf, tolerate_missing=not present)
                statics = [
                    r for r in tables[vrf] if r.destination == route and r.protocol == "Static"
                ]
                if not present:
                    if statics:
                        found.append(f"static route {route} is still in {vrf}.inet.0")
                    continue
                if not statics:
                    found.append(f"static route {route} is missing in {vrf}.inet.0")
                elif not any(r.active and next_hop in r.next_hops for r in statics):
                    found.append(
                        f"static route {route} via {next_hop} is not active in {vrf}.inet.0 "
                        "(its next hop does not resolve)"
                    )
            return found

        poll(task, self.settle, problems)


def _table(task: Task, vrf: str, *, tolerate_missing: bool) -> list[Route]:
    try:
        return routes(task, "verify", f"{vrf}.inet.0")
    except DeviceRejectedError:
        if tolerate_missing:  # the VRF went with its gateway, in the same transaction
            return []
        raise


class StaticRoute(MemberService):
    """The static route as a :class:`~nornir_esi.services.base.DeviceService`."""

    resource_type = "static_route"

    def context(self, params: Mapping[str, Any], role: Role) -> dict[str, Any]:
        """Every param (``vrf_name``, ``route``, ``next_hop`` required)."""
        for param in ("vrf_name", "route", "next_hop"):
            rendering.require(params, param, what=self.what)
        return rendering.named(params)

    def verifier(self, params: Mapping[str, Any], *, present: bool) -> StaticRouteVerifier:
        """The route active via its next hop (``present``), or gone."""
        return StaticRouteVerifier(
            ((str(params["vrf_name"]), str(params["route"]), str(params["next_hop"]), present),)
        )


SERVICE = StaticRoute()
