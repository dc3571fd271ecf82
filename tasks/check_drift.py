"""Drift across the fleet: whether settled internet gateways still have their configuration.

On every router, each settled internet gateway is checked against the configuration of its
current version.

Usage (``--ha-router`` limits the check to one pair, by id or name)::

    export ESI_ETCD_ENDPOINTS=http://127.0.0.1:2379
    python tasks/check_drift.py --inventory inventory/hosts.yaml

Per router, per gateway: ``in sync`` or ``drift``, with the Junos diff a repair would
commit (``nornir-esi repair internet_gateway ID``). Nothing changes: each gateway's change
is loaded under lock, compared and discarded. Gateways with a job in flight are skipped.

Exit codes: 0 no drift; 1 drift found; 2 bad input; 3 etcd or a router unreachable.
"""

from __future__ import annotations

from nornir import InitNornir
from nornir_utils.plugins.functions import print_result  # type: ignore[import-untyped]

from nornir_esi.runbooks import command, fleet
from nornir_esi.runbooks.inventory import etcd_store, in_ha_router
from nornir_esi.tasks.check_drift import check_drift


def main() -> int:
    """Check every router (or one pair's) and print the result; returns the exit code."""
    parser = command.parser(__doc__)
    parser.add_argument("--ha-router", metavar="ID|NAME", help="only this pair")
    parser.add_argument("--workers", type=int, default=20, help="routers checked at once")
    args = parser.parse_args()
    with etcd_store(args.etcd) as store:
        expected = fleet.expected_by_router(store)
        pair = fleet.ha_router(store, args.ha_router) if args.ha_router else None
    nr = InitNornir(
        inventory={"plugin": "EtcdRouterInventory", "options": command.inventory_options(args)},
        runner={"plugin": "threaded", "options": {"num_workers": args.workers}},
        logging={"enabled": False},
    )
    if pair is not None:
        nr = nr.filter(filter_func=in_ha_router(pair["id"]))
    result = nr.run(task=check_drift, gateways=expected)
    print_result(result)
    return command.exit_code(result, found=command.drifted)


if __name__ == "__main__":
    command.run("check_drift", main)
