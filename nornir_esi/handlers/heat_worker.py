"""``heat_worker``: change a resource on its router pair as one transaction, record the stack.

For a gateway or a family member (the types with a service, :mod:`nornir_esi.services`):

1. compute each router's change from desired state (the service's ``changes``): create,
   modify (against the params of the version applied before, ``/esi-worker/applied/...``)
   or delete; a gateway's modify sets its carried members again after it
   (:mod:`nornir_esi.services.carried`);
2. apply it to the pair as one transaction (``pair.apply_pair``: both locked, loaded and
   commit-checked, then ``commit confirmed`` on the VRRP backup router, verified, the same
   on the master, both confirmed only when both verified; any failure leaves both routers
   on their previous configuration); the job id is the commit comment. Jobs of this
   process for the same pair at the same moment share a transaction
   (:mod:`nornir_esi.pair.coalesce`); each keeps its own outcome;
3. create, update or delete the resource's Heat stack and record it under
   ``/esi-worker/heat_stacks/...`` and in the job state's ``heat_outputs``;
4. remember what was applied (or forget it, after a delete), and keep the stack's id and
   status and the pair's routers (id and name by role) in the version's audit trail
   (``keys.audit_stack``), with the job's end: the audit finds the routers' commits by
   them once the gateway, and with it the way to its pair, is gone.

A re-run of the same job (its worker died) finds the change on the routers already and
commits nothing.
"""

from __future__ import annotations

from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.config import lookup_in
from nornir_esi.contract.graph import pair_of
from nornir_esi.contract.records import Applied, AuditStack, JobState
from nornir_esi.exceptions import PermanentError
from nornir_esi.handlers.common import Context, update_job_state
from nornir_esi.services import service_for
from nornir_esi.services.base import Action
from nornir_esi.services.carried import with_members
from nornir_esi.store.base import Op

__all__ = ["heat_worker"]


def heat_worker(ctx: Context) -> list[Op]:
    """Change the resource on its router pair, then its stack; see the module."""
    job = ctx.job
    service = service_for(job.resource_type)
    if service is None:
        raise PermanentError(
            f"{job.resource_type} {job.resource_id}: heat_worker has no device "
            "configuration for this type"
        )
    params = ctx.params
    store = ctx.store
    applied_key = keys.applied(job.resource_type, job.resource_id)
    applied_entry = store.get(applied_key)
    applied = None if applied_entry is None else Applied.from_value(applied_entry.value).params
    action: Action
    if job.action == "logical_delete":
        action = "delete"
    elif applied is None:
        action = "create"
    else:
        action = "modify"
    lookup = lookup_in(store)
    pair = pair_of(lookup, job.resource_type, job.resource_input)
    deleting = action == "delete"
    verified_params = (applied or params) if deleting else params
    changes = with_members(
        store,
        lookup,
        job.resource_type,
        job.resource_input,
        service.changes(params, pair, action=action, applied=applied),
        action=action,
        pair=pair,
    )
    ctx.services.devices.push_pair(
        changes,
        comment=job.id,
        verify=service.verifier(verified_params, present=not deleting),
        subject=(job.resource_type, job.resource_id),
    )

    heat = ctx.services.heat
    tenant = str(job.resource_input.get("tenant_id", ""))
    if deleting:
        stack = heat.delete(job.resource_type, job.resource_id, tenant_id=tenant)
    else:
        stack = heat.apply(
            job.resource_type,
            job.resource_id,
            tenant_id=tenant,
            template=job.handler,
            parameters=params,
            timeout_mins=int(params.get("heat_timeout") or 60),
            exists=job.action == "modify",
            pushed=service.pushed(params, pair),
        )
    store.put(keys.heat_stack(job.resource_type, job.resource_id), stack.to_json())
    outputs: list[Any] = list(stack.output)

    def record_outputs(state: JobState) -> None:
        state.heat_outputs = outputs

    update_job_state(ctx, record_outputs)
    # What the routers now carry lands with the job's end.
    audit = Op.put(
        keys.audit_stack(job.resource_type, job.resource_id, job.version),
        AuditStack.of(stack, pair.by_role()).to_json(),
    )
    if deleting:
        return [Op.delete(applied_key), audit]
    return [Op.put(applied_key, Applied(version=job.version, params=params).to_json()), audit]
