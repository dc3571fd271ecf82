"""What an internet gateway puts on its router pair, computed from desired state.

One place decides the change per router, for the heat worker and for the operator's
``plan``, ``check`` and ``repair``:

- create: the gateway's ``set`` commands (merge: a re-run changes nothing);
- modify and repair: ``replace``, the gateway's own objects deleted whole and set again in
  the same candidate, so the router computes the net difference: a new QoS option
  changes two filter lines and nothing else, and lines added out of band to the gateway's
  objects go; when the version applied before named other objects (another VLAN, VRF or
  interface), those are deleted first;
- delete: exactly what the gateway added, and a shared policy left without terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nornir_esi.contract.graph import Pair
from nornir_esi.heat.base import Pushed
from nornir_esi.pair.change import ROLES, Change
from nornir_esi.services.base import Action
from nornir_esi.services.internet_gateway.render import (
    gateway_prune_policies,
    render_gateway,
    render_vrf_config,
)

__all__ = ["IDENTITY", "changes", "pushed"]


# The params that name the objects a gateway owns on a router: when one differs between
# the applied version and the new one, the old objects must be deleted, not overwritten.
IDENTITY = (
    "vlan",
    "vrf_name",
    "prefix_list_name",
    "filter_term_name",
    "inet_in_filter",
    "inet_out_filter",
    "uplink_import_policy",
    "primary_device_physical_interface",
    "secondary_device_physical_interface",
    "primary_device_logical_interface",
    "secondary_device_logical_interface",
)


def changes(
    params: Mapping[str, Any],
    pair: Pair,
    *,
    action: Action,
    applied: Mapping[str, Any] | None = None,
) -> dict[str, Change]:
    """Per role, what to load on the router for ``action``."""
    routers = pair.by_role()
    out: dict[str, Change] = {}
    for role in ROLES:
        if action == "delete":
            old = applied if applied is not None else params
            out[role] = Change(
                router=routers[role],
                commands=render_gateway(old, role, action="delete"),
                prune_policies=gateway_prune_policies(old),
            )
            continue
        if action == "create":
            commands = render_gateway(params, role, action="create")
        else:
            commands = render_gateway(params, role, action="replace")
            if applied is not None and any(applied.get(k) != params.get(k) for k in IDENTITY):
                commands = render_gateway(applied, role, action="delete") + "\n" + commands
        out[role] = Change(
            router=routers[role],
            commands=commands,
            text=render_vrf_config(params),
            prune_policies=(
                gateway_prune_policies(applied)
                if applied is not None and action != "create"
                else ()
            ),
        )
    return out


def pushed(params: Mapping[str, Any], pair: Pair) -> dict[str, Pushed]:
    """Per role, what the router carries for the gateway at ``params``.

    Its set commands as a create gives them, and the service's routing-instance text. The
    Heat stack records it; drift checks compare the stack with it.
    """
    return {
        role: Pushed(
            str(router["name"]),
            render_gateway(params, role, action="create") + render_vrf_config(params),
        )
        for role, router in pair.by_role().items()
    }
