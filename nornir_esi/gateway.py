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
from typing import Any, Literal

from nornir_esi import keys
from nornir_esi.devices import Change
from nornir_esi.exceptions import ValidationError
from nornir_esi.heat import Pushed
from nornir_esi.inventory.graph import Lookup, Pair
from nornir_esi.mapping import evaluate
from nornir_esi.records import ConfigRecord, HeatTemplate, shipped_heat_templates
from nornir_esi.render import gateway_prune_policies, render_gateway, render_vrf_config
from nornir_esi.store.base import Store

__all__ = ["IDENTITY", "Action", "changes", "params_for", "pushed", "template_of"]

Action = Literal["create", "modify", "delete", "repair"]
ROLES = ("primary", "secondary")

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


def template_of(store: Store | None, resource_type: str) -> HeatTemplate:
    """The resource type's heat template record: from ``/config`` when there, else shipped."""
    if store is not None:
        entry = store.get(keys.heat_template(resource_type))
        if entry is not None:
            return HeatTemplate.from_value(ConfigRecord.from_value(entry.value).body)
    shipped = shipped_heat_templates().get(resource_type)
    if shipped is None:
        raise ValidationError(resource_type, "type", "has no heat template: nothing to push")
    return HeatTemplate.from_value(shipped.body)


def params_for(
    template: HeatTemplate, resource_type: str, body: Mapping[str, Any], lookup: Lookup
) -> dict[str, Any]:
    """The job params a version of ``body`` gets, by name (as the planner computes them)."""
    params = evaluate(template.parameter_mappings, resource_type, dict(body), lookup)
    return {p.param: p.value for p in params}


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
    """Per role, what the router carries for the gateway at ``params``: its set commands as
    a create gives them, and the service's routing-instance text. The Heat stack records
    it; drift checks compare the stack with it."""
    return {
        role: Pushed(
            str(router["name"]),
            render_gateway(params, role, action="create") + render_vrf_config(params),
        )
        for role, router in pair.by_role().items()
    }
