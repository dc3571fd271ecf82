"""Every JSON shape nornir-esi stores in etcd, written once.

Each record reads with ``from_value(obj_or_json_text)`` and writes with ``to_value()``
(a JSON-able object) or ``to_json()`` (compact text). Reading then writing a value the
original orchestrator stored gives back an equal JSON value; the seed and the captured
scenario are the test of that (``tests/test_records.py``).

======================================  ==============================================
key (see ``keys.py``)                   record
======================================  ==============================================
``/config/v2.0/<plural>/<id>``          :class:`ConfigRecord` (body: the resource)
``/config/v2.0/heat_templates/<id>``    :class:`ConfigRecord` (body: :class:`HeatTemplate`)
``/esi-worker/config/v2.0/...``         :class:`WorkerCache`
``/jobs/all/<job_id>``                  :class:`JobEntry` ``[handler, Job, attempts]``
``/esi-worker/heat_stacks/v2.0/...``    :class:`HeatStack`
``/esi-worker/job_state/v2.0/...``      :class:`JobState`
``/state/v2.0/...``                     :class:`State`
``/monitoring/v2.0/...``                :class:`Monitoring`
``/esi-worker/applied/v2.0/...``        :class:`Applied` (ours)
``/esi-worker/audit/v2.0/.../request``  :class:`AuditRequest` (ours)
``/esi-worker/audit/v2.0/.../jobs/*``   :class:`AuditJob` (ours)
``/esi-worker/audit/v2.0/.../stack``    :class:`AuditStack` (ours)
======================================  ==============================================

The values of ``/jobs/ready|waiting|working|finished`` and ``/job_manager_id`` are plain
strings, not JSON, and have no record.

A value that does not have its record's shape raises :class:`ValidationError` naming
the record and the field: data in etcd that does not parse will not parse on a retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources as importlib_resources
from typing import Any

from nornir_esi.contract.keys import ACTIONS
from nornir_esi.contract.secrets import is_reference
from nornir_esi.exceptions import ValidationError

__all__ = [
    "AUDIT_OUTCOMES",
    "AUDIT_VIAS",
    "ON_FAILURE",
    "PARAM_TYPES",
    "Applied",
    "AuditJob",
    "AuditRequest",
    "AuditRouter",
    "AuditStack",
    "ConfigRecord",
    "HeatStack",
    "HeatTemplate",
    "Job",
    "JobEntry",
    "JobState",
    "Monitoring",
    "Param",
    "ResourceRef",
    "State",
    "WorkerCache",
    "shipped_heat_templates",
    "utc_now",
]

ON_FAILURE = ("fail", "ignore")
PARAM_TYPES = ("value", "output_key", "list", "secret")


# --- reading helpers -------------------------------------------------------------------


def _load(value: object, what: str) -> Any:
    """Decode JSON text (str or bytes); anything else is taken as already decoded."""
    if isinstance(value, str | bytes | bytearray):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValidationError(what, "", f"is not JSON: {exc}") from exc
    return value


def _object(value: object, what: str, field_name: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(what, field_name, f"must be a JSON object, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _get(d: dict[str, Any], name: str, kind: type, what: str) -> Any:
    """``d[name]``, which must be present and of ``kind`` (bool is not an int here)."""
    if name not in d:
        raise ValidationError(what, name, "is missing")
    return _check(d[name], name, kind, what)


def _get_opt(d: dict[str, Any], name: str, kind: type, what: str) -> Any:
    """``d[name]`` if present (None when absent), of ``kind`` when present."""
    if name not in d:
        return None
    return _check(d[name], name, kind, what)


def _check(value: object, name: str, kind: type, what: str) -> Any:
    # JSON true/false decode to bool, a subclass of int: a version of `true` is wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(what, name, f"must be {kind.__name__}, not {_kind(value)}")
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- config ----------------------------------------------------------------------------


@dataclass
class ConfigRecord:
    """``/config/v2.0/<plural>/<id>`` and ``/config/v2.0/heat_templates/<id>``.

    The original stored ``body`` as JSON text; the seed shows it decoded. Both are read;
    it is written as an object, so one system's writes always look the same.
    """

    body: dict[str, Any]
    version: int
    marked_for_deletion: bool = False

    @classmethod
    def from_value(cls, value: object) -> ConfigRecord:
        what = "config record"
        d = _object(_load(value, what), what)
        body = _load(_get(d, "body", object, what), what)
        marked = _get_opt(d, "marked_for_deletion", bool, what)
        return cls(
            body=_object(body, what, "body"),
            version=_get(d, "version", int, what),
            marked_for_deletion=bool(marked),
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "body": dict(self.body),
            "version": self.version,
            "marked_for_deletion": self.marked_for_deletion,
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class HeatTemplate:
    """The body of a template record.

    ``parameter_mappings`` maps param name -> mapping (``mapping.py``); its order is the
    order of the params in every job planned from it, so it is kept as read.
    """

    handler: str
    watch: list[Any]
    id: str
    template_file: str
    parameter_mappings: dict[str, Any]

    @classmethod
    def from_value(cls, value: object) -> HeatTemplate:
        what = "heat template"
        d = _object(_load(value, what), what)
        tid = _get_opt(d, "id", str, what)
        if tid:
            what = f"heat template {tid}"
        return cls(
            handler=_get(d, "handler", str, what),
            watch=_get(d, "watch", list, what),
            id=_get(d, "id", str, what),
            template_file=_get(d, "template_file", str, what),
            parameter_mappings=_get(d, "parameter_mappings", dict, what),
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "watch": list(self.watch),
            "id": self.id,
            "template_file": self.template_file,
            "parameter_mappings": dict(self.parameter_mappings),
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())

    def to_record(self, version: int = 1) -> ConfigRecord:
        """The record stored under ``/config/v2.0/heat_templates/<id>``."""
        return ConfigRecord(body=self.to_value(), version=version)


@dataclass
class WorkerCache:
    """``/esi-worker/config/v2.0/<plural>/<id>``: the config last planned from."""

    body: dict[str, Any]
    deleted: bool
    version: int

    @classmethod
    def from_value(cls, value: object) -> WorkerCache:
        what = "worker config"
        d = _object(_load(value, what), what)
        body = _load(_get(d, "body", object, what), what)
        return cls(
            body=_object(body, what, "body"),
            deleted=_get(d, "deleted", bool, what),
            version=_get(d, "version", int, what),
        )

    def to_value(self) -> dict[str, Any]:
        return {"body": dict(self.body), "deleted": self.deleted, "version": self.version}

    def to_json(self) -> str:
        return _json_text(self.to_value())


# --- jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceRef:
    """One resource in a param's provenance."""

    resource_type: str
    resource_id: str

    @classmethod
    def from_value(cls, value: object) -> ResourceRef:
        what = "resource reference"
        d = _object(_load(value, what), what)
        return cls(
            resource_type=_get(d, "resource_type", str, what),
            resource_id=_get(d, "resource_id", str, what),
        )

    def to_value(self) -> dict[str, Any]:
        return {"resource_type": self.resource_type, "resource_id": self.resource_id}

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class Param:
    """A job parameter with its provenance (``resources``, in the order walked).

    ``type`` is ``value`` (a resolved literal of any JSON type), ``output_key`` (value
    ``{"output_key", "resource_type", "resource_id"}``, resolved from another stack's
    outputs when the job runs), ``list`` (a list of such entries) or ``secret`` (ours: value
    a secret reference ``{"ref": "<scheme>:<name>"}``, resolved by the worker when it
    needs the secret, see :mod:`nornir_esi.contract.secrets`; the original had no such type and
    stored passwords as ``value``).
    """

    param: str
    type: str
    value: Any
    resources: list[ResourceRef] = field(default_factory=list)

    @classmethod
    def from_value(cls, value: object) -> Param:
        what = "param"
        d = _object(_load(value, what), what)
        name = _get(d, "param", str, what)
        what = f"param {name}"
        ptype = _get(d, "type", str, what)
        if ptype not in PARAM_TYPES:
            raise ValidationError(what, "type", f"is not one of {', '.join(PARAM_TYPES)}")
        if "value" not in d:
            raise ValidationError(what, "value", "is missing")
        if ptype == "secret" and not is_reference(d["value"]):
            raise ValidationError(what, "value", 'of a secret must be {"ref": "<scheme>:<name>"}')
        refs = _get(d, "resources", list, what)
        return cls(
            param=name,
            type=ptype,
            value=d["value"],
            resources=[ResourceRef.from_value(r) for r in refs],
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "type": self.type,
            "value": self.value,
            "resources": [r.to_value() for r in self.resources],
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass(kw_only=True)
class Job:
    """The job body stored in ``/jobs/all/<job_id>`` (inside a :class:`JobEntry`)."""

    id: str
    action: str
    handler: str
    resource_type: str
    resource_id: str
    version: int
    job_name: str
    is_first: bool
    is_last: bool
    on_failure: str
    dependency: list[str]
    resource_input: dict[str, Any]
    params: list[Param]

    @classmethod
    def from_value(cls, value: object) -> Job:
        what = "job"
        d = _object(_load(value, what), what)
        jid = _get_opt(d, "id", str, what)
        if jid:
            what = f"job {jid}"
        action = _get(d, "action", str, what)
        if action not in ACTIONS:
            raise ValidationError(what, "action", f"is not one of {', '.join(ACTIONS)}")
        on_failure = _get(d, "on_failure", str, what)
        if on_failure not in ON_FAILURE:
            raise ValidationError(what, "on_failure", f"is not one of {', '.join(ON_FAILURE)}")
        dependency = _get(d, "dependency", list, what)
        for dep in dependency:
            _check(dep, "dependency", str, what)
        return cls(
            id=_get(d, "id", str, what),
            action=action,
            handler=_get(d, "handler", str, what),
            resource_type=_get(d, "resource_type", str, what),
            resource_id=_get(d, "resource_id", str, what),
            version=_get(d, "version", int, what),
            job_name=_get(d, "job_name", str, what),
            is_first=_get(d, "is_first", bool, what),
            is_last=_get(d, "is_last", bool, what),
            on_failure=on_failure,
            dependency=list(dependency),
            resource_input=_get(d, "resource_input", dict, what),
            params=[Param.from_value(p) for p in _get(d, "params", list, what)],
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "handler": self.handler,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "version": self.version,
            "job_name": self.job_name,
            "is_first": self.is_first,
            "is_last": self.is_last,
            "on_failure": self.on_failure,
            "dependency": list(self.dependency),
            "resource_input": dict(self.resource_input),
            "params": [p.to_value() for p in self.params],
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class JobEntry:
    """``/jobs/all/<job_id>``: ``[handler, {job}, attempts]``.

    ``attempts`` was 0 in every capture; it is kept so a retry count can be stored
    without changing the shape.
    """

    handler: str
    job: Job
    attempts: int = 0

    @classmethod
    def from_value(cls, value: object) -> JobEntry:
        what = "job entry"
        v = _load(value, what)
        if not isinstance(v, list) or len(v) != 3:
            raise ValidationError(what, "", "must be [handler, {job}, attempts]")
        handler = _check(v[0], "handler", str, what)
        job = Job.from_value(_object(v[1], what, "job"))
        if job.handler != handler:
            raise ValidationError(
                f"job {job.id}", "handler", f"{job.handler!r} differs from the entry's {handler!r}"
            )
        return cls(handler=handler, job=job, attempts=_check(v[2], "attempts", int, what))

    def to_value(self) -> list[Any]:
        return [self.handler, self.job.to_value(), self.attempts]

    def to_json(self) -> str:
        return _json_text(self.to_value())


# --- results ---------------------------------------------------------------------------


@dataclass
class HeatStack:
    """``/esi-worker/heat_stacks/v2.0/<plural>/<id>``.

    ``stack_id`` is ``<type>_<id>`` (``""`` once deleted), ``id`` is ``<type>:<id>``.
    """

    stack_id: str
    tenant_id: str
    stack_status: str
    output: list[Any]
    status_reason: str
    id: str

    @classmethod
    def from_value(cls, value: object) -> HeatStack:
        what = "heat stack"
        d = _object(_load(value, what), what)
        return cls(
            stack_id=_get(d, "stack_id", str, what),
            tenant_id=_get(d, "tenant_id", str, what),
            stack_status=_get(d, "stack_status", str, what),
            output=_get(d, "output", list, what),
            status_reason=_get(d, "status_reason", str, what),
            id=_get(d, "id", str, what),
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "stack_id": self.stack_id,
            "tenant_id": self.tenant_id,
            "stack_status": self.stack_status,
            "output": list(self.output),
            "status_reason": self.status_reason,
            "id": self.id,
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class JobState:
    """``/esi-worker/job_state/v2.0/<plural>/<id>``: the workflow's results so far.

    Starts as ``{}``; a field is written only once a job has produced it, so absent
    (None) and empty (``[]``) stay distinguishable.
    """

    heat_outputs: list[Any] | None = None
    state_monitoring: dict[str, Any] | None = None

    @classmethod
    def from_value(cls, value: object) -> JobState:
        what = "job state"
        d = _object(_load(value, what), what)
        return cls(
            heat_outputs=_get_opt(d, "heat_outputs", list, what),
            state_monitoring=_get_opt(d, "state_monitoring", dict, what),
        )

    def to_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.heat_outputs is not None:
            out["heat_outputs"] = list(self.heat_outputs)
        if self.state_monitoring is not None:
            out["state_monitoring"] = dict(self.state_monitoring)
        return out

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass(kw_only=True)
class State:
    """``/state/v2.0/<plural>/<id>``: the terminal outcome of one config version.

    Stored as ``{"state": {...}, "version": N, "error": ""}``. Inside ``state`` the
    job results are JSON *text*, as the original wrote them; only present fields are
    written (non-workable resources have just ``worker_state``).
    """

    worker_state: str
    heat_outputs: str | None = None
    state_monitoring: str | None = None
    version: int
    error: str = ""

    @classmethod
    def from_job_state(
        cls, worker_state: str, version: int, job_state: JobState | None = None, error: str = ""
    ) -> State:
        """The ``/state`` a last job writes from the workflow's ``job_state``.

        ``json.dumps`` with its default separators reproduces the original's text
        (``{"downlink": "ACTIVE", "uplink": "ACTIVE"}``, ``[]``).
        """
        js = job_state or JobState()
        return cls(
            worker_state=worker_state,
            heat_outputs=None if js.heat_outputs is None else json.dumps(js.heat_outputs),
            state_monitoring=(
                None if js.state_monitoring is None else json.dumps(js.state_monitoring)
            ),
            version=version,
            error=error,
        )

    @classmethod
    def from_value(cls, value: object) -> State:
        what = "state"
        d = _object(_load(value, what), what)
        inner = _get(d, "state", dict, what)
        return cls(
            worker_state=_get(inner, "worker_state", str, what),
            heat_outputs=_get_opt(inner, "heat_outputs", str, what),
            state_monitoring=_get_opt(inner, "state_monitoring", str, what),
            version=_get(d, "version", int, what),
            error=_get(d, "error", str, what),
        )

    def measured(self) -> dict[str, Any] | None:
        """``state_monitoring`` decoded: the monitoring worker's measure (a gateway's
        ``{"downlink": "ACTIVE", "uplink": "ACTIVE"}``); None when there is none."""
        if not self.state_monitoring:
            return None
        what = "state"
        return _object(_load(self.state_monitoring, what), what, "state_monitoring")

    def to_value(self) -> dict[str, Any]:
        inner: dict[str, Any] = {"worker_state": self.worker_state}
        if self.heat_outputs is not None:
            inner["heat_outputs"] = self.heat_outputs
        if self.state_monitoring is not None:
            inner["state_monitoring"] = self.state_monitoring
        return {"state": inner, "version": self.version, "error": self.error}

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class Monitoring:
    """``/monitoring/v2.0/<plural>/<id>``: live status fields beside ``version``.

    The status fields differ per resource type (``router``, ``interface``, ...), so
    they are kept as a mapping rather than named attributes.
    """

    status: dict[str, Any]
    version: int

    @classmethod
    def from_value(cls, value: object) -> Monitoring:
        what = "monitoring"
        d = _object(_load(value, what), what)
        version = _get(d, "version", int, what)
        return cls(status={k: v for k, v in d.items() if k != "version"}, version=version)

    def to_value(self) -> dict[str, Any]:
        if "version" in self.status:
            raise ValidationError("monitoring", "version", "is not a status field")
        return {**self.status, "version": self.version}

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass
class Applied:
    """``/esi-worker/applied/v2.0/<plural>/<id>`` (ours): the params the heat worker last
    pushed to the routers, and of which config version."""

    version: int
    params: dict[str, Any]

    @classmethod
    def from_value(cls, value: object) -> Applied:
        what = "applied"
        d = _object(_load(value, what), what)
        return cls(version=_get(d, "version", int, what), params=_get(d, "params", dict, what))

    def to_value(self) -> dict[str, Any]:
        return {"version": self.version, "params": dict(self.params)}

    def to_json(self) -> str:
        return _json_text(self.to_value())


# --- the audit trail (ours) ------------------------------------------------------------


def utc_now() -> str:
    """Now, as the audit records store times: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


AUDIT_VIAS = ("api", "cli", "netbox")
AUDIT_OUTCOMES = ("planned", "finished", "failed")


def _one_of(d: dict[str, Any], name: str, allowed: tuple[str, ...], what: str) -> str:
    value: str = _get(d, name, str, what)
    if value not in allowed:
        raise ValidationError(what, name, f"{value!r} is not one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class AuditRequest:
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/request``: who asked for a version.

    Written in the transaction that writes the version to ``/config``. ``via`` is the front
    door (``api``, ``cli``, ``netbox``); ``principal`` who came through it (the API token's
    name, the OS user, the NetBox user); ``request_id`` the door's id of the request (the
    API's ``X-Request-Id``, NetBox's request id), ``""`` when it has none; ``change`` what
    the version is (``created``, ``updated``, ``deleting``); ``at`` ISO 8601 UTC. Never a
    body or a secret: the version's body is in ``/config`` while it lives.
    """

    via: str
    principal: str
    request_id: str
    change: str
    at: str

    @classmethod
    def from_value(cls, value: object) -> AuditRequest:
        what = "audit request"
        d = _object(_load(value, what), what)
        return cls(
            via=_one_of(d, "via", AUDIT_VIAS, what),
            principal=_get(d, "principal", str, what),
            request_id=_get(d, "request_id", str, what),
            change=_get(d, "change", str, what),
            at=_get(d, "at", str, what),
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "via": self.via,
            "principal": self.principal,
            "request_id": self.request_id,
            "change": self.change,
            "at": self.at,
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass(frozen=True)
class AuditJob:
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/jobs/<job_id>``: how a job ended.

    Written first by the job manager with the job (``outcome`` ``planned``, ``planned``
    the time, nothing else), then by the worker in the transaction that ends the job
    (``/jobs/finished``), so a job has one record, last from the worker whose claim held:
    ``worker`` its id, ``attempts`` the handler runs it took there, ``outcome`` ``finished``
    or ``failed`` (with ``error``), ``started``/``ended``, ``planned`` kept. Times are ISO
    8601 UTC; records written before ``planned`` existed read as ``""``.
    """

    handler: str
    action: str
    worker: str
    attempts: int
    outcome: str
    error: str
    started: str
    ended: str
    planned: str = ""

    @classmethod
    def planned_at(cls, handler: str, action: str, at: str) -> AuditJob:
        """The record the job manager writes with a job it plans."""
        return cls(handler, action, "", 0, "planned", "", "", "", planned=at)

    @classmethod
    def from_value(cls, value: object) -> AuditJob:
        what = "audit job"
        d = _object(_load(value, what), what)
        action = _one_of(d, "action", ACTIONS, what)
        return cls(
            handler=_get(d, "handler", str, what),
            action=action,
            worker=_get(d, "worker", str, what),
            attempts=_get(d, "attempts", int, what),
            outcome=_one_of(d, "outcome", AUDIT_OUTCOMES, what),
            error=_get(d, "error", str, what),
            started=_get(d, "started", str, what),
            ended=_get(d, "ended", str, what),
            planned=_get_opt(d, "planned", str, what) or "",
        )

    def to_value(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "action": self.action,
            "worker": self.worker,
            "attempts": self.attempts,
            "outcome": self.outcome,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
            "planned": self.planned,
        }

    def to_json(self) -> str:
        return _json_text(self.to_value())


@dataclass(frozen=True)
class AuditRouter:
    """A router a version's heat job changed: its role in the pair, its ``edge_router`` id
    and its name when the job ran."""

    role: str
    id: str
    name: str


@dataclass(frozen=True)
class AuditStack:
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/stack``: what a version's heat job
    left: the stack, as :class:`HeatStack` has it but without its outputs (configuration),
    and the routers it changed, ``"routers": {"<role>": {"id": ..., "name": ...}}``.

    The routers are how the audit still finds the commits of a resource whose ``/config``
    (and with it the way to its pair) is gone. Records written before they were kept have
    no ``routers`` (read as none, written back without).
    """

    stack_id: str
    stack_status: str
    status_reason: str
    routers: tuple[AuditRouter, ...] = ()

    @classmethod
    def of(
        cls, stack: HeatStack, routers: Mapping[str, Mapping[str, Any]] | None = None
    ) -> AuditStack:
        """From the stack and the routers' ``edge_router`` bodies by role (``Pair.by_role``)."""
        changed = tuple(
            AuditRouter(role, str(body.get("id", "")), str(body.get("name", "")))
            for role, body in (routers or {}).items()
        )
        return cls(stack.stack_id, stack.stack_status, stack.status_reason, changed)

    @classmethod
    def from_value(cls, value: object) -> AuditStack:
        what = "audit stack"
        d = _object(_load(value, what), what)
        routers = []
        for role, recorded in (_get_opt(d, "routers", dict, what) or {}).items():
            where = f"routers.{role}"
            router = _object(recorded, what, where)
            id_, name = (_check(router.get(k), f"{where}.{k}", str, what) for k in ("id", "name"))
            routers.append(AuditRouter(role, id_, name))
        return cls(
            stack_id=_get(d, "stack_id", str, what),
            stack_status=_get(d, "stack_status", str, what),
            status_reason=_get(d, "status_reason", str, what),
            routers=tuple(routers),
        )

    def to_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stack_id": self.stack_id,
            "stack_status": self.stack_status,
            "status_reason": self.status_reason,
        }
        if self.routers:
            out["routers"] = {r.role: {"id": r.id, "name": r.name} for r in self.routers}
        return out

    def to_json(self) -> str:
        return _json_text(self.to_value())


# --- shipped data ----------------------------------------------------------------------


def shipped_heat_templates() -> dict[str, ConfigRecord]:
    """The template records shipped in the package, by template id.

    They are the original's records (``templates/heat_records/<id>.json``), for
    seeding ``/config/v2.0/heat_templates/`` in a fresh etcd.
    """
    folder = importlib_resources.files("nornir_esi") / "templates" / "heat_records"
    out: dict[str, ConfigRecord] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        record = ConfigRecord.from_value(entry.read_text(encoding="utf-8"))
        template = HeatTemplate.from_value(record.body)
        if entry.name != f"{template.id}.json":
            raise ValidationError(
                f"heat template {template.id}", "id", f"does not match its file {entry.name}"
            )
        out[template.id] = record
    return out
