"""Firewall counters of every internet gateway of a router pair, read from both routers.

Usage (the HA router by id or name; ``--inventory`` maps routers to other addresses)::

    export ESI_ETCD_ENDPOINTS=http://127.0.0.1:2379
    python tasks/collect_counters.py --ha-router sample-ha-router --inventory inventory/hosts.yaml

Per router, per gateway: its role, its unit and the unit's status, and the packets and
bytes of its ``in`` and ``out`` counters (None: the router lacks the counter).

Exit codes: 0 every counter read; 1 a gateway lacks a counter; 2 bad input; 3 etcd or a
router unreachable.
"""

from __future__ import annotations

from nornir import InitNornir
from nornir_utils.plugins.functions import print_result  # type: ignore[import-untyped]

from nornir_esi.runbooks import command, fleet
from nornir_esi.runbooks.inventory import etcd_store, in_ha_router
from nornir_esi.tasks.collect_counters import collect_counters


def main() -> int:
    """Read the pair's counters from both routers and print them; returns the exit code."""
    parser = command.parser(__doc__)
    parser.add_argument("--ha-router", required=True, metavar="ID|NAME", help="the pair")
    args = parser.parse_args()
    with etcd_store(args.etcd) as store:
        pair = fleet.ha_router(store, args.ha_router)
        gateways = fleet.counters_by_router(store, ha_router_id=pair["id"])
    nr = InitNornir(
        inventory={"plugin": "EtcdRouterInventory", "options": command.inventory_options(args)},
        runner={"plugin": "threaded", "options": {"num_workers": 2}},
        logging={"enabled": False},
    )
    result = nr.filter(filter_func=in_ha_router(pair["id"])).run(
        task=collect_counters, gateways=gateways
    )
    print_result(result)
    return command.exit_code(result, found=command.missing_counter)


if __name__ == "__main__":
    command.run("collect_counters", main)
