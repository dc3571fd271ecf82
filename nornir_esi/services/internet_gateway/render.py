"""Junos configuration of an internet gateway, rendered from its job's params.

A job carries ``params`` as ``[{"param", "type", "value", "resources"}, ...]``
(:func:`params_by_name` turns that into a mapping). Each router of the HA pair gets its own
rendering: the ``primary_*``/``secondary_*`` params pick the interface and the VRRP group.

The templates live in ``nornir_esi/templates/junos/``:

- ``internet_gateway.set.j2``: the gateway's stanzas as ``set``/``insert`` commands;
- ``internet_gateway.delete.j2``: the ``delete`` commands that take them off again;
- ``internet_gateway.replace.j2``: the ``delete`` commands that take the gateway's own
  objects off whole, followed (by :func:`render_gateway`) by the create's ``set`` commands;
- ``internet_gateway.vrf_config.j2``: the service's extra routing-instance text
  (``jinja_vrf_config``), as curly text: ``set`` loads cannot carry curly text, so it is a
  second fragment, loaded with ``load merge`` in the same candidate and commit
  (:func:`render_vrf_config`, ``push_config(text=...)``).

Rendering is strict: a param the template needs and the job lacks raises
:class:`~nornir_esi.exceptions.ValidationError` naming the param (Jinja2's
``StrictUndefined`` catches the ones only the template knows it needs), and every value is
quoted for the Junos CLI, with line breaks refused, so no param can inject a command.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nornir_esi.exceptions import ValidationError
from nornir_esi.junos.quote import Named
from nornir_esi.junos.text import brace_problem
from nornir_esi.services import rendering

__all__ = [
    "OBJ",
    "gateway_prune_policies",
    "params_by_name",
    "render_gateway",
    "render_vrf_config",
]

OBJ = "internet_gateway template"

_TEMPLATES = {
    "create": "internet_gateway.set.j2",
    "delete": "internet_gateway.delete.j2",
    "replace": "internet_gateway.replace.j2",
}


def params_by_name(params: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A job's ``[{"param", "type", "value", "resources"}, ...]`` as ``{param: value}``."""
    return rendering.params_by_name(params, what=OBJ)


def _require(params: Mapping[str, Any], name: str) -> str:
    return rendering.require(params, name, what=OBJ)


def _context(params: Mapping[str, Any], role: str) -> dict[str, Any]:
    if role not in ("primary", "secondary"):
        raise ValidationError(OBJ, "role", f"{role!r} is not primary|secondary")
    context = rendering.named(params)
    physical_param = f"{role}_device_physical_interface"
    logical_param = f"{role}_device_logical_interface"
    physical = _require(params, physical_param)
    logical = _require(params, logical_param)
    # The unit number comes from the logical interface name (ae0.1025 -> 1025); it must sit
    # on the role's physical interface, or the routing instance would name a unit that the
    # commands never create.
    base, dot, unit = logical.rpartition(".")
    if not dot or base != physical or not unit.isdigit():
        raise ValidationError(
            OBJ, logical_param, f"{logical!r} is not a unit of {physical_param} {physical!r}"
        )
    vlan = _require(params, "vlan")
    if not vlan.isdigit() or not 1 <= int(vlan) <= 4094:
        raise ValidationError(OBJ, "vlan", f"{vlan!r} is outside 1-4094")
    vrrp_param = f"{role}_vrrp_config_group"
    context.update(
        role=role,
        physical_interface=Named(physical, physical_param),
        logical_interface=Named(logical, logical_param),
        unit=Named(unit, logical_param),
        vrrp_config_group=Named(_require(params, vrrp_param), vrrp_param),
    )
    return context


def _render(template: str, context: Mapping[str, Any]) -> str:
    return rendering.render(template, context, what=OBJ)


def render_gateway(params: Mapping[str, Any], role: str, *, action: str) -> str:
    """The gateway's ``set`` commands (``create``), ``delete`` commands, or both (``replace``).

    ``role`` is the router's side of the pair, ``primary`` or ``secondary``; ``action`` is
    ``create``, ``delete`` or ``replace`` (plain strings, as jobs carry them; others are
    refused). The result ends with a newline and is ready for
    ``load-configuration action="set"``. For ``delete``, pass
    :func:`gateway_prune_policies` to ``push_config(prune_policies=...)`` so a
    policy-statement the gateway leaves empty goes too.

    ``replace`` is for re-applying and repairing: the gateway's own objects (unit, routing
    instance, its filter and policy terms) are deleted whole, then set as ``create`` sets
    them, in one candidate; the router's diff is then exactly what differs from a fresh
    create, including any statement added out of band inside them, and empty when nothing
    does. Entries of ordered lists (filter and policy terms) keep their place: the load
    step puts a term deleted and set again back (``tasks._config.load_set``).
    """
    if action not in _TEMPLATES:
        raise ValidationError(OBJ, "action", f"{action!r} is not create|delete|replace")
    context = _context(params, role)
    if action == "replace":
        return _render(_TEMPLATES["replace"], context) + _render(_TEMPLATES["create"], context)
    return _render(_TEMPLATES[action], context)


def render_vrf_config(params: Mapping[str, Any]) -> str:
    """The service's extra routing-instance text, wrapped into the gateway's instance.

    Empty when ``jinja_vrf_config`` is empty or absent; otherwise curly text for
    ``load-configuration action="merge" format="text"``. Braces must balance (outside
    strings and comments) so the text stays inside the routing instance.
    """
    extra = str(params.get("jinja_vrf_config") or "").strip()
    if not extra:
        return ""
    _check_braces(extra)
    vrf_name = Named(_require(params, "vrf_name"), "vrf_name")
    return _render(
        "internet_gateway.vrf_config.j2", {"vrf_name": vrf_name, "jinja_vrf_config": extra}
    )


def gateway_prune_policies(params: Mapping[str, Any]) -> list[str]:
    """Policy-statements a gateway delete may leave without terms: remove them then.

    The uplink import policy is shared by every gateway on a router; the first gateway's
    ``set`` created it, so the last gateway's delete must remove it to leave the router as
    it was. Only the router knows whether other terms remain, hence a prune under lock.
    """
    return [_require(params, "uplink_import_policy")]


def _check_braces(text: str) -> None:
    problem = brace_problem(text)
    if problem is not None:
        raise ValidationError(OBJ, "jinja_vrf_config", problem)
