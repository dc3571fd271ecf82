"""The northbound API: ``/v2.0/<plural>[/<id>]`` for every resource type of the contract.

It speaks the original's northbound API (a Gohan server, Neutron style): the same paths,
the body of one resource wrapped in its type and a list in its plural::

    POST   /v2.0/qos_options          {"qos_option": {...}}      201 {"qos_option": {...}}
    GET    /v2.0/qos_options          ?tenant_id=&name=&status=  200 {"qos_options": [...]}
    GET    /v2.0/qos_options/<id>                                200 {"qos_option": {...}}
    PUT    /v2.0/qos_options/<id>     {"qos_option": {...}}      200 {"qos_option": {...}}
    DELETE /v2.0/qos_options/<id>                                202 {"qos_option": {...}}

The contract (CONTRACT.md) shows only what the API stored; the wrapping is the original's
as its published investigation shows it (``POST /v2.0/internet_gateways`` with
``{"internet_gateway": {...}}``, ``gohan client ... show`` answering the same wrapping).

Writes go through :mod:`nornir_esi.contract.desired`, so the API validates exactly as ``nornir-esi
apply`` does and writes one transaction. POST creates (the id is a new UUID when the
body has none; an existing id is a conflict). PUT is a partial update, Neutron style as
the original's: the fields given replace the stored ones, ``null`` removes an optional
field, the rest is kept; the id cannot change. DELETE is the first step of the two-step delete
(``marked_for_deletion``, ``PENDING_DELETE``); the resource is listed until the job manager
has really deleted it.

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

``error`` (the reason ``/state`` holds) is in the body only when the status is ERROR. A
``/state`` that cannot be read is an ERROR too, saying so: a person has to look.

Every refusal is JSON ``{"error", "object", "field", "reason"}``, from one handler:

====  ===========================================================================
400   the body is no JSON, or not ``{"<type>": {...}}``
401   no valid token (``X-Auth-Token: <token>`` or ``Authorization: Bearer <token>``)
404   no such resource
409   the id exists already; a resource still referenced, or being deleted; changed by
      another request between this one's read and its write (nothing written)
422   a field, or the id in the path, is wrong (the ValidationError's field and reason)
503   etcd is unavailable, or changed meanwhile (``Retry-After``)
====  ===========================================================================

Tokens come from a YAML file ``{name: token}`` (:func:`load_tokens`); the name of the token
a request came with is kept as ``request.state.principal``. A write records it in the
version's audit trail (:class:`nornir_esi.contract.desired.Requester`), with the request's id: the
client's ``X-Request-Id`` or a new UUID, answered in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import math
import uuid
from collections.abc import Callable, Coroutine, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Request, Security
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
from starlette.exceptions import HTTPException
from starlette.responses import Response

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.contract.resources import API_STATUSES, RESOURCE_TYPES, FieldSpec, object_name
from nornir_esi.doors.views import api_status
from nornir_esi.exceptions import ConflictError, EsiError, TemporaryError, ValidationError
from nornir_esi.store.base import Entry, Store

__all__ = ["MIN_TOKEN_LENGTH", "TokenAuth", "load_tokens", "router"]

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused: they could be guessed."""

_UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Derived on read, never desired state: a body that carries them is refused.
_READ_ONLY = frozenset({"status", "error"})
# Literal["PENDING_CREATE", ...], built from the one tuple of statuses.
_API_STATUS: Any = Literal.__getitem__(API_STATUSES)


# --- tokens ----------------------------------------------------------------------------


def load_tokens(path: str | Path) -> dict[str, str]:
    """``{name: token}`` from a YAML file; a file that is not such a map is refused."""
    source = f"token file {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(source, "", f"cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(source, "", f"is not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(source, "", "must be a map of names to tokens")
    return _checked_tokens(data, source)


def _checked_tokens(tokens: Mapping[Any, Any], source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, token in tokens.items():
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(source, repr(name), "is not a name")
        if not isinstance(token, str):
            raise ValidationError(source, name, "must be a string token")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValidationError(source, name, f"is shorter than {MIN_TOKEN_LENGTH} characters")
        # One token, one principal: the audit trail must know who it was.
        if token in seen:
            raise ValidationError(source, name, f"has the same token as {seen[token]}")
        seen[token] = name
        out[name] = token
    return out


class TokenAuth:
    """Who a request is, from ``X-Auth-Token`` or ``Authorization: Bearer``."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        checked = _checked_tokens(tokens, "API tokens")
        self._tokens = [(name, token.encode()) for name, token in checked.items()]

    def principal(self, headers: Mapping[str, str]) -> str | None:
        """The name of the token presented, None when there is no valid one."""
        presented = headers.get("x-auth-token")
        if presented is None:
            scheme, _, credentials = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            presented = credentials.strip()
        candidate = presented.encode()
        found = None
        # Compared with every token, in constant time, so timing tells nothing.
        for name, token in self._tokens:
            if hmac.compare_digest(token, candidate):
                found = name
        return found


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
        elif spec.required and spec.name != "id":
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
        kind = _PLAIN[spec.kind]
        describe = _description(spec)
        if spec.required:
            fields[spec.name] = (kind, Field(description=describe))
        else:
            fields[spec.name] = (kind | None, Field(default=None, description=describe))
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


class Error(BaseModel):
    """Every refusal of the API."""

    error: str
    object: str
    field: str
    reason: str


# --- refusals --------------------------------------------------------------------------


class _MalformedError(ValidationError):
    """400: the request is not the shape of one (no JSON, no wrapping)."""


class _NotFoundError(ValidationError):
    """404."""


class _ConflictError(ConflictError):
    """409: the request contradicts what is stored (the id exists, still referenced)."""


_STATUS_OF: list[tuple[type[ValidationError], int]] = [
    (_MalformedError, 400),
    (_NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
]


def _body(exc: ValidationError) -> dict[str, str]:
    return {"error": str(exc), "object": exc.obj, "field": exc.field, "reason": exc.reason}


def _refusal(exc: Exception, type_name: str, request: Request) -> JSONResponse:
    """The one place an exception becomes an HTTP answer."""
    if isinstance(exc, RequestValidationError):
        exc = _from_request_errors(exc, type_name, request.path_params.get("id"))
    if isinstance(exc, ValidationError):
        status = next(code for cls, code in _STATUS_OF if isinstance(exc, cls))
        return JSONResponse(_body(exc), status_code=status)
    if isinstance(exc, TemporaryError):
        body = {"error": str(exc), "object": "store", "field": "", "reason": str(exc)}
        retry = str(max(1, math.ceil(exc.delay)))
        return JSONResponse(body, status_code=503, headers={"Retry-After": retry})
    if isinstance(exc, HTTPException):
        reason = str(exc.detail)
        body = {"error": reason, "object": "request", "field": "", "reason": reason}
        return JSONResponse(body, status_code=exc.status_code)
    if isinstance(exc, EsiError):
        log.error("%s %s failed: %s", request.method, request.url.path, exc)
        error = str(exc)
    else:
        # A bug: the log has the traceback, the client no internals.
        log.exception("%s %s failed", request.method, request.url.path)
        error = "internal error"
    body = {"error": error, "object": "server", "field": "", "reason": "internal error"}
    return JSONResponse(body, status_code=500)


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
        if loc[:1] == ("path",):
            return ValidationError(f"{type_name} {error.get('input')}", "id", "is not a UUID")
        if loc[:1] == ("query",):
            return ValidationError("query", str(loc[-1]), str(error.get("msg", "is not valid")))
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
    """The API's view of a resource: its body with ``status`` (and ``error``)."""
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


def _view(store: Store, type_name: str, resource_id: str) -> dict[str, Any] | None:
    entry = store.get(keys.config(type_name, resource_id))
    if entry is None:
        return None
    return _present(_config_of(entry), store.get(keys.state(type_name, resource_id)))


def _existing(store: Store, type_name: str, resource_id: str) -> tuple[str, ConfigRecord, int]:
    """The resource's name in errors, its ``/config`` record and that key's revision."""
    entry = store.get(keys.config(type_name, resource_id))
    if entry is None:
        raise _NotFoundError(f"{type_name} {resource_id}", "", "does not exist")
    return f"{type_name} {resource_id}", _config_of(entry), entry.mod_revision


# --- the operations --------------------------------------------------------------------


class _Operations:
    """What each route of one resource type does (run in FastAPI's thread pool)."""

    def __init__(self, store: Store, type_name: str) -> None:
        self.store = store
        self.type = type_name
        self.plural = keys.plural(type_name)

    def _answer(self, resource_id: str, status_code: int) -> JSONResponse:
        view = _view(self.store, self.type, resource_id)
        if view is None:  # really deleted in between: it is gone
            raise _NotFoundError(f"{self.type} {resource_id}", "", "does not exist")
        return JSONResponse({self.type: view}, status_code=status_code)

    def create(self, body: BaseModel, request: Request) -> JSONResponse:
        who = _requester(request)
        fields = getattr(body, self.type).model_dump(exclude_none=True)
        resource_id = fields.setdefault("id", str(uuid.uuid4()))
        obj = object_name(self.type, fields)
        # keys.config refuses an id that is no key part, as a 422 naming `id`.
        if self.store.get(keys.config(self.type, str(resource_id))) is not None:
            raise _ConflictError(obj, "id", "already exists")
        # Checked again in the write's transaction: a POST of the same id that lands in
        # between is not overwritten (409 here too).
        expected = {(self.type, str(resource_id)): 0}
        desired.apply(self.store, [(self.type, fields)], requested_by=who, expected=expected)
        return _tagged(self._answer(str(resource_id), 201), who)

    def index(self, tenant_id: str | None, name: str | None, status: str | None) -> JSONResponse:
        states = {}
        for entry in self.store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, self.type)):
            parsed = keys.parse_state_key(entry.key)
            if parsed is not None:
                states[parsed[1]] = entry
        out = []
        for entry in self.store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, self.type)):
            parsed = keys.parse_config_key(entry.key)
            if parsed is None:
                continue
            view = _present(_config_of(entry), states.get(parsed[1]))
            if tenant_id is not None and view.get("tenant_id") != tenant_id:
                continue
            if name is not None and view.get("name") != name:
                continue
            if status is not None and view["status"] != status:
                continue
            out.append(view)
        return JSONResponse({self.plural: out})

    def show(self, id: str) -> JSONResponse:
        self._require(id)
        return self._answer(id, 200)

    def update(self, id: str, body: BaseModel, request: Request) -> JSONResponse:
        who = _requester(request)
        obj, record, revision = self._require(id)
        if record.marked_for_deletion:
            raise _ConflictError(obj, "", "is being deleted")
        given = getattr(body, self.type).model_dump(exclude_unset=True)
        if given.get("id", id) != id:
            raise ValidationError(obj, "id", "cannot change")
        merged = {k: v for k, v in record.body.items() if k not in _READ_ONLY}
        for field, value in given.items():
            if value is None:
                merged.pop(field, None)
            else:
                merged[field] = value
        # The merge is based on the record read: a change that landed since is a 409,
        # not silently undone.
        expected = {(self.type, id): revision}
        desired.apply(self.store, [(self.type, merged)], requested_by=who, expected=expected)
        return _tagged(self._answer(id, 200), who)

    def delete(self, id: str, request: Request) -> JSONResponse:
        who = _requester(request)
        self._require(id)
        try:
            desired.delete(self.store, [(self.type, id)], requested_by=who)
        except ValidationError as exc:
            # It exists (checked above): what refuses is a resource that refers to it.
            raise _ConflictError(exc.obj, exc.field, exc.reason) from exc
        return _tagged(self._answer(id, 202), who)

    def _require(self, resource_id: str) -> tuple[str, ConfigRecord, int]:
        return _existing(self.store, self.type, resource_id)


_REQUEST_ID = "X-Request-Id"


def _requester(request: Request) -> desired.Requester:
    """The token's name and the request's id (the client's, if it sent a sane one)."""
    given = request.headers.get(_REQUEST_ID, "").strip()
    request_id = given if 0 < len(given) <= 128 and given.isprintable() else str(uuid.uuid4())
    return desired.Requester("api", str(request.state.principal), request_id)


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


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The body is no JSON, or not the resource wrapped in its type.",
        401: "No valid token.",
        404: "No such resource.",
        409: "The id exists already, the resource is referenced or being deleted, or "
        "another request changed it first.",
        422: "A field (or the id in the path) is wrong: `field` says which, `reason` why.",
        503: "etcd is unavailable, or changed meanwhile: try again.",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": Error, "description": described[code]}
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
    id_param = _param(
        "id", Annotated[str, PathParam(pattern=_UUID_PATTERN, description=f"id of the {type_name}")]
    )
    collection = f"/v2.0/{plural}"
    member = f"{collection}/{{id}}"
    tags: list[str | Enum] = [plural]  # the handler finds the resource type by it

    router.add_api_route(
        collection,
        _endpoint(ops.create, _param("body", create_body), _param("request", Request)),
        methods=["POST"],
        status_code=201,
        response_model=one,
        responses=_responses(400, 401, 409, 422, 503),
        summary=f"Create {article} {type_name}",
        operation_id=f"create_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        collection,
        _endpoint(
            ops.index,
            _param("tenant_id", Annotated[str | None, Query()], None),
            _param("name", Annotated[str | None, Query()], None),
            _param("status", Annotated[_API_STATUS | None, Query()], None),
        ),
        methods=["GET"],
        response_model=many,
        responses=_responses(401, 422, 503),
        summary=f"List {plural}",
        operation_id=f"list_{plural}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.show, id_param),
        methods=["GET"],
        response_model=one,
        responses=_responses(401, 404, 422, 503),
        summary=f"Show {article} {type_name}",
        operation_id=f"show_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.update, id_param, _param("body", update_body), _param("request", Request)),
        methods=["PUT"],
        response_model=one,
        responses=_responses(400, 401, 404, 409, 422, 503),
        summary=f"Update {article} {type_name} (the fields given)",
        operation_id=f"update_{type_name}",
        tags=tags,
    )
    router.add_api_route(
        member,
        _endpoint(ops.delete, id_param, _param("request", Request)),
        methods=["DELETE"],
        status_code=202,
        response_model=one,
        responses=_responses(401, 404, 409, 422, 503),
        summary=f"Delete {article} {type_name} (marked; the job manager removes it)",
        operation_id=f"delete_{type_name}",
        tags=tags,
    )


# Declared for the OpenAPI document (and clients generated from it); the check itself is
# in the route handler, before the body is read, so an anonymous request learns nothing.
_TOKEN_HEADER = APIKeyHeader(name="X-Auth-Token", scheme_name="AuthToken", auto_error=False)
_BEARER = HTTPBearer(scheme_name="Bearer", auto_error=False)


def router(store: Store, tokens: Mapping[str, str]) -> APIRouter:
    """``/v2.0/<plural>[/<id>]`` for every resource type, for the holders of ``tokens``."""
    auth = TokenAuth(tokens)

    class Route(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            type_name = keys.singular(str(self.tags[0]))

            async def guarded(request: Request) -> Response:
                principal = auth.principal(request.headers)
                if principal is None:
                    refusal = ValidationError(
                        "request", "X-Auth-Token", "is missing or not a valid token"
                    )
                    return JSONResponse(
                        _body(refusal), status_code=401, headers={"WWW-Authenticate": "Bearer"}
                    )
                request.state.principal = principal
                try:
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
