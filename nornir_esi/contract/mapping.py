"""Parameter mappings -> job params, each with its provenance.

A template record's ``parameter_mappings`` says how every param of a job is derived
from the resource graph. Two notations occur in the original's records and both are
read:

==============================================  =========================================
compact                                         structured
==============================================  =========================================
``P<field>``                                    ``{"field": f}``
``C<constant>`` (always a string)               ``{"constant": c}`` (any JSON value)
``F<type>+<fk>:<type>+<fk>:...:<field>``        ``{"field": f, "path": [fk, fk, ...]}``
``A<x>&<y>&...`` (parts are compact)            ``{"concatenate": [x, y, ...]}``
==============================================  =========================================

``ignore_missing: true`` (structured) turns a broken reference or a missing required
field into ``null`` instead of an error. ``if_mapping`` and ``output_key`` occurred in
the original but in none of the captured templates; they are refused by name rather
than guessed at.

Provenance (a param's ``resources``) is what lets the job manager find every job that
depends on a resource. The rules, as the captured jobs show them:

- a constant, or a plain field of the resource itself: ``[]``;
- a field of the resource itself that *is* a reference (``primary_interface_id``):
  the referenced resource;
- a path: every resource visited after the start, in order (ha_interface, ha_router,
  edge_router), plus the target if the field read at the end is itself a reference;
- a concatenation: the union of its parts' resources, in order;
- an absent optional reference (a gateway without ``associated_uplink_id``): value
  ``null`` and the resources visited before it (``[]`` for the resource's own field).

Values keep their JSON types: ``ssh_port`` stays ``830``, ``vlan_id`` stays ``"1025"``.

A secret field (a router's ``password``) holding a reference gives a param of type
``secret`` whose value is that reference (``{"ref": "env:NAME"}``), resolved by the worker
when it needs it: no job carries the password. A plain password (the original's data)
stays a ``value``, as the original's jobs carried it. A secret cannot be part of a
concatenation (a reference is no text).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from nornir_esi.contract.config import heat_template_of
from nornir_esi.contract.records import (
    HeatTemplate,
    Param,
    ResourceRef,
    shipped_heat_templates,
)
from nornir_esi.contract.resources import (
    RESOURCE_TYPES,
    Lookup,
    field_spec,
    object_name,
    resource_type,
)
from nornir_esi.contract.secrets import is_reference
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Store

__all__ = ["Lookup", "evaluate", "params_for", "template_of"]

_STRUCTURED_KEYS = {"field", "path", "constant", "concatenate", "ignore_missing"}
_UNSUPPORTED_KEYS = ("if_mapping", "output_key")

_Result = tuple[Any, list[ResourceRef]]


def evaluate(
    mappings: Mapping[str, Any],
    resource_type_name: str,
    body: Mapping[str, Any],
    lookup: Lookup,
    *,
    version: int | None = None,
) -> list[Param]:
    """Evaluate ``mappings`` (param name -> mapping) for one resource, in their order.

    ``version`` is the config version the job is for: ``Vauto_filled`` gives it (None
    when the params are computed for no version, in a dry run).

    ``lookup(type, id)`` gives the current body of another resource, or None. An
    unknown field, a path that does not follow a reference, or a reference to a
    resource that does not exist raises a ValidationError naming the param and the
    mapping.
    """
    resource_type(resource_type_name)  # an unknown type fails before any mapping
    obj = object_name(resource_type_name, body)
    params: list[Param] = []
    for name, mapping in mappings.items():
        ev = _Evaluation(obj, name, mapping, lookup, version)
        value, resources = ev.expression(mapping, resource_type_name, body, ignore_missing=False)
        # Only a secret field (or a constant spelled as one) yields a reference.
        ptype = "secret" if is_reference(value) else "value"
        params.append(Param(param=name, type=ptype, value=value, resources=resources))
    return params


def _union(groups: Iterable[list[ResourceRef]]) -> list[ResourceRef]:
    seen: set[ResourceRef] = set()
    out: list[ResourceRef] = []
    for group in groups:
        for ref in group:
            if ref not in seen:
                seen.add(ref)
                out.append(ref)
    return out


@dataclass
class _Evaluation:
    """The evaluation of one param's mapping: carries what an error must name."""

    obj: str
    param: str
    mapping: Any
    lookup: Lookup
    version: int | None = None

    def fail(self, reason: str) -> NoReturn:
        shown = self.mapping if isinstance(self.mapping, str) else json.dumps(self.mapping)
        raise ValidationError(self.obj, self.param, f"mapping {shown!r}: {reason}")

    # --- dispatch ----------------------------------------------------------------------

    def expression(
        self, expr: Any, rtype: str, body: Mapping[str, Any], *, ignore_missing: bool
    ) -> _Result:
        if isinstance(expr, str):
            return self.compact(expr, rtype, body, ignore_missing=ignore_missing)
        if isinstance(expr, dict):
            return self.structured(expr, rtype, body, ignore_missing=ignore_missing)
        self.fail(f"a mapping must be a string or an object, not {type(expr).__name__}")

    def compact(
        self, expr: str, rtype: str, body: Mapping[str, Any], *, ignore_missing: bool
    ) -> _Result:
        kind, rest = expr[:1], expr[1:]
        if kind == "C":
            return rest, []
        if kind == "V":
            if rest != "auto_filled":
                self.fail("the only V mapping is Vauto_filled (the config version)")
            return self.version, []
        if kind == "P":
            return self.walk([], rest, rtype, body, ignore_missing=ignore_missing)
        if kind == "F":
            *hops, field = rest.split(":")
            steps: list[tuple[str, str | None]] = []
            for hop in hops:
                target, plus, fk = hop.partition("+")
                if not plus or not target or not fk:
                    self.fail(f"step {hop!r} is not <type>+<foreign key>")
                steps.append((fk, target))
            return self.walk(steps, field, rtype, body, ignore_missing=ignore_missing)
        if kind == "A":
            parts = rest.split("&")
            if not all(parts):
                self.fail("a concatenation has an empty part")
            return self.concatenate(parts, rtype, body, ignore_missing=ignore_missing)
        self.fail("a compact mapping starts with P, C, F or A")

    def structured(
        self, expr: dict[str, Any], rtype: str, body: Mapping[str, Any], *, ignore_missing: bool
    ) -> _Result:
        for key in _UNSUPPORTED_KEYS:
            if key in expr:
                self.fail(f"{key} is not supported")
        unknown = sorted(set(expr) - _STRUCTURED_KEYS)
        if unknown:
            self.fail(f"unknown key {unknown[0]!r}")
        flag = expr.get("ignore_missing", False)
        if not isinstance(flag, bool):
            self.fail("ignore_missing must be true or false")
        ignore_missing = ignore_missing or flag
        forms = [k for k in ("field", "constant", "concatenate") if k in expr]
        if len(forms) != 1:
            self.fail("needs exactly one of field, constant, concatenate")
        if "path" in expr and forms != ["field"]:
            self.fail("path goes only with field")

        if forms == ["constant"]:
            return copy.deepcopy(expr["constant"]), []
        if forms == ["concatenate"]:
            parts = expr["concatenate"]
            if not isinstance(parts, list) or not parts:
                self.fail("concatenate must be a non-empty list")
            return self.concatenate(parts, rtype, body, ignore_missing=ignore_missing)
        field = expr["field"]
        path = expr.get("path", [])
        if not isinstance(field, str) or not field:
            self.fail("field must be a non-empty string")
        if not isinstance(path, list):
            self.fail("path must be a list of foreign keys")
        steps: list[tuple[str, str | None]] = []
        for fk in path:
            # The origin's two spellings: "downlink_interface_id", or
            # {"type": "network", "id": "network_id"} (the key, with its target's type).
            if isinstance(fk, str) and fk:
                steps.append((fk, None))
            elif (
                isinstance(fk, dict)
                and set(fk) == {"type", "id"}
                and all(isinstance(v, str) and v for v in fk.values())
            ):
                steps.append((fk["id"], fk["type"]))
            else:
                self.fail("path must be a list of foreign key names or {type, id} objects")
        return self.walk(steps, field, rtype, body, ignore_missing=ignore_missing)

    # --- the forms ---------------------------------------------------------------------

    def walk(
        self,
        steps: list[tuple[str, str | None]],
        field: str,
        rtype: str,
        body: Mapping[str, Any],
        *,
        ignore_missing: bool,
    ) -> _Result:
        """Follow ``steps`` (foreign key, declared target type or None), then read ``field``."""
        visited: list[ResourceRef] = []
        for fk, declared in steps:
            spec = field_spec(rtype, fk)
            if spec is None:
                self.fail(f"{rtype} has no field {fk}")
            if spec.target is None:
                self.fail(f"{rtype}.{fk} is not a reference")
            if spec.many:
                self.fail(f"{rtype}.{fk} is a list of references, which a path cannot follow")
            if declared is not None and declared != spec.target:
                self.fail(f"{rtype}.{fk} refers to {spec.target}, not {declared}")
            rid = body.get(fk)
            if rid is None:
                if spec.required and not ignore_missing:
                    self.fail(f"{rtype}.{fk} is missing")
                return None, visited
            found = self.lookup(spec.target, rid)
            if found is None:
                if ignore_missing:
                    return None, visited
                self.fail(f"{rtype}.{fk} references {spec.target} {rid}, which does not exist")
            visited.append(ResourceRef(spec.target, rid))
            rtype, body = spec.target, found

        spec = field_spec(rtype, field) if field else None
        if spec is None:
            self.fail(f"{rtype} has no field {field!r}")
        value = body.get(field)
        if value is None:
            if spec.required and not ignore_missing:
                self.fail(f"{rtype}.{field} is missing")
            return None, visited
        if spec.target is not None:
            # Reading a reference makes the value depend on the resource it names.
            for rid in value if spec.many else [value]:
                if self.lookup(spec.target, rid) is None:
                    if ignore_missing:
                        return None, visited
                    self.fail(
                        f"{rtype}.{field} references {spec.target} {rid}, which does not exist"
                    )
                visited.append(ResourceRef(spec.target, rid))
        return copy.deepcopy(value), _union([visited])

    def concatenate(
        self, parts: list[Any], rtype: str, body: Mapping[str, Any], *, ignore_missing: bool
    ) -> _Result:
        texts: list[str] = []
        groups: list[list[ResourceRef]] = []
        for i, part in enumerate(parts):
            value, resources = self.expression(part, rtype, body, ignore_missing=ignore_missing)
            groups.append(resources)
            if value is None:
                if ignore_missing:
                    return None, _union(groups)
                self.fail(f"part {i + 1} has no value")
            if isinstance(value, bool) or not isinstance(value, str | int):
                self.fail(f"part {i + 1} is a {type(value).__name__}, not text or a number")
            texts.append(str(value))
        return "".join(texts), _union(groups)


def template_of(store: Store | None, resource_type: str) -> HeatTemplate:
    """The resource type's heat template record: from ``/config`` when there, else shipped.

    Its id is the type's (``gw_interface`` -> ``gw_interface_internet``, the origin's
    template_path); a name that is no resource type is taken as a template id.
    """
    rtype = RESOURCE_TYPES.get(resource_type)
    template_id = (rtype.heat_template if rtype else None) or resource_type
    if store is not None:
        template = heat_template_of(store, template_id)
        if template is not None:
            return template
    shipped = shipped_heat_templates().get(template_id)
    if shipped is None:
        raise ValidationError(resource_type, "type", "has no heat template: nothing to push")
    return HeatTemplate.from_value(shipped.body)


def params_for(
    template: HeatTemplate, resource_type: str, body: Mapping[str, Any], lookup: Lookup
) -> dict[str, Any]:
    """The job params a version of ``body`` gets, by name (as the planner computes them)."""
    params = evaluate(template.parameter_mappings, resource_type, dict(body), lookup)
    return {p.param: p.value for p in params}
