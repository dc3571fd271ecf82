"""Every etcd key nornir-esi reads or writes, spelled in this module only.

The layout is the original orchestrator's (``CONTRACT.md`` section 3), so that stored
data stays interchangeable with it::

    /config/v2.0/<plural>/<id>                     desired state (front doors write)
    /config/v2.0/heat_templates/<template_id>      template records (static)
    /esi-worker/config/v2.0/<plural>/<id>          the job manager's planning cache
    /esi-worker/heat_stacks/v2.0/<plural>/<id>     the stack a heat job left behind
    /esi-worker/job_state/v2.0/<plural>/<id>       results of the running workflow
    /state/v2.0/<plural>/<id>                      terminal state of the last version
    /monitoring/v2.0/<plural>/<id>                 live status
    /esi-worker/audit/v2.0/<plural>/<id>/<version>/{request,stack,jobs/<job_id>}
                                                   the audit trail (ours; outlives the resource)
    /esi-worker/netbox/v2.0/<plural>/<id>          what a NetBox sync wrote (ours)
    /jobs/{all,ready,waiting,working,finished}/<job_id>
    /job_manager_id

A job id is ``<action>:<handler>:<resource_type>:<resource_id>:<version>:<suffix>``
and a job name (shared by the jobs of one workflow) ``<resource_type>:<resource_id>:<version>``.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Sequence
from typing import NamedTuple

from nornir_esi.exceptions import ValidationError

__all__ = [
    "ACTIONS",
    "APPLIED_PREFIX",
    "AUDIT_PREFIX",
    "CONFIG_PREFIX",
    "HEAT_STACKS_PREFIX",
    "HEAT_TEMPLATES_PREFIX",
    "JOBS_ALL",
    "JOBS_FINISHED",
    "JOBS_PREFIX",
    "JOBS_READY",
    "JOBS_WAITING",
    "JOBS_WORKING",
    "JOB_MANAGER_ID",
    "JOB_STATE_PREFIX",
    "MONITORING_PREFIX",
    "NETBOX_PREFIX",
    "PAIR_QUEUE_PREFIX",
    "PLURALS",
    "STATE_PREFIX",
    "WORKER_CONFIG_PREFIX",
    "AuditKey",
    "JobId",
    "applied",
    "audit_job",
    "audit_jobs",
    "audit_prefix",
    "audit_request",
    "audit_stack",
    "config",
    "heat_stack",
    "heat_template",
    "job_all",
    "job_finished",
    "job_id",
    "job_id_of",
    "job_name",
    "job_ready",
    "job_state",
    "job_waiting",
    "job_working",
    "monitoring",
    "netbox_synced",
    "pair_queue",
    "parse_audit_key",
    "parse_config_key",
    "parse_job_id",
    "parse_state_key",
    "plural",
    "singular",
    "state",
    "type_prefix",
    "worker_config",
]

# Resource type -> the plural used in keys. Spelled out rather than derived ("+s")
# because the plural is part of the stored contract: a new type must be added here
# on purpose, and an unknown plural in a key is then recognisably foreign.
PLURALS: dict[str, str] = {
    "edge_router": "edge_routers",
    "er_physical_interface": "er_physical_interfaces",
    "ha_router": "ha_routers",
    "ha_interface": "ha_interfaces",
    "internet_service": "internet_services",
    "qos_option": "qos_options",
    "internet_gateway": "internet_gateways",
    "public_ip_pool": "public_ip_pools",
    "public_ip": "public_ips",
    "network": "networks",
    "subnet": "subnets",
    "gw_interface": "gw_interfaces",
    "static_route": "static_routes",
}
_SINGULARS = {p: s for s, p in PLURALS.items()}

CONFIG_PREFIX = "/config/v2.0/"
HEAT_TEMPLATES_PREFIX = CONFIG_PREFIX + "heat_templates/"
WORKER_CONFIG_PREFIX = "/esi-worker/config/v2.0/"
HEAT_STACKS_PREFIX = "/esi-worker/heat_stacks/v2.0/"
# Ours, beyond the original's keys: what the heat worker last pushed for a resource (the
# params of that version), so a modify can take the old version's stanzas off the routers.
APPLIED_PREFIX = "/esi-worker/applied/v2.0/"
JOB_STATE_PREFIX = "/esi-worker/job_state/v2.0/"
# Ours: the audit trail, per resource version (who asked for it, the jobs that ran it, the
# stack it left). Nothing removes it with the resource: a trail outlives what it traces.
AUDIT_PREFIX = "/esi-worker/audit/v2.0/"
# Ours: the pair transactions waiting for a router pair, in order, across processes
# (``store.mutex``): ``<prefix><primary>/<secondary>/<holder>``, each bound to its lease.
PAIR_QUEUE_PREFIX = "/esi-worker/pair_queue/v2.0/"
# Ours: which /config resources a NetBox sync wrote (``netbox.sync`` deletes only those).
NETBOX_PREFIX = "/esi-worker/netbox/v2.0/"
STATE_PREFIX = "/state/v2.0/"
MONITORING_PREFIX = "/monitoring/v2.0/"

JOBS_PREFIX = "/jobs/"
JOBS_ALL = JOBS_PREFIX + "all/"
JOBS_READY = JOBS_PREFIX + "ready/"
JOBS_WAITING = JOBS_PREFIX + "waiting/"
JOBS_WORKING = JOBS_PREFIX + "working/"
JOBS_FINISHED = JOBS_PREFIX + "finished/"
_JOB_QUEUES = (JOBS_ALL, JOBS_READY, JOBS_WAITING, JOBS_WORKING, JOBS_FINISHED)

JOB_MANAGER_ID = "/job_manager_id"

ACTIONS = ("create", "modify", "delete", "logical_delete")

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_RE = re.compile(r"^[a-z0-9]{5}$")


def plural(resource_type: str) -> str:
    """``edge_router`` -> ``edge_routers``; an unknown type is a ValidationError."""
    try:
        return PLURALS[resource_type]
    except KeyError:
        raise ValidationError(
            f"resource type {resource_type!r}", "", "is not a known resource type"
        ) from None


def singular(plural_name: str) -> str:
    """``edge_routers`` -> ``edge_router``; an unknown plural is a ValidationError."""
    try:
        return _SINGULARS[plural_name]
    except KeyError:
        raise ValidationError(
            f"resource plural {plural_name!r}", "", "is not a known resource type"
        ) from None


def _resource_key(prefix: str, resource_type: str, resource_id: str) -> str:
    # An empty id or one with "/" would silently address another key (or a prefix).
    if not resource_id or "/" in resource_id:
        raise ValidationError(f"{resource_type} {resource_id!r}", "id", "is not a valid key part")
    return f"{prefix}{plural(resource_type)}/{resource_id}"


def config(resource_type: str, resource_id: str) -> str:
    """``/config/v2.0/<plural>/<id>``: the desired state of a resource."""
    return _resource_key(CONFIG_PREFIX, resource_type, resource_id)


def heat_template(template_id: str) -> str:
    """``/config/v2.0/heat_templates/<template_id>``."""
    if not template_id or "/" in template_id:
        raise ValidationError(f"heat template {template_id!r}", "id", "is not a valid key part")
    return HEAT_TEMPLATES_PREFIX + template_id


def worker_config(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/config/v2.0/<plural>/<id>``: the job manager's planning cache."""
    return _resource_key(WORKER_CONFIG_PREFIX, resource_type, resource_id)


def applied(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/applied/v2.0/<plural>/<id>``: the last pushed version's params."""
    return _resource_key(APPLIED_PREFIX, resource_type, resource_id)


def pair_queue(routers: Sequence[str]) -> str:
    """``/esi-worker/pair_queue/v2.0/<primary>/<secondary>/``: who waits for the pair."""
    for name in routers:
        if not name or "/" in name:
            raise ValidationError(f"router {name!r}", "name", "is not a valid key part")
    return PAIR_QUEUE_PREFIX + "".join(f"{name}/" for name in routers)


def heat_stack(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/heat_stacks/v2.0/<plural>/<id>``."""
    return _resource_key(HEAT_STACKS_PREFIX, resource_type, resource_id)


def job_state(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/job_state/v2.0/<plural>/<id>``."""
    return _resource_key(JOB_STATE_PREFIX, resource_type, resource_id)


def state(resource_type: str, resource_id: str) -> str:
    """``/state/v2.0/<plural>/<id>``."""
    return _resource_key(STATE_PREFIX, resource_type, resource_id)


def monitoring(resource_type: str, resource_id: str) -> str:
    """``/monitoring/v2.0/<plural>/<id>``."""
    return _resource_key(MONITORING_PREFIX, resource_type, resource_id)


def netbox_synced(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/netbox/v2.0/<plural>/<id>`` (ours): a NetBox sync wrote this resource."""
    return _resource_key(NETBOX_PREFIX, resource_type, resource_id)


def audit_prefix(resource_type: str, resource_id: str) -> str:
    """``/esi-worker/audit/v2.0/<plural>/<id>/``: every audit record of one resource."""
    return _resource_key(AUDIT_PREFIX, resource_type, resource_id) + "/"


def _audit_version(resource_type: str, resource_id: str, version: int) -> str:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"{resource_type} {resource_id}", "version", "must be positive")
    return f"{audit_prefix(resource_type, resource_id)}{version}/"


def audit_request(resource_type: str, resource_id: str, version: int) -> str:
    """``.../<plural>/<id>/<version>/request``: who asked for this version, through what."""
    return _audit_version(resource_type, resource_id, version) + "request"


def audit_stack(resource_type: str, resource_id: str, version: int) -> str:
    """``.../<plural>/<id>/<version>/stack``: the Heat stack this version's job left."""
    return _audit_version(resource_type, resource_id, version) + "stack"


def audit_jobs(resource_type: str, resource_id: str, version: int) -> str:
    """``.../<plural>/<id>/<version>/jobs/``: the audit records of the version's jobs."""
    return _audit_version(resource_type, resource_id, version) + "jobs/"


def audit_job(job_id_: str) -> str:
    """``.../<plural>/<id>/<version>/jobs/<job_id>``: how one job of the version ended."""
    parts = parse_job_id(job_id_)
    return audit_jobs(parts.resource_type, parts.resource_id, parts.version) + job_id_


class AuditKey(NamedTuple):
    """The parts of an audit key: ``kind`` is ``request``, ``stack`` or ``job``."""

    resource_type: str
    resource_id: str
    version: int
    kind: str
    job_id: str


def parse_audit_key(key: str) -> AuditKey | None:
    """An audit key's parts; None for any other key."""
    parsed = _parse_resource_key(AUDIT_PREFIX, "/".join(key.split("/")[:6]))
    rest = key.split("/")[6:]
    if parsed is None or not rest or not rest[0].isdigit() or int(rest[0]) < 1:
        return None
    version, tail = int(rest[0]), rest[1:]
    if tail in (["request"], ["stack"]):
        return AuditKey(*parsed, version, tail[0], "")
    if len(tail) == 2 and tail[0] == "jobs" and tail[1]:
        return AuditKey(*parsed, version, "job", tail[1])
    return None


def type_prefix(prefix: str, resource_type: str) -> str:
    """Every key of one resource type under ``prefix``: ``/state/v2.0/internet_gateways/``."""
    return f"{prefix}{plural(resource_type)}/"


def parse_state_key(key: str) -> tuple[str, str] | None:
    """``/state/v2.0/<plural>/<id>`` -> ``(resource_type, id)``; None for other keys."""
    return _parse_resource_key(STATE_PREFIX, key)


def parse_config_key(key: str) -> tuple[str, str] | None:
    """``/config/v2.0/<plural>/<id>`` -> ``(resource_type, id)``.

    None for template records and for anything that is not a resource's config key,
    so a watch on :data:`CONFIG_PREFIX` can skip what it does not plan from.
    """
    return _parse_resource_key(CONFIG_PREFIX, key)


def _parse_resource_key(prefix: str, key: str) -> tuple[str, str] | None:
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix) :].split("/")
    if len(parts) != 2 or not parts[1]:
        return None
    resource_type = _SINGULARS.get(parts[0])
    if resource_type is None:
        return None
    return resource_type, parts[1]


def _job_key(prefix: str, job_id_: str) -> str:
    if not job_id_ or "/" in job_id_:
        raise ValidationError(f"job {job_id_!r}", "id", "is not a valid key part")
    return prefix + job_id_


def job_all(job_id_: str) -> str:
    """``/jobs/all/<job_id>``: value ``[handler, {job}, attempts]``."""
    return _job_key(JOBS_ALL, job_id_)


def job_ready(job_id_: str) -> str:
    """``/jobs/ready/<job_id>``: value the handler name."""
    return _job_key(JOBS_READY, job_id_)


def job_waiting(job_id_: str) -> str:
    """``/jobs/waiting/<job_id>``: value the handler name."""
    return _job_key(JOBS_WAITING, job_id_)


def job_working(job_id_: str) -> str:
    """``/jobs/working/<job_id>``: value the claiming worker's reservation id."""
    return _job_key(JOBS_WORKING, job_id_)


def job_finished(job_id_: str) -> str:
    """``/jobs/finished/<job_id>``: empty value."""
    return _job_key(JOBS_FINISHED, job_id_)


def job_id_of(key: str) -> str | None:
    """The job id of any ``/jobs/<queue>/<job_id>`` key; None for other keys."""
    for prefix in _JOB_QUEUES:
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            return rest if rest and "/" not in rest else None
    return None


class JobId(NamedTuple):
    """The parts of a job id."""

    action: str
    handler: str
    resource_type: str
    resource_id: str
    version: int
    suffix: str


def job_id(
    action: str,
    handler: str,
    resource_type: str,
    resource_id: str,
    version: int,
    suffix: str | None = None,
) -> str:
    """``create:heat_worker:internet_gateway:<id>:1:gt36x``.

    The random suffix keeps two plans of the same version (after a job manager
    failover) from colliding on one key; pass ``suffix`` only to rebuild a known id.
    """
    if suffix is None:
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
    obj = f"job {action}:{handler}:{resource_type}:{resource_id}:{version}:{suffix}"
    if action not in ACTIONS:
        raise ValidationError(obj, "action", f"is not one of {', '.join(ACTIONS)}")
    if not _SUFFIX_RE.match(suffix):
        raise ValidationError(obj, "suffix", "is not 5 characters of [a-z0-9]")
    for field, part in (
        ("handler", handler),
        ("resource_type", resource_type),
        ("resource_id", resource_id),
    ):
        # ":" would shift the parts when the id is parsed back; "/" would leave the queue.
        if not part or ":" in part or "/" in part:
            raise ValidationError(obj, field, "must be non-empty without ':' or '/'")
    plural(resource_type)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(obj, "version", "must be a positive integer")
    return f"{action}:{handler}:{resource_type}:{resource_id}:{version}:{suffix}"


def job_name(resource_type: str, resource_id: str, version: int) -> str:
    """``<resource_type>:<resource_id>:<version>``, shared by the jobs of one workflow."""
    return f"{resource_type}:{resource_id}:{version}"


def parse_job_id(job_id_: str) -> JobId:
    """Split a job id into its parts; a malformed one is a ValidationError."""
    parts = job_id_.split(":")
    if len(parts) != 6:
        raise ValidationError(
            f"job {job_id_!r}",
            "id",
            "is not <action>:<handler>:<resource_type>:<resource_id>:<version>:<suffix>",
        )
    action, handler, resource_type, resource_id, version, suffix = parts
    if not re.fullmatch(r"[0-9]+", version):
        raise ValidationError(f"job {job_id_!r}", "version", "is not a positive integer")
    # Rebuilding validates every part with the same rules as job_id().
    job_id(action, handler, resource_type, resource_id, int(version), suffix)
    return JobId(action, handler, resource_type, resource_id, int(version), suffix)
