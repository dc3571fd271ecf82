"""Workflows: which jobs a new ``/config`` version needs (CONTRACT sections 4 and 5).

Pure: a config record, the job manager's cached view of the previous version and the
template records in; jobs out. The job manager writes them.

- create: ``create:heat_worker`` (first) -> ``create:monitoring_worker`` (last); a type
  with a monitoring template only gets the monitoring job, first and last at once;
- update: ``delete:monitoring_worker`` (first, ``on_failure: ignore``) ->
  ``modify:heat_worker`` -> ``create:monitoring_worker`` (last, depends on both);
- delete (``marked_for_deletion``): ``logical_delete`` by the type's first handler;
- a type without templates is non-workable: no job, ``READ_COMPLETE`` at once;
- a version whose jobs cannot be built (a mapping that finds no value: a resource it uses
  is gone) ends at once with ``<ACTION>_FAILED`` and the reason (:func:`unplannable`).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from nornir_esi.contract import keys
from nornir_esi.contract.mapping import Lookup, evaluate
from nornir_esi.contract.records import ConfigRecord, HeatTemplate, Job, State, WorkerCache
from nornir_esi.contract.resources import RESOURCE_TYPES

__all__ = ["HEAT_WORKER", "MONITORING_WORKER", "Plan", "plan", "unplannable"]

HEAT_WORKER = "heat_worker"
MONITORING_WORKER = "monitoring_worker"
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class Plan:
    """What a config version needs: jobs in dependency order, or a state written at once."""

    jobs: list[Job] = field(default_factory=list)
    state: State | None = None


def _suffix() -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def plan(
    resource_type: str,
    resource_id: str,
    record: ConfigRecord,
    cached: WorkerCache | None,
    templates: Mapping[str, HeatTemplate],
    lookup: Lookup,
) -> Plan:
    """The workflow for ``record``, given the cache of the previous version planned."""
    # The template ids are the type's (the origin's template_path: gw_interface_internet).
    rtype = RESOURCE_TYPES.get(resource_type)
    heat = templates.get(rtype.heat_template or "") if rtype else templates.get(resource_type)
    monitoring = templates.get(
        (rtype.monitoring_template or "") if rtype else f"{resource_type}_monitoring"
    )
    if heat is None and monitoring is None:
        worker_state = "DELETE_COMPLETED" if record.marked_for_deletion else "READ_COMPLETE"
        return Plan(state=State(worker_state=worker_state, version=record.version, error=""))

    def job(
        action: str,
        template: HeatTemplate,
        *,
        first: bool,
        last: bool,
        depends: list[Job],
        on_failure: str = "fail",
    ) -> Job:
        handler = template.handler
        return Job(
            id=keys.job_id(action, handler, resource_type, resource_id, record.version, _suffix()),
            action=action,
            handler=handler,
            resource_type=resource_type,
            resource_id=resource_id,
            version=record.version,
            job_name=keys.job_name(resource_type, resource_id, record.version),
            is_first=first,
            is_last=last,
            on_failure=on_failure,
            dependency=[d.id for d in depends],
            resource_input=dict(record.body),
            params=evaluate(
                template.parameter_mappings,
                resource_type,
                record.body,
                lookup,
                version=record.version,
            ),
        )

    if record.marked_for_deletion:
        template = heat if heat is not None else monitoring
        assert template is not None
        return Plan(jobs=[job("logical_delete", template, first=True, last=True, depends=[])])

    jobs: list[Job] = []
    update = cached is not None and not cached.deleted
    if update and monitoring is not None:
        jobs.append(
            job("delete", monitoring, first=True, last=False, depends=[], on_failure="ignore")
        )
    if heat is not None:
        jobs.append(
            job(
                "modify" if update else "create",
                heat,
                first=not jobs,
                last=False,
                depends=list(jobs),
            )
        )
    if monitoring is not None:
        jobs.append(job("create", monitoring, first=not jobs, last=True, depends=list(jobs)))
    else:
        jobs[-1].is_last = True
    return Plan(jobs=jobs)


def unplannable(record: ConfigRecord, cached: WorkerCache | None, reason: str) -> Plan:
    """The plan of a version no workflow can be built for: its failed state, at once."""
    if record.marked_for_deletion:
        worker_state = "DELETE_FAILED"
    elif cached is not None and not cached.deleted:
        worker_state = "MODIFY_FAILED"
    else:
        worker_state = "CREATE_FAILED"
    return Plan(state=State(worker_state=worker_state, version=record.version, error=reason))
