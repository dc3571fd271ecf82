"""Provision internet gateways: write them, wait until the workers have pushed them, show them.

They are shown on both routers of their pair.

Usage (FILE as ``nornir-esi apply`` takes it; its other resources are written too, in
the same transaction)::

    export ESI_ETCD_ENDPOINTS=http://127.0.0.1:2379
    python tasks/provision_gateway.py inventory/gateway.yaml --inventory inventory/hosts.yaml

Prints what was written and each gateway's terminal state, then per router two Nornir
runs: ``check_drift`` (``in sync``: the gateway's configuration is there, nothing to add)
and ``collect_counters`` (its unit's status, its counters).

Exit codes: 0 provisioned, in sync, counters there; 1 a gateway's state was not reached
(failed or timed out), it drifted or lacks a counter; 2 bad input; 3 etcd or a router
unreachable.
"""

from __future__ import annotations

import sys

from nornir import InitNornir
from nornir_utils.plugins.functions import print_result  # type: ignore[import-untyped]

from nornir_esi.contract import desired
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.runbooks import command, fleet
from nornir_esi.runbooks.inventory import etcd_store
from nornir_esi.tasks.check_drift import check_drift
from nornir_esi.tasks.collect_counters import collect_counters

GATEWAY = "internet_gateway"
DONE = ("CREATE_COMPLETED", "MODIFY_COMPLETED")


def main() -> int:
    """Write FILE, await each gateway's state, then check and count on the pair's routers.

    Returns the exit code (see the module's docstring).
    """
    parser = command.parser(__doc__)
    parser.add_argument("file", help="resources (YAML or JSON) with internet gateways")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per gateway")
    args = parser.parse_args()
    with etcd_store(args.etcd) as store:
        changes = desired.apply(store, desired.load_file(args.file))
        for change in changes:
            print(f"{change.outcome} {change.resource_type} {change.resource_id} v{change.version}")
        gateways = [c for c in changes if c.resource_type == GATEWAY]
        if not gateways:
            print(f"provision_gateway: no {GATEWAY} in {args.file}", file=sys.stderr)
            return 2
        for change in gateways:
            state = wait_for_state(
                store, GATEWAY, change.resource_id, version=change.version, timeout=args.timeout
            )
            if state is None or state.worker_state not in DONE:
                got = (
                    "no terminal state" if state is None else f"{state.worker_state} {state.error}"
                )
                print(f"{GATEWAY} {change.resource_id}: {got}", file=sys.stderr)
                return 1
            print(f"{GATEWAY} {change.resource_id} version {state.version}: {state.worker_state}")
        ids = [c.resource_id for c in gateways]
        expected = fleet.expected_by_router(store, gateway_ids=ids)
        counters = fleet.counters_by_router(store, gateway_ids=ids)
    nr = InitNornir(
        inventory={"plugin": "EtcdRouterInventory", "options": command.inventory_options(args)},
        runner={"plugin": "threaded", "options": {"num_workers": 2}},
        logging={"enabled": False},
    )
    pair = nr.filter(filter_func=lambda host: host.name in counters)
    configured = pair.run(task=check_drift, gateways=expected)
    measured = pair.run(task=collect_counters, gateways=counters)
    print_result(configured)
    print_result(measured)
    return max(
        command.exit_code(configured, found=command.drifted),
        command.exit_code(measured, found=command.missing_counter),
    )


if __name__ == "__main__":
    command.run("provision_gateway", main)
