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

Each record's shape is written once, as its dataclass fields in the contract's byte-exact
key order; the field table of :mod:`nornir_esi.contract.fields` reads and writes them. A
value that does not have its record's shape raises :class:`ValidationError` naming the
record and the field: data in etcd that does not parse will not parse on a retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources as importlib_resources
from typing import Any

from nornir_esi.contract.fields import Record, json_text, load, object_of, stored, typed
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
AUDIT_VIAS = ("api", "cli", "netbox")
AUDIT_OUTCOMES = ("planned", "finished", "failed")


# --- config ----------------------------------------------------------------------------


@dataclass
class ConfigRecord(Record, what="config record"):
    """``/config/v2.0/<plural>/<id>`` and ``/config/v2.0/heat_templates/<id>``.

    The original stored ``body`` as JSON text; the seed shows it decoded. Both are read;
    it is written as an object, so one system's writes always look the same.
    """

    body: dict[str, Any] = field(metadata=stored(decode=True))
    version: int
    marked_for_deletion: bool = field(default=False, metadata=stored(optional=True))


@dataclass
class HeatTemplate(Record, what="heat template", named_by="id"):
    """The body of a template record.

    ``parameter_mappings`` maps param name -> mapping (``mapping.py``); its order is the
    order of the params in every job planned from it, so it is kept as read.
    """

    handler: str
    watch: list[Any]
    id: str
    template_file: str
    parameter_mappings: dict[str, Any]

    def to_record(self, version: int = 1) -> ConfigRecord:
        """The record stored under ``/config/v2.0/heat_templates/<id>``."""
        return ConfigRecord(body=self.to_value(), version=version)


@dataclass
class WorkerCache(Record, what="worker config"):
    """``/esi-worker/config/v2.0/<plural>/<id>``: the config last planned from."""

    body: dict[str, Any] = field(metadata=stored(decode=True))
    deleted: bool
    version: int


# --- jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceRef(Record, what="resource reference"):
    """One resource in a param's provenance."""

    resource_type: str
    resource_id: str


@dataclass
class Param(Record, what="param", named_by="param"):
    """A job parameter with its provenance (``resources``, in the order walked).

    ``type`` is ``value`` (a resolved literal of any JSON type), ``output_key`` (value
    ``{"output_key", "resource_type", "resource_id"}``, resolved from another stack's
    outputs when the job runs), ``list`` (a list of such entries) or ``secret`` (ours: value
    a secret reference ``{"ref": "<scheme>:<name>"}``, resolved by the worker when it
    needs the secret, see :mod:`nornir_esi.contract.secrets`; the original had no such type
    and stored passwords as ``value``).
    """

    param: str
    type: str = field(metadata=stored(choices=PARAM_TYPES))
    value: Any
    resources: list[ResourceRef] = field(default_factory=list)

    def check(self, what: str) -> None:
        """A secret's value is a reference, never the secret."""
        if self.type == "secret" and not is_reference(self.value):
            raise ValidationError(what, "value", 'of a secret must be {"ref": "<scheme>:<name>"}')


@dataclass(kw_only=True)
class Job(Record, what="job", named_by="id"):
    """The job body stored in ``/jobs/all/<job_id>`` (inside a :class:`JobEntry`)."""

    id: str
    action: str = field(metadata=stored(choices=ACTIONS))
    handler: str
    resource_type: str
    resource_id: str
    version: int
    job_name: str
    is_first: bool
    is_last: bool
    on_failure: str = field(metadata=stored(choices=ON_FAILURE))
    dependency: list[str]
    resource_input: dict[str, Any]
    params: list[Param]


@dataclass
class JobEntry:
    """``/jobs/all/<job_id>``: ``[handler, {job}, attempts]``, an array, not an object.

    ``attempts`` was 0 in every capture; it is kept so a retry count can be stored
    without changing the shape.
    """

    handler: str
    job: Job
    attempts: int = 0

    @classmethod
    def from_value(cls, value: object) -> JobEntry:
        """The entry of a stored value: JSON text, bytes or the decoded array."""
        what = "job entry"
        v = load(value, what)
        if not isinstance(v, list) or len(v) != 3:
            raise ValidationError(what, "", "must be [handler, {job}, attempts]")
        handler = typed(v[0], "handler", str, what)
        job = Job.from_value(object_of(v[1], what, "job"))
        if job.handler != handler:
            raise ValidationError(
                f"job {job.id}", "handler", f"{job.handler!r} differs from the entry's {handler!r}"
            )
        return cls(handler=handler, job=job, attempts=typed(v[2], "attempts", int, what))

    def to_value(self) -> list[Any]:
        """The JSON-able array stored."""
        return [self.handler, self.job.to_value(), self.attempts]

    def to_json(self) -> str:
        """:meth:`to_value` as compact JSON text."""
        return json_text(self.to_value())


# --- results ---------------------------------------------------------------------------


@dataclass
class HeatStack(Record, what="heat stack"):
    """``/esi-worker/heat_stacks/v2.0/<plural>/<id>``.

    ``stack_id`` is ``<type>_<id>`` (``""`` once deleted), ``id`` is ``<type>:<id>``.
    """

    stack_id: str
    tenant_id: str
    stack_status: str
    output: list[Any]
    status_reason: str
    id: str


@dataclass
class JobState(Record, what="job state"):
    """``/esi-worker/job_state/v2.0/<plural>/<id>``: the workflow's results so far.

    Starts as ``{}``; a field is written only once a job has produced it, so absent
    (None) and empty (``[]``) stay distinguishable.
    """

    heat_outputs: list[Any] | None = field(default=None, metadata=stored(optional=True))
    state_monitoring: dict[str, Any] | None = field(default=None, metadata=stored(optional=True))


_IN_STATE = stored(inside="state")
_OPTIONAL_IN_STATE = stored(inside="state", optional=True)


@dataclass(kw_only=True)
class State(Record, what="state"):
    """``/state/v2.0/<plural>/<id>``: the terminal outcome of one config version.

    Stored as ``{"state": {...}, "version": N, "error": ""}``. Inside ``state`` the
    job results are JSON *text*, as the original wrote them; only present fields are
    written (non-workable resources have just ``worker_state``).
    """

    worker_state: str = field(metadata=_IN_STATE)
    heat_outputs: str | None = field(default=None, metadata=_OPTIONAL_IN_STATE)
    state_monitoring: str | None = field(default=None, metadata=_OPTIONAL_IN_STATE)
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

    def measured(self) -> dict[str, Any] | None:
        """``state_monitoring`` decoded: the monitoring worker's measure.

        A gateway's is ``{"downlink": "ACTIVE", "uplink": "ACTIVE"}``; None when there is
        none.
        """
        if not self.state_monitoring:
            return None
        return object_of(load(self.state_monitoring, "state"), "state", "state_monitoring")


@dataclass
class Monitoring:
    """``/monitoring/v2.0/<plural>/<id>``: live status fields beside ``version``.

    The status fields differ per resource type (``router``, ``interface``, ...), so
    they are kept as a mapping rather than named attributes, and read without a table.
    """

    status: dict[str, Any]
    version: int

    @classmethod
    def from_value(cls, value: object) -> Monitoring:
        """The record of a stored value: JSON text, bytes or the decoded object."""
        what = "monitoring"
        d = object_of(load(value, what), what)
        if "version" not in d:
            raise ValidationError(what, "version", "is missing")
        version = typed(d["version"], "version", int, what)
        return cls(status={k: v for k, v in d.items() if k != "version"}, version=version)

    def to_value(self) -> dict[str, Any]:
        """The JSON-able object stored: the status fields, then ``version``."""
        if "version" in self.status:
            raise ValidationError("monitoring", "version", "is not a status field")
        return {**self.status, "version": self.version}

    def to_json(self) -> str:
        """:meth:`to_value` as compact JSON text."""
        return json_text(self.to_value())


@dataclass
class Applied(Record, what="applied"):
    """``/esi-worker/applied/v2.0/<plural>/<id>`` (ours): what the heat worker last pushed.

    The params it pushed to the routers, and of which config version.
    """

    version: int
    params: dict[str, Any]


# --- the audit trail (ours) ------------------------------------------------------------


def utc_now() -> str:
    """Now, as the audit records store times: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AuditRequest(Record, what="audit request"):
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/request``: who asked for a version.

    Written in the transaction that writes the version to ``/config``. ``via`` is the front
    door (``api``, ``cli``, ``netbox``); ``principal`` who came through it (the API token's
    name, the OS user, the NetBox user); ``request_id`` the door's id of the request (the
    API's ``X-Request-Id``, NetBox's request id), ``""`` when it has none; ``change`` what
    the version is (``created``, ``updated``, ``deleting``); ``at`` ISO 8601 UTC. Never a
    body or a secret: the version's body is in ``/config`` while it lives.
    """

    via: str = field(metadata=stored(choices=AUDIT_VIAS, echo=True))
    principal: str
    request_id: str
    change: str
    at: str


@dataclass(frozen=True)
class AuditJob(Record, what="audit job"):
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/jobs/<job_id>``: how a job ended.

    Written first by the job manager with the job (``outcome`` ``planned``, ``planned``
    the time, nothing else), then by the worker in the transaction that ends the job
    (``/jobs/finished``), so a job has one record, last from the worker whose claim held:
    ``worker`` its id, ``attempts`` the handler runs it took there, ``outcome`` ``finished``
    or ``failed`` (with ``error``), ``started``/``ended``, ``planned`` kept. Times are ISO
    8601 UTC; records written before ``planned`` existed read as ``""``.
    """

    handler: str
    action: str = field(metadata=stored(choices=ACTIONS, echo=True))
    worker: str
    attempts: int
    outcome: str = field(metadata=stored(choices=AUDIT_OUTCOMES, echo=True))
    error: str
    started: str
    ended: str
    planned: str = field(default="", metadata=stored(optional=True))

    @classmethod
    def planned_at(cls, handler: str, action: str, at: str) -> AuditJob:
        """The record the job manager writes with a job it plans."""
        return cls(handler, action, "", 0, "planned", "", "", "", planned=at)


@dataclass(frozen=True)
class AuditRouter:
    """A router a version's heat job changed.

    Its role in the pair, its ``edge_router`` id and its name when the job ran.
    """

    role: str
    id: str
    name: str


def _read_routers(value: object, what: str) -> tuple[AuditRouter, ...]:
    """``{"<role>": {"id": ..., "name": ...}}`` as routers, in the order stored."""
    routers = []
    for role, recorded in typed(value, "routers", dict, what).items():
        where = f"routers.{role}"
        router = object_of(recorded, what, where)
        id_, name = (typed(router.get(k), f"{where}.{k}", str, what) for k in ("id", "name"))
        routers.append(AuditRouter(role, id_, name))
    return tuple(routers)


def _write_routers(routers: tuple[AuditRouter, ...]) -> dict[str, Any] | None:
    """The routers by role; none are written as no key."""
    return {r.role: {"id": r.id, "name": r.name} for r in routers} or None


@dataclass(frozen=True)
class AuditStack(Record, what="audit stack"):
    """``/esi-worker/audit/v2.0/<plural>/<id>/<version>/stack``: what a version's heat job left.

    The stack, as :class:`HeatStack` has it but without its outputs (configuration), and
    the routers it changed, ``"routers": {"<role>": {"id": ..., "name": ...}}``. The
    routers are how the audit still finds the commits of a resource whose ``/config``
    (and with it the way to its pair) is gone. Records written before they were kept have
    no ``routers`` (read as none, written back without).
    """

    stack_id: str
    stack_status: str
    status_reason: str
    routers: tuple[AuditRouter, ...] = field(
        default=(), metadata=stored(optional=True, read=_read_routers, write=_write_routers)
    )

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
