"""``heat_worker``: push the gateway's Junos configuration to its router pair, record the stack.

For an internet gateway (the only type with a heat template in the contract): render the
CONTRACT section 6 configuration for each router of the pair from the job's params, push
it over NETCONF (the backup router of the gateway's VRRP group first), then create,
update or delete the resource's Heat stack and record it under
``/esi-worker/heat_stacks/...`` and in the job state's ``heat_outputs``.
"""

from __future__ import annotations

from typing import Any

from nornir_esi import keys
from nornir_esi.devices import Change
from nornir_esi.exceptions import PermanentError
from nornir_esi.handlers.common import lookup_in, update_job_state
from nornir_esi.heat import Heat
from nornir_esi.inventory.graph import pair_of
from nornir_esi.records import JobState
from nornir_esi.render import gateway_prune_policies, render_gateway, render_vrf_config
from nornir_esi.worker import JobContext

__all__ = ["heat_worker"]

# The secondary router is the VRRP backup of the gateway's group: changing it first means
# a failure there leaves the master, which forwards the traffic, untouched.
ROLLOUT_ORDER = ("secondary", "primary")


def heat_worker(ctx: JobContext) -> None:
    job = ctx.job
    if job.resource_type != "internet_gateway":
        raise PermanentError(
            f"{job.resource_type} {job.resource_id}: heat_worker has no device "
            "configuration for this type"
        )
    params = ctx.params
    pair = pair_of(lookup_in(ctx.store), job.resource_type, job.resource_input)
    routers = pair.by_role()
    deleting = job.action == "logical_delete"
    changes = [
        Change(
            router=routers[role],
            commands=render_gateway(params, role, action="delete" if deleting else "create"),
            text="" if deleting else render_vrf_config(params),
            prune_policies=gateway_prune_policies(params) if deleting else (),
        )
        for role in ROLLOUT_ORDER
    ]
    ctx.services["devices"].push(changes, comment=job.id)
    heat: Heat = ctx.services["heat"]
    tenant = str(job.resource_input.get("tenant_id", ""))
    if job.action == "logical_delete":
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
        )
    ctx.store.put(keys.heat_stack(job.resource_type, job.resource_id), stack.to_json())
    outputs: list[Any] = list(stack.output)

    def record_outputs(state: JobState) -> None:
        state.heat_outputs = outputs

    update_job_state(ctx.store, job.resource_type, job.resource_id, record_outputs)
