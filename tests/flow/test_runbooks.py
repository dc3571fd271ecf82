"""The operators' runbooks (``tasks/*.py``) as an operator runs them: subprocesses on the
test etcd, a running job manager and worker, and the simulated router pair; and their
inventory, ``EtcdRouterInventory``, on its own.

Exit codes are the command line's: 0 done, 1 found (drift, a missing counter), 2 bad
input, 3 etcd or a router unreachable.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nornir import InitNornir
from nornir.core.inventory import Host

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord
from nornir_esi.device import netconf
from nornir_esi.device.inventory import ResourceInventory
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.sample import VRF
from nornir_esi.netsim.server import Simulator
from nornir_esi.runbooks import fleet
from nornir_esi.runbooks.inventory import EtcdRouterInventory, in_ha_router
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer

from .conftest import INVENTORY, ROUTERS

ROOT = INVENTORY.parent
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
GATEWAY = desired.load_file(INVENTORY / "gateway.yaml")[0][1]
HA_ROUTER = next(body for t, body in RESOURCES if t == "ha_router")
ROUTER_IDS = {body["name"]: body["id"] for t, body in RESOURCES if t == "edge_router"}
# nornir_utils colours every line; the runbooks strip the colours when not on a terminal.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def runbook(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, f"tasks/{name}.py", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert not _ANSI.search(result.stdout + result.stderr), "colours on a pipe"
    return result


def sections(stdout: str) -> dict[str, str]:
    """Per host, its section of print_result's output (``* NAME ***`` to ``^^^^ END``)."""
    found = re.findall(r"^\* (\S+) .*?\n(.*?)^\^{4} END", stdout, flags=re.M | re.S)
    return dict(found)


def hosts_printed(stdout: str) -> dict[str, Any]:
    """Per host, its task's result as print_result shows it (pprint), after any diff."""
    return {
        host: ast.literal_eval(re.split(r"^(?=\{)", text, maxsplit=1, flags=re.M)[1])
        for host, text in sections(stdout).items()
    }


def _settled(store: Store, items: list[tuple[str, dict[str, Any]]]) -> None:
    desired.apply(store, items)
    for resource_type, body in items:
        state = wait_for_state(store, resource_type, body["id"], timeout=60)
        assert state is not None and not state.worker_state.endswith("_FAILED"), state


def _by_hand(pair: Simulator, router: str, commands: str) -> None:
    """Another operator changes a router behind the system's back."""
    host, port = pair.address(router)
    with netconf.connect(host, port, username="noc", password="x") as m:
        m.load_configuration(action="set", config=commands)
        m.commit(comment="by hand")


def _sim_counter(pair: Simulator, router: str, filter_name: str, counter: str) -> tuple[int, int]:
    found = pair.call(lambda: pair.router(router).counters())
    ((packets, octets),) = [(p, o) for c, p, o in found[filter_name] if c == counter]
    return packets, octets


# -- the inventory --------------------------------------------------------------------------


def _inventory_resources(store: Store) -> None:
    """The sample resources, a third router being deleted, and a second pair sharing the
    primary router (written as they are: the inventory reads, it does not validate)."""
    desired.apply(store, RESOURCES)
    gone = {**dict(RESOURCES[0][1]), "id": "0d1e7e7e-0000-4000-8000-000000000001", "name": "old"}
    record = ConfigRecord(body=gone, version=2, marked_for_deletion=True)
    store.put(keys.config("edge_router", gone["id"]), record.to_json())
    other = {
        **HA_ROUTER,
        "id": "0d1e7e7e-0000-4000-8000-000000000002",
        "name": "other-pair",
        "secondary_router_id": ROUTER_IDS[ROUTERS["primary"]],
        "primary_router_id": gone["id"],
    }
    store.put(keys.config("ha_router", other["id"]), ConfigRecord(other, 1).to_json())


def _fields(host: Host) -> tuple[Any, ...]:
    extras = host.connection_options["netconf"].extras
    return (host.hostname, host.port, host.username, host.password, host.platform, extras)


def test_inventory_hosts_from_etcd_with_their_pairs(
    store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path
) -> None:
    _inventory_resources(store)
    nr = InitNornir(
        inventory={
            "plugin": "EtcdRouterInventory",
            "options": {"endpoints": etcd_server.endpoints, "overrides": str(overrides)},
        },
        logging={"enabled": False},
    )
    assert sorted(nr.inventory.hosts) == sorted(ROUTERS.values())  # "old" is being deleted
    # Each host as ResourceInventory makes it from the router's body, plus its pairs.
    bodies = [body for t, body in RESOURCES if t == "edge_router"]
    made = ResourceInventory(bodies, str(overrides)).load().hosts
    for name, host in nr.inventory.hosts.items():
        assert _fields(host) == _fields(made[name])
        assert {k: v for k, v in host.data.items() if k != "ha_routers"} == made[name].data
    primary, secondary = (nr.inventory.hosts[ROUTERS[role]] for role in ("primary", "secondary"))
    assert (primary.hostname, primary.port) == pair.address(ROUTERS["primary"])
    assert (primary.data["id"], primary.data["ip"]) == (ROUTER_IDS[primary.name], "10.79.5.185")
    sample = {"id": HA_ROUTER["id"], "name": HA_ROUTER["name"]}
    assert primary.data["ha_routers"] == [
        {"id": "0d1e7e7e-0000-4000-8000-000000000002", "name": "other-pair", "role": "secondary"},
        {**sample, "role": "primary"},
    ]
    assert secondary.data["ha_routers"] == [{**sample, "role": "secondary"}]

    for name in (HA_ROUTER["name"], HA_ROUTER["id"]):
        assert sorted(nr.filter(filter_func=in_ha_router(name)).inventory.hosts) == sorted(
            ROUTERS.values()
        )
    assert list(nr.filter(filter_func=in_ha_router("other-pair")).inventory.hosts) == [
        ROUTERS["primary"]
    ]
    assert list(nr.filter(filter_func=in_ha_router("no-such-pair")).inventory.hosts) == []


def test_inventory_endpoints_from_the_environment_or_an_open_store(
    store: Store, etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desired.apply(store, RESOURCES)
    monkeypatch.setenv("ESI_ETCD_ENDPOINTS", etcd_server.endpoints)
    assert sorted(EtcdRouterInventory().load().hosts) == sorted(ROUTERS.values())

    # An open store is used as it is and left open.
    hosts = EtcdRouterInventory(store=store).load().hosts
    assert sorted(hosts) == sorted(ROUTERS.values())
    assert store.get(keys.config("ha_router", HA_ROUTER["id"])) is not None

    # Other options are ResourceInventory's: one it does not know is refused there.
    with pytest.raises(TypeError, match="no_such_option"):
        EtcdRouterInventory(store=store, no_such_option=1).load()


# -- the runbooks ---------------------------------------------------------------------------


def test_runbooks_provision_show_counters_and_find_drift(
    service_store: Store, etcd_server: EtcdServer, pair: Simulator, overrides: Path
) -> None:
    store = service_store
    etcd = ("--etcd", etcd_server.endpoints, "--inventory", overrides)
    _settled(store, RESOURCES)
    gw, vrf_in, vrf_out = GATEWAY["name"], f"{VRF}_IN", f"{VRF}_OUT"

    # provision: written, pushed by the worker, then in sync with its counters on both.
    provisioned = runbook("provision_gateway", INVENTORY / "gateway.yaml", *etcd)
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    lines = provisioned.stdout.splitlines()
    assert lines[0] == f"created internet_gateway {GATEWAY['id']} v1"
    assert lines[1] == f"internet_gateway {GATEWAY['id']} version 1: CREATE_COMPLETED"
    drift_run, counters_run = provisioned.stdout.split("collect_counters***", 1)
    assert hosts_printed(drift_run) == {name: {gw: "in sync"} for name in ROUTERS.values()}
    for role, name in ROUTERS.items():
        shown = hosts_printed(counters_run)[name][gw]
        assert (shown["role"], shown["interface"], shown["status"]) == (role, "ae0.1025", "up")
        assert shown["in"] is not None and shown["out"] is not None

    # collect_counters: the pair's counters as the routers count them.
    counted = runbook("collect_counters", "--ha-router", HA_ROUTER["name"], *etcd)
    assert counted.returncode == 0, counted.stdout + counted.stderr
    printed = hosts_printed(counted.stdout)
    assert sorted(printed) == sorted(ROUTERS.values())
    for name in ROUTERS.values():
        for direction, (filter_name, counter) in (
            ("in", ("INET_IN", vrf_in)),
            ("out", ("INET_OUT", vrf_out)),
        ):
            shown = printed[name][gw][direction]
            packets, octets = _sim_counter(pair, name, filter_name, counter)
            # Counters only grow; bytes per packet are the counter's own on each router.
            assert shown["packets"] <= packets
            assert shown["bytes"] * packets == shown["packets"] * octets

    # check_drift: in sync, then a router changed by hand is found, the other is not.
    clean = runbook("check_drift", *etcd)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert hosts_printed(clean.stdout) == {name: {gw: "in sync"} for name in ROUTERS.values()}
    _by_hand(pair, ROUTERS["primary"], "delete interfaces ae0 unit 1025 description")
    drifted = runbook("check_drift", *etcd)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert hosts_printed(drifted.stdout) == {
        ROUTERS["primary"]: {gw: "drift"},
        ROUTERS["secondary"]: {gw: "in sync"},
    }
    shown = sections(drifted.stdout)
    assert (
        f"# {gw}\n[edit interfaces ae0 unit 1025]\n+   description inet_gw;"
        in shown[ROUTERS["primary"]]
    )
    assert "[edit" not in shown[ROUTERS["secondary"]]
    # Nothing was repaired: the description is still missing.
    assert runbook("check_drift", "--ha-router", HA_ROUTER["id"], *etcd).returncode == 1

    # A counter removed by hand on the secondary: printed as None, exit 1.
    term = f"firewall family inet filter INET_IN term {VRF}_filter"
    _by_hand(pair, ROUTERS["secondary"], f"delete {term} then count")
    missing = runbook("collect_counters", "--ha-router", HA_ROUTER["id"], *etcd)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    printed = hosts_printed(missing.stdout)
    assert printed[ROUTERS["secondary"]][gw]["in"] is None
    assert printed[ROUTERS["secondary"]][gw]["out"] is not None
    assert printed[ROUTERS["primary"]][gw]["in"] is not None


def test_runbooks_exit_2_on_bad_input_and_3_when_unreachable(
    store: Store, etcd_server: EtcdServer, tmp_path: Path
) -> None:
    desired.apply(store, [*RESOURCES, ("internet_gateway", GATEWAY)])  # no worker: not pushed
    etcd = ("--etcd", etcd_server.endpoints)

    unknown = runbook("collect_counters", "--ha-router", "no-such-pair", *etcd)
    assert unknown.returncode == 2
    assert unknown.stderr == (
        "collect_counters: ha_router no-such-pair: is neither an id nor a name in /config\n"
    )
    usage = runbook("collect_counters", *etcd)
    assert usage.returncode == 2 and "--ha-router" in usage.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("[]\n")
    nothing = runbook("provision_gateway", empty, *etcd)
    assert nothing.returncode == 2
    assert nothing.stderr == f"provision_gateway: no internet_gateway in {empty}\n"

    # Port 9 (discard) on loopback: nothing listens there in the test environment.
    no_etcd = runbook("check_drift", "--etcd", "http://127.0.0.1:9")
    assert no_etcd.returncode == 3, no_etcd.stderr
    assert no_etcd.stderr.startswith("check_drift: etcd")
    closed = tmp_path / "closed.yaml"
    closed.write_text(
        "".join(f"{name}: {{hostname: 127.0.0.1, port: 9}}\n" for name in ROUTERS.values())
    )
    unreachable = runbook(
        "collect_counters", "--ha-router", HA_ROUTER["name"], *etcd, "--inventory", closed
    )
    assert unreachable.returncode == 3, unreachable.stdout + unreachable.stderr
    assert "DeviceUnavailableError" in unreachable.stdout


def test_counters_of_one_pair_leave_the_other_pairs_gateways_out(store: Store) -> None:
    """Two pairs on the same two routers: each pair's gateways only (read from /config)."""
    desired.apply(store, [*RESOURCES, ("internet_gateway", GATEWAY)])
    downlink = next(body for t, body in RESOURCES if t == "ha_interface")
    other_pair = {**HA_ROUTER, "id": "0d1e7e7e-0000-4000-8000-000000000003", "name": "other"}
    other_downlink = {
        **downlink,
        "id": "0d1e7e7e-0000-4000-8000-000000000004",
        "ha_router_id": other_pair["id"],
    }
    other_gateway = {
        **GATEWAY,
        "id": "0d1e7e7e-0000-4000-8000-000000000005",
        "name": "other-gateway",
        "downlink_interface_id": other_downlink["id"],
    }
    for resource_type, body in (
        ("ha_router", other_pair),
        ("ha_interface", other_downlink),
        ("internet_gateway", other_gateway),
    ):
        store.put(keys.config(resource_type, body["id"]), ConfigRecord(body, 1).to_json())

    def names(ha_router_id: str | None) -> dict[str, list[str]]:
        found = fleet.counters_by_router(store, ha_router_id=ha_router_id)
        return {router: [gw.name for gw in gateways] for router, gateways in found.items()}

    both = sorted([GATEWAY["name"], "other-gateway"])
    assert {r: sorted(n) for r, n in names(None).items()} == {r: both for r in ROUTERS.values()}
    assert names(HA_ROUTER["id"]) == {r: [GATEWAY["name"]] for r in ROUTERS.values()}
    assert names(other_pair["id"]) == {r: ["other-gateway"] for r in ROUTERS.values()}
    assert fleet.ha_router(store, "other")["id"] == other_pair["id"]
