"""The northbound API: ``/v2.0/<plural>[/<id>]``, the real service's, as its clients speak it.

It speaks the original's northbound API (a Gohan server, Neutron style), as its official
clients (eclcli, eclsdk) drive it: the same paths, the body of one resource wrapped in its
type and a list in its plural::

    POST   /v2.0/public_ips       {"public_ip": {...}}     201 {"public_ip": {...}}
    GET    /v2.0/public_ips       ?name=&sort_key=...      200 {"public_ips": [...]}
    GET    /v2.0/public_ips/<id>                           200 {"public_ip": {...}}
    PUT    /v2.0/public_ips/<id>  {"public_ip": {...}}     200 {"public_ip": {...}}
    DELETE /v2.0/public_ips/<id>                           202 {"public_ip": {...}}

Who asks (:mod:`nornir_esi.doors.identity`): each request's token (``X-Auth-Token``, or
``Authorization: Bearer``) names a principal: a tenant (the token's project), or an
operator (role ``admin``). What each may see and do (:mod:`nornir_esi.doors.public`): a
tenant its own gateways, family and segment, in the public model the clients declare, and
the catalog (internet services, QoS options) read-only; another tenant's object answers 404,
as a missing one does; infrastructure answers a tenant 403. An operator sees and changes
everything, whole records, and may create for any tenant.

Writes go through :mod:`nornir_esi.contract.desired`, so the API validates exactly as
``nornir-esi apply`` does and writes one transaction. POST creates (the id is a new UUID when
the body has none; an existing id is a conflict); ``tenant_id`` is the token's project when
the body names none. A gateway created in the public shape (an internet service and a QoS
option) is placed by the service (:mod:`nornir_esi.services.internet_gateway.placement`: a
downlink with room, a free VLAN, atomically) and its names derived. PUT is a partial
update, Neutron style as the original's: the fields given replace the stored ones, ``null``
removes an optional field, the rest is kept; the id cannot change. DELETE is the first step
of the two-step delete (``marked_for_deletion``, ``PENDING_DELETE``); the resource is listed
until the job manager has really deleted it.

A list takes a filter per field of the caller's view (``?name=a&name=b``: either), the
clients' spellings too (``minimal_subnet_length``), ``sort_key``/``sort_dir`` (repeatable,
Neutron's), and ``fields`` (the fields to answer). A value no resource has gives an empty
list, as Neutron's does; a parameter that is no filter is a 400 naming it.

``status`` and ``error`` are read-only: they are not desired state but derived, on every
read, from the ``/config`` record and the ``/state`` of the resource:

=====================================================  ================  ===============
``/state`` (worker_state)                              ``/config``       status
=====================================================  ================  ===============
absent, or of an older version than ``/config``        version 1         PENDING_CREATE
(the workflow of this version is in flight)            version N > 1     PENDING_UPDATE
                                                       marked            PENDING_DELETE
``*_FAILED`` of this version                           any               ERROR, ``error``
``CREATE_COMPLETED``, ``MODIFY_COMPLETED`` or         not marked        ACTIVE
``READ_COMPLETE`` (non-workable types), this version
``DELETE_COMPLETED`` of this version                   marked            PENDING_DELETE
=====================================================  ================  ===============

``error`` (the reason ``/state`` holds, which may name routers) is shown to operators only.

Every refusal, unknown routes and methods included, has one body
(:mod:`nornir_esi.doors.errors`): ``{"error", "message", "object", "field", "reason"}``:

====  ===========================================================================
400   the body is no JSON, or not ``{"<type>": {...}}``; a query parameter that is no filter
401   no valid token
403   infrastructure, or a write of the catalog, asked by a tenant; a ``tenant_id`` not the
      token's
404   no such resource (or another tenant's), or an id that is no UUID; no such route
405   a method the route does not have
409   the id exists already; a resource still referenced, or being deleted; changed by
      another request between this one's read and its write (nothing written); no room
      for a new gateway
413   the body is over the limit (:mod:`nornir_esi.doors.limits`)
422   a field is wrong (the ValidationError's field and reason)
503   etcd or Keystone is unavailable, or etcd changed meanwhile (``Retry-After``)
====  ===========================================================================

A write records its principal in the version's audit trail
(:class:`nornir_esi.contract.desired.Requester`), with the request's id: the client's
``X-Request-Id`` or a new UUID, answered in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    create_model,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.contract.resources import API_STATUSES, RESOURCE_TYPES, FieldSpec, object_name
from nornir_esi.doors import public
from nornir_esi.doors.errors import Error, error_body, refusal_body
from nornir_esi.doors.identity import Authenticator, Principal, presented_token
from nornir_esi.doors.views import api_status
from nornir_esi.exceptions import ConflictError, EsiError, TemporaryError, ValidationError
from nornir_esi.services.internet_gateway import placement
from nornir_esi.store.base import Entry, Store

__all__ = ["router"]

log = logging.getLogger(__name__)

_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_UUID = re.compile(_UUID_PATTERN)
# Derived on read, never desired state: a body that carries them is refused.
_READ_ONLY = frozenset({"status", "error"})
# Literal["PENDING_CREATE", ...], built from the one tuple of statuses.
_API_STATUS: Any = Literal.__getitem__(API_STATUSES)
_GATEWAY = "internet_gateway"
# What the service derives for a gateway when a create leaves it out.
_DERIVED = frozenset(
    {
        "downlink_interface_id",
        "vlan_id",
        "vrf_name",
        "primary_logical_interface_name",
        "secondary_logical_interface_name",
    }
)


# --- models ----------------------------------------------------------------------------


def _class_name(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


_ID_TYPE = Annotated[StrictStr, WithJsonSchema({"type": "string", "pattern": _UUID_PATTERN})]
_STRICT: dict[str, Any] = {
    "str": StrictStr,
    "int": StrictInt,
    "bool": StrictBool,
    "list": list[StrictStr],
    "object": dict[str, Any],
    "array": list[Any],
}
# A secret field (a router's password): a reference {"ref": "<scheme>:<name>"}, or a plain
# string (refused by desired.apply unless the compatibility switch is on). Which one, and
# its shape, resources.validate checks, with the messages `nornir-esi apply` gives.
_SECRET_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "properties": {"ref": {"type": "string", "examples": ["env:ESI_ROUTER_PASSWORD"]}},
            "required": ["ref"],
            "additionalProperties": False,
        },
        {"type": "string"},
    ],
    "description": 'a secret reference {"ref": "env:NAME"} or {"ref": "file:PATH"}',
}
_STRICT["secret"] = Annotated[Any, WithJsonSchema(_SECRET_SCHEMA)]
_PLAIN: dict[str, Any] = {
    "str": str,
    "int": int,
    "bool": bool,
    "list": list[str],
    "object": dict[str, Any],
    "array": list[Any],
    "secret": dict[str, str] | str,
}


def _request_type(spec: FieldSpec) -> Any:
    # Types are strict, as resources.validate is: "830" is no port. Ids and references
    # say in the document that they are UUIDs; the reference must exist too (422).
    if spec.name == "id" or spec.target is not None:
        return list[_ID_TYPE] if spec.many else _ID_TYPE
    return _STRICT[spec.kind]


def _description(spec: FieldSpec) -> str | None:
    if spec.target is None:
        return None
    return f"id{'s' if spec.many else ''} of {spec.target}"


def _optional_on_create(type_name: str, spec: FieldSpec) -> bool:
    """Whether a create may leave ``spec`` out: the service fills it in then."""
    if spec.name in ("id", "tenant_id") or not spec.required:
        return True  # a new UUID; the token's project
    return type_name == _GATEWAY and (spec.name in _DERIVED or spec.name == "qos_option_id")


def _request_model(type_name: str, *, update: bool) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for spec in RESOURCE_TYPES[type_name].fields.values():
        if spec.name in _READ_ONLY:
            continue
        kind = _request_type(spec)
        describe = _description(spec)
        if update:
            # Partial: anything may be left out; null removes an optional field.
            kind = kind if spec.required else kind | None
            fields[spec.name] = (kind, Field(default=None, description=describe))
        elif not _optional_on_create(type_name, spec):
            fields[spec.name] = (kind, Field(description=describe))
        else:
            fields[spec.name] = (kind | None, Field(default=None, description=describe))
    suffix = "Update" if update else "Create"
    return create_model(
        f"{_class_name(type_name)}{suffix}",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def _response_model(type_name: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for spec in RESOURCE_TYPES[type_name].fields.values():
        if spec.name in _READ_ONLY:
            continue
        # An operator's view is the record, a tenant's the public model (null where the
        # record has none): only the id and the status are always there.
        kind = _PLAIN[spec.kind]
        describe = _description(spec)
        if spec.name == "id":
            fields[spec.name] = (kind, Field(description=describe))
        else:
            fields[spec.name] = (kind | None, Field(default=None, description=describe))
    for name in public.PUBLIC_FIELDS.get(type_name, ()):
        fields.setdefault(name, (Any, Field(default=None)))
    fields["status"] = (_API_STATUS, Field(description="derived, read-only"))
    fields["error"] = (
        str | None,
        Field(default=None, description="why, when the status is ERROR"),
    )
    return create_model(_class_name(type_name), **fields)


def _wrapper(name: str, field: str, inner: Any, *, forbid: bool) -> type[BaseModel]:
    config = ConfigDict(extra="forbid") if forbid else ConfigDict()
    fields: dict[str, Any] = {field: (inner, ...)}
    return create_model(name, __config__=config, **fields)


# --- refusals --------------------------------------------------------------------------


class _MalformedError(ValidationError):
    """400: the request is not the shape of one (no JSON, no wrapping, no such filter)."""


class _ForbiddenError(ValidationError):
    """403: not this principal's to read or change, whatever the id."""


class _NotFoundError(ValidationError):
    """404."""


class _ConflictError(ConflictError):
    """409: the request contradicts what is stored (the id exists, still referenced)."""


_STATUS_OF: list[tuple[type[ValidationError], int]] = [
    (_MalformedError, 400),
    (_ForbiddenError, 403),
    (_NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
]


def _refusal(exc: Exception, type_name: str, request: Request) -> JSONResponse:
    """The one place an exception becomes an HTTP answer."""
    if isinstance(exc, RequestValidationError):
        exc = _from_request_errors(exc, type_name, request.path_params.get("id"))
    if isinstance(exc, ValidationError):
        status = next(code for cls, code in _STATUS_OF if isinstance(exc, cls))
        return JSONResponse(refusal_body(exc), status_code=status)
    if isinstance(exc, TemporaryError):
        retry = str(max(1, math.ceil(exc.delay)))
        body = error_body("store" if "Keystone" not in str(exc) else "identity", "", str(exc))
        return JSONResponse(body, status_code=503, headers={"Retry-After": retry})
    if isinstance(exc, HTTPException):
        return JSONResponse(error_body("request", "", str(exc.detail)), status_code=exc.status_code)
    if isinstance(exc, EsiError):
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body("server", "", str(exc)), status_code=500)
    # A bug: the log has the traceback, the client no internals.
    log.exception("%s %s failed", request.method, request.url.path)
    return JSONResponse(error_body("server", "", "internal error"), status_code=500)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}
    return kinds.get(type(value), "object")


_KIND_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "list_type": "a list",
}


def _from_request_errors(
    exc: RequestValidationError, type_name: str, path_id: str | None
) -> ValidationError:
    """The first problem FastAPI found, as the ValidationError our validation would raise."""
    if isinstance(exc.body, bytes | bytearray):
        return _MalformedError("request body", "", "must be JSON (Content-Type: application/json)")
    # An unknown field first, as resources.validate reports it first.
    errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    wrapped = exc.body.get(type_name) if isinstance(exc.body, dict) else None
    named = dict(wrapped) if isinstance(wrapped, dict) else {}
    if path_id is not None:
        named["id"] = path_id  # an update names the resource in its path
    obj = object_name(type_name, named)
    shape = f'must be a JSON object {{"{type_name}": {{...}}}}'
    inner: ValidationError | None = None
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = str(error.get("type", ""))
        if loc[:1] == ("query",):
            return _MalformedError("query", str(loc[-1]), str(error.get("msg", "is not valid")))
        if kind == "json_invalid":
            reason = f"is not JSON: {error.get('ctx', {}).get('error', 'cannot be decoded')}"
            return _MalformedError("request body", "", reason)
        if len(loc) <= 2 or loc[1] != type_name:
            # The body itself, or the wrapping around the resource, is wrong.
            return _MalformedError("request body", "", shape)
        if inner is None:
            inner = _field_error(obj, type_name, loc[2:], kind, error)
    return inner if inner is not None else _MalformedError("request body", "", shape)


def _field_error(
    obj: str, type_name: str, loc: tuple[Any, ...], kind: str, error: Mapping[str, Any]
) -> ValidationError:
    field = str(loc[0]) + "".join(f"[{part}]" for part in loc[1:])
    if kind == "missing":
        reason = "is missing"
    elif kind == "extra_forbidden":
        read_only = loc[0] in _READ_ONLY
        reason = "is read-only" if read_only else f"is not a field of {type_name}"
    elif kind in _KIND_NAMES:
        reason = f"must be {_KIND_NAMES[kind]}, not {_json_kind(error.get('input'))}"
    else:
        reason = str(error.get("msg", "is not valid"))
    return ValidationError(obj, field, reason)


# --- reading ---------------------------------------------------------------------------


def _config_of(entry: Entry) -> ConfigRecord:
    try:
        return ConfigRecord.from_value(entry.value)
    except ValidationError as exc:
        # Stored data that does not parse is the server's problem, not the request's.
        raise EsiError(f"{entry.key}: {exc}") from exc


def _present(record: ConfigRecord, state_entry: Entry | None) -> dict[str, Any]:
    """The operator's view of a resource: its body with ``status`` (and ``error``)."""
    state: State | None = None
    unreadable = ""
    if state_entry is not None:
        try:
            state = State.from_value(state_entry.value)
        except ValidationError as exc:
            unreadable = f"{state_entry.key} cannot be read: {exc}"
    body = {k: v for k, v in record.body.items() if k not in _READ_ONLY}
    status, error = ("ERROR", unreadable) if unreadable else api_status(record, state)
    body["status"] = status
    if error:
        body["error"] = error
    return body


def _shown(type_name: str, view: dict[str, Any], who: Principal) -> dict[str, Any]:
    """``view`` as ``who`` sees it: whole for an operator, the public model for a tenant."""
    return view if who.operator else public.public_view(type_name, view)


def _missing(type_name: str, resource_id: str) -> _NotFoundError:
    # The same words for a missing id, a malformed one and another tenant's.
    return _NotFoundError(f"{type_name} {resource_id}", "", "does not exist")


# --- lists -----------------------------------------------------------------------------

_SORT_DIRS = ("asc", "desc")


def _text(value: Any) -> str:
    """A field's value as a query string spells it (``true``, ``26``, ``""`` for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _matches(value: Any, wanted: Sequence[str]) -> bool:
    if isinstance(value, list):
        return any(_matches(item, wanted) for item in value)
    text = _text(value)
    return any(text == w or (isinstance(value, bool) and text == w.lower()) for w in wanted)


def _sort_key(value: Any) -> tuple[bool, Any]:
    # Nulls first, as Neutron's (and PostgreSQL's ascending) order puts them.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return (value is not None, _text(value))
    return (True, value)


def _listed(
    type_name: str,
    views: list[dict[str, Any]],
    query: Sequence[tuple[str, str]],
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """``views`` filtered, sorted and cut to ``fields`` as the query asks (Neutron's rules)."""
    plural = keys.plural(type_name)
    aliases = public.FILTER_ALIASES.get(type_name, {})
    filters: dict[str, list[str]] = {}
    sort_keys: list[str] = []
    sort_dirs: list[str] = []
    only: list[str] = []
    for name, value in query:
        if name == "sort_key":
            sort_keys.append(aliases.get(value, value))
            continue
        if name == "sort_dir":
            sort_dirs.append(value)
            continue
        if name == "fields":
            only.append(value)
            continue
        field = aliases.get(name, name)
        if field not in fields:
            raise _MalformedError("query", name, f"is not a filter of {plural}")
        filters.setdefault(field, []).append(value)
    for sort_key in sort_keys:
        if sort_key not in fields:
            raise _MalformedError("query", "sort_key", f"{sort_key!r} is not a field of {plural}")
    for sort_dir in sort_dirs:
        if sort_dir not in _SORT_DIRS:
            raise _MalformedError("query", "sort_dir", f"{sort_dir!r} is not asc or desc")
    if len(sort_dirs) > len(sort_keys):
        raise _MalformedError("query", "sort_dir", "has no sort_key to go with")
    out = [v for v in views if all(_matches(v.get(f), w) for f, w in filters.items())]
    directions = sort_dirs + ["asc"] * (len(sort_keys) - len(sort_dirs))
    # Stable sorts, the last key first, give the order of all the keys.
    for sort_key, direction in reversed(list(zip(sort_keys, directions, strict=True))):
        out.sort(key=lambda v: _sort_key(v.get(sort_key)), reverse=direction == "desc")
    if only:
        out = [{k: v[k] for k in only if k in v} for v in out]
    return out


# --- the operations --------------------------------------------------------------------


class _Operations:
    """What each route of one resource type does (run in FastAPI's thread pool)."""

    def __init__(self, store: Store, type_name: str) -> None:
        self.store = store
        self.type = type_name
        self.plural = keys.plural(type_name)
        self.owned = type_name in public.OWNED
        self.fields = tuple(RESOURCE_TYPES[type_name].fields)

    # -- who may see what

    def _visible(self, body: Mapping[str, Any], who: Principal) -> bool:
        return not self.owned or who.owns(body)

    def _require(self, resource_id: str, who: Principal) -> tuple[str, ConfigRecord, int]:
        """The resource's name in errors, its ``/config`` record and that key's revision."""
        if not _UUID.match(resource_id):
            raise _missing(self.type, resource_id)
        entry = self.store.get(keys.config(self.type, resource_id))
        if entry is None:
            raise _missing(self.type, resource_id)
        record = _config_of(entry)
        if not self._visible(record.body, who):
            raise _missing(self.type, resource_id)
        return f"{self.type} {resource_id}", record, entry.mod_revision

    def _answer(self, resource_id: str, status_code: int, who: Principal) -> JSONResponse:
        entry = self.store.get(keys.config(self.type, resource_id))
        if entry is None:  # really deleted in between: it is gone
            raise _missing(self.type, resource_id)
        view = _present(_config_of(entry), self.store.get(keys.state(self.type, resource_id)))
        return JSONResponse({self.type: _shown(self.type, view, who)}, status_code=status_code)

    def _tenant_may_set(self, obj: str, given: Mapping[str, Any], who: Principal) -> None:
        """A tenant sets only public fields, for itself, referring to its own objects."""
        if who.operator:
            return
        allowed = public.TENANT_SETS[self.type]
        for field in given:
            if field not in allowed:
                raise ValidationError(obj, field, "is set by the service, not by a tenant")
        tenant = given.get("tenant_id")
        if tenant is not None and tenant != who.tenant_id:
            raise _ForbiddenError(obj, "tenant_id", "is not the project of the token")
        for field, value in given.items():
            target = RESOURCE_TYPES[self.type].fields[field].target
            if target not in public.OWNED or value is None:
                continue
            for rid in value if isinstance(value, list) else [value]:
                found = self.store.get(keys.config(target, str(rid))) if _UUID.match(rid) else None
                if found is None or not who.owns(_config_of(found).body):
                    # As the contract words a reference to nothing: nothing is told.
                    raise ValidationError(
                        obj, field, f"references {target} {rid}, which does not exist"
                    )

    # -- the routes

    def create(self, body: BaseModel, request: Request) -> JSONResponse:
        who, requester = _who(request)
        given = getattr(body, self.type).model_dump(exclude_unset=True)
        fields = {k: v for k, v in given.items() if v is not None}
        # Named as the request named it: an id made up here would name nothing to the client.
        obj = object_name(self.type, fields)
        resource_id = str(fields.setdefault("id", str(uuid.uuid4())))
        self._tenant_may_set(obj, fields, who)
        if "tenant_id" not in fields:
            if not who.tenant_id:
                raise ValidationError(obj, "tenant_id", "is missing (the token names no project)")
            fields["tenant_id"] = who.tenant_id
        # keys.config refuses an id that is no key part, as a 422 naming `id`.
        if self.store.get(keys.config(self.type, resource_id)) is not None:
            raise _ConflictError(obj, "id", "already exists")
        if self.type == _GATEWAY and not set(fields) >= _DERIVED:
            self._create_gateway(obj, fields, requester)
        else:
            # Checked again in the write's transaction: a POST of the same id that lands
            # in between is not overwritten (409 here too).
            expected = {(self.type, resource_id): 0}
            desired.apply(
                self.store, [(self.type, fields)], requested_by=requester, expected=expected
            )
        return _tagged(self._answer(resource_id, 201, who), requester)

    def _create_gateway(
        self, obj: str, fields: dict[str, Any], requester: desired.Requester
    ) -> None:
        """A gateway in the public shape: placed, its names derived, written atomically."""
        if "qos_option_id" not in fields:
            raise ValidationError(
                obj,
                "qos_option_id",
                "is required: choose a QoS option of the internet service "
                "(GET /v2.0/qos_options?internet_service_id=..., "
                "ecl network inet-gw create ... --qos_option_id ID)",
            )
        placement.create(self.store, fields, requested_by=requester)

    def index(self, request: Request) -> JSONResponse:
        who, _ = _who(request)
        states = {}
        for entry in self.store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, self.type)):
            parsed = keys.parse_state_key(entry.key)
            if parsed is not None:
                states[parsed[1]] = entry
        views = []
        for entry in self.store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, self.type)):
            parsed = keys.parse_config_key(entry.key)
            if parsed is None:
                continue
            record = _config_of(entry)
            if self._visible(record.body, who):
                view = _present(record, states.get(parsed[1]))
                views.append(_shown(self.type, view, who))
        fields = (*self.fields, "status") if who.operator else public.PUBLIC_FIELDS[self.type]
        listed = _listed(self.type, views, request.query_params.multi_items(), fields)
        return JSONResponse({self.plural: listed})

    def show(self, id: str, request: Request) -> JSONResponse:
        who, _ = _who(request)
        self._require(id, who)
        return self._answer(id, 200, who)

    def update(self, id: str, body: BaseModel, request: Request) -> JSONResponse:
        who, requester = _who(request)
        obj, record, revision = self._require(id, who)
        if record.marked_for_deletion:
            raise _ConflictError(obj, "", "is being deleted")
        given = getattr(body, self.type).model_dump(exclude_unset=True)
        if given.get("id", id) != id:
            raise ValidationError(obj, "id", "cannot change")
        self._tenant_may_set(obj, given, who)
        merged = {k: v for k, v in record.body.items() if k not in _READ_ONLY}
        for field, value in given.items():
            if value is None:
                merged.pop(field, None)
            else:
                merged[field] = value
        # The merge is based on the record read: a change that landed since is a 409,
        # not silently undone.
        expected = {(self.type, id): revision}
        desired.apply(self.store, [(self.type, merged)], requested_by=requester, expected=expected)
        return _tagged(self._answer(id, 200, who), requester)

    def delete(self, id: str, request: Request) -> JSONResponse:
        who, requester = _who(request)
        self._require(id, who)
        try:
            desired.delete(self.store, [(self.type, id)], requested_by=requester)
        except ValidationError as exc:
            # It exists (checked above): what refuses is a resource that refers to it.
            raise _ConflictError(exc.obj, exc.field, exc.reason) from exc
        return _tagged(self._answer(id, 202, who), requester)


_REQUEST_ID = "X-Request-Id"


def _who(request: Request) -> tuple[Principal, desired.Requester]:
    """The principal, and the requester of the audit trail: its name and the request's id.

    The request's id is the client's, if it sent a sane one.
    """
    principal: Principal = request.state.principal
    given = request.headers.get(_REQUEST_ID, "").strip()
    request_id = given if 0 < len(given) <= 128 and given.isprintable() else str(uuid.uuid4())
    return principal, desired.Requester("api", principal.name, request_id)


def _tagged(response: JSONResponse, who: desired.Requester) -> JSONResponse:
    response.headers[_REQUEST_ID] = who.request_id
    return response


def _endpoint(call: Callable[..., Any], *params: inspect.Parameter) -> Callable[..., Any]:
    """``call`` with the signature FastAPI reads the request by (models made at run time)."""

    def endpoint(**values: Any) -> Any:
        return call(**values)

    endpoint.__signature__ = inspect.Signature(list(params))  # type: ignore[attr-defined]
    endpoint.__name__ = getattr(call, "__name__", "endpoint")
    return endpoint


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


_DESCRIBED = {
    400: "The body is no JSON, or not the resource wrapped in its type; a query parameter "
    "is no filter.",
    401: "No valid token.",
    403: "Not a tenant's to read or change (infrastructure; the catalog's writes; another "
    "tenant_id).",
    404: "No such resource (another tenant's answers so too), or an id that is no UUID.",
    409: "The id exists already, the resource is referenced or being deleted, another "
    "request changed it first, or no downlink has room for a new gateway.",
    413: "The body is over the size limit.",
    422: "A field is wrong: `field` says which, `reason` why.",
    503: "etcd or Keystone is unavailable, or etcd changed meanwhile: try again.",
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": Error, "description": _DESCRIBED[code]}
    if 503 in codes:
        out[503]["headers"] = {
            "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
        }
    return out


def _add_routes(router: APIRouter, store: Store, type_name: str) -> None:
    ops = _Operations(store, type_name)
    plural = keys.plural(type_name)
    article = "an" if type_name[0] in "aeiou" else "a"
    resource: Any = _response_model(type_name)
    one = _wrapper(f"{_class_name(type_name)}Response", type_name, resource, forbid=False)
    many = _wrapper(f"{_class_name(type_name)}List", plural, list[resource], forbid=False)
    create_body = _wrapper(
        f"{_class_name(type_name)}CreateRequest",
        type_name,
        _request_model(type_name, update=False),
        forbid=True,
    )
    update_body = _wrapper(
        f"{_class_name(type_name)}UpdateRequest",
        type_name,
        _request_model(type_name, update=True),
        forbid=True,
    )
    # Any text: an id that is no UUID is a 404, as Neutron answers it.
    id_param = _param("id", Annotated[str, PathParam(description=f"id of the {type_name}")])
    request = _param("request", Request)
    collection = f"/v2.0/{plural}"
    member = f"{collection}/{{id}}"
    tags: list[str | Enum] = [plural]  # the handler finds the resource type by it
    writes = (400, 401, 403, 404, 409, 413, 422, 503)

    router.add_api_route(
        collection,
        _endpoint(ops.create, _param("body", create_body), request),
        methods=["POST"],
        status_code=201,
        response_model=one,
        responses=_responses(*(c for c in writes if c != 404)),
        summary=f"Create {article} {type_name}",
        operation_id=f"create_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        collection,
        _endpoint(ops.index, request),
        methods=["GET"],
        response_model=many,
        responses=_responses(400, 401, 403, 503),
        summary=f"List {plural} (a filter per field; sort_key, sort_dir, fields)",
        operation_id=f"list_{plural}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.show, id_param, request),
        methods=["GET"],
        response_model=one,
        responses=_responses(401, 403, 404, 503),
        summary=f"Show {article} {type_name}",
        operation_id=f"show_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.update, id_param, _param("body", update_body), request),
        methods=["PUT"],
        response_model=one,
        responses=_responses(*writes),
        summary=f"Update {article} {type_name} (the fields given)",
        operation_id=f"update_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.delete, id_param, request),
        methods=["DELETE"],
        status_code=202,
        response_model=one,
        responses=_responses(401, 403, 404, 409, 503),
        summary=f"Delete {article} {type_name} (marked; the job manager removes it)",
        operation_id=f"delete_{type_name}",
        tags=tags,
    )


def _forbidden(type_name: str, method: str, who: Principal) -> ValidationError | None:
    """Why ``who`` may not ``method`` on ``type_name`` at all, whatever the id; else None."""
    if who.operator:
        return None
    plural = keys.plural(type_name)
    if public.is_infrastructure(type_name):
        return _ForbiddenError(
            plural, "", "are the operator's: a tenant can neither read nor change them"
        )
    if type_name in public.CATALOG and method != "GET":
        return _ForbiddenError(plural, "", "are read-only to a tenant")
    return None


# Declared for the OpenAPI document (and clients generated from it); the check itself is
# in the route handler, before the body is read, so an anonymous request learns nothing.
_TOKEN_HEADER = APIKeyHeader(name="X-Auth-Token", scheme_name="AuthToken", auto_error=False)
_BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False)


def router(store: Store, auth: Authenticator) -> APIRouter:
    """``/v2.0/<plural>[/<id>]`` for every resource type, for the principals of ``auth``."""

    class Route(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            type_name = keys.singular(str(self.tags[0]))

            async def guarded(request: Request) -> Response:
                try:
                    token = presented_token(request.headers)
                    # Keystone answers over HTTP: not on the event loop.
                    principal = (
                        None if token is None else await run_in_threadpool(auth.principal, token)
                    )
                    if principal is None:
                        body = error_body(
                            "request", "X-Auth-Token", "is missing or not a valid token"
                        )
                        return JSONResponse(
                            body,
                            status_code=401,
                            headers={"WWW-Authenticate": "Bearer"},
                        )
                    request.state.principal = principal
                    refused = _forbidden(type_name, request.method, principal)
                    if refused is not None:
                        return JSONResponse(refusal_body(refused), status_code=403)
                    return await handler(request)
                except Exception as exc:
                    return _refusal(exc, type_name, request)

            return guarded

    api = APIRouter(
        route_class=Route,
        dependencies=[Security(_TOKEN_HEADER), Security(_BEARER)],
        responses={401: {"model": Error, "description": "No valid token."}},
    )
    for type_name in RESOURCE_TYPES:
        _add_routes(api, store, type_name)
    return api
