"""``make demo``: the seed's internet gateway created end to end, on real parts.

Starts etcd (on free loopback ports, a temporary data dir), two simulated MX routers with
the day-0 configuration (the origin's ``vMX-router-02``, primary, and ``vMX-router-01``,
secondary; their 10.x addresses are mapped to the simulators), a job manager and a
worker; applies the sample resources of ``inventory/`` (routers, interfaces, HA pair,
internet service, QoS option), then the seed's gateway; prints the six checkpoints of the
create flow as etcd saw them and each router's ``show | compare`` against its day-0
configuration; then applies the gateway's family in one file
(``inventory/family.yaml``: the operator's public IP pool, a public IP 203.0.112.0/28, the
tenant's network and subnet, the gw_interface .151/.152/.153 with VRRP group 20, a static
route 203.0.112.0/28 via 172.16.101.1) and prints, per router, what the family added
(``show | compare``), its VRRP state, iBGP neighbor and the VRF's route table, read over
NETCONF; stops everything. No password is printed or stored: the resources name it
by reference (``{ref: env:ESI_ROUTER_PASSWORD}``), set here for the worker when unset.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import configs_of
from nornir_esi.device.known_hosts import FILE_ENV
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.services.forwarding import forwarding_health
from nornir_esi.store.base import Event, Store
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdServer

ROUTERS = {"vMX-router-02": "primary", "vMX-router-01": "secondary"}
INVENTORY = Path(__file__).resolve().parent.parent / "inventory"
PASSWORD_ENV = "ESI_ROUTER_PASSWORD"


def _checkpoint(number: int, title: str, event: Event) -> None:
    print(f"\n### ({number}) {title}\n{event.key}")
    try:
        print(json.dumps(json.loads(event.value), indent=4))
    except ValueError:
        print(event.value)


def _follow(store: Store, revision: int, resource_type: str, resource_id: str) -> list[Event]:
    """Every event from ``revision`` until the resource's ``/state`` is written."""
    events: list[Event] = []
    state_key = keys.state(resource_type, resource_id)
    with Feed(store, ["/"], start_revision=revision) as feed:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            event = feed.get(timeout=1.0)
            if event is None:
                continue
            events.append(event)
            if event.key == state_key and event.kind == "put":
                return events
    raise SystemExit(f"{resource_type} {resource_id}: no /state within 60 s")


def _print_checkpoints(events: list[Event], resource_type: str, resource_id: str) -> str:
    config, stack = (
        keys.config(resource_type, resource_id),
        keys.heat_stack(resource_type, resource_id),
    )
    job_state, state = (
        keys.job_state(resource_type, resource_id),
        keys.state(resource_type, resource_id),
    )
    puts = [e for e in events if e.kind == "put"]

    def first(predicate: Callable[[Event], bool]) -> Event:
        return next(e for e in puts if predicate(e))

    _checkpoint(1, "the resource is written to /config", first(lambda e: e.key == config))
    for event in (e for e in puts if e.key.startswith(keys.JOBS_ALL)):
        _checkpoint(2, "the job manager plans the workflow", event)
    _checkpoint(
        3, "the routers are configured and the stack recorded", first(lambda e: e.key == stack)
    )
    _checkpoint(
        4,
        "the heat worker's outputs",
        first(lambda e: e.key == job_state and "heat_outputs" in e.value),
    )
    _checkpoint(
        5,
        "the monitoring worker's state",
        first(lambda e: e.key == job_state and "state_monitoring" in e.value),
    )
    last = first(lambda e: e.key == state)
    _checkpoint(6, "the last job writes /state and removes the job state", last)
    worker_state: str = json.loads(last.value)["state"]["worker_state"]
    return worker_state


def main() -> int:
    """Run the demo (see the module); 0 when the gateway's create completed, else 1."""
    started = time.monotonic()
    specs = [
        RouterSpec(name, "127.0.0.1", 0, role=role)  # type: ignore[arg-type]
        for name, role in ROUTERS.items()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        # The lab records its routers' host keys at start; the worker verifies against them.
        os.environ[FILE_ENV] = str(Path(tmp) / "known_hosts")
        return _run(specs, Path(tmp), started)


def _run(specs: list[RouterSpec], tmp: Path, started: float) -> int:
    with EtcdServer("demo") as etcd, Simulator(specs, commit_delay=0.5) as sim:
        print(f"etcd: {etcd.endpoints}")
        for line in sim.listening_lines():
            print(line)
        hosts: dict[str, Any] = {}
        for name in ROUTERS:
            host, port = sim.address(name)
            hosts[name] = {"hostname": host, "port": port}
        print(f"host keys recorded in {os.environ[FILE_ENV]}")
        overrides = tmp / "hosts.yaml"
        overrides.write_text(yaml.safe_dump(hosts))
        # The routers' password is {ref: env:ESI_ROUTER_PASSWORD} in the resources: the
        # worker resolves it from this process' environment (the simulators take any).
        os.environ.setdefault(PASSWORD_ENV, "esi-demo-password")
        store = etcd.client()
        with Service(store, inventory=str(overrides), workers=1):
            resources = desired.load_file(INVENTORY / "resources.yaml")
            print(
                f"\n==> apply {len(resources)} resources: routers, interfaces, HA pair, "
                "internet service, QoS option"
            )
            revision = store.revision() + 1
            desired.apply(store, resources)
            for resource_type, body in resources:
                _follow(store, revision, resource_type, body["id"])
            ((gw_type, gateway),) = desired.load_file(INVENTORY / "gateway.yaml")
            print(f"==> apply the seed's gateway {gateway['id']}")
            revision = store.revision() + 1
            desired.apply(store, [(gw_type, gateway)])
            events = _follow(store, revision, gw_type, gateway["id"])
            outcome = _print_checkpoints(events, gw_type, gateway["id"])
            with_gateway = {name: _running(sim, name) for name in ROUTERS}
            for name, role in ROUTERS.items():
                router = sim.router(name)
                print(f"\n## {name} ({role}): show | compare (day-0 -> the gateway)")
                print(diff_text(router.history[-1].config, with_gateway[name]), end="")
                print(f"commit log: {router.history[0].comment}")
            if outcome == "CREATE_COMPLETED":
                outcome = _family(store, sim, overrides, with_gateway, gateway)
        store.close()
    print(
        f"\n{gw_type} {gateway['id']} and its family: {outcome} "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0 if outcome == "CREATE_COMPLETED" else 1


def _family(
    store: Store,
    sim: Simulator,
    overrides: Path,
    with_gateway: dict[str, Any],
    gateway: dict[str, Any],
) -> str:
    """Apply ``inventory/family.yaml`` in one file; print what each router gained and forwards.

    The worst worker_state of the family (``CREATE_COMPLETED`` when all are).
    """
    family = desired.load_file(INVENTORY / "family.yaml")
    print(f"\n==> apply the gateway's family in one file: {', '.join(t for t, _ in family)}")
    desired.apply(store, family)
    outcome = "CREATE_COMPLETED"
    for resource_type, body in family:
        state = wait_for_state(store, resource_type, body["id"], timeout=120)
        shown = "no /state within 120 s" if state is None else state.worker_state
        print(f"{resource_type} {body['id']}: {shown}")
        if state is None or state.worker_state not in ("CREATE_COMPLETED", "READ_COMPLETE"):
            outcome = shown
    devices = NornirDevices(overrides=str(overrides))
    health = forwarding_health(store, devices, gateway["id"])
    by_name = {h.router: (role, h) for role, h in health.items()}
    for name, role in ROUTERS.items():
        print(f"\n## {name} ({role}): show | compare (the gateway -> its family)")
        print(diff_text(with_gateway[name], sim.router(name).running), end="")
        _, h = by_name[name]
        print(
            f"VRRP group {_vrid(family)}: {h.vrrp}; iBGP neighbor: {h.bgp}; "
            f"static routes active: {h.routes_active}/{h.routes_total}"
        )
        read = devices.forwarding(_edge_router(store, name), instance=str(gateway["vrf_name"]))
        print(f"{gateway['vrf_name']}.inet.0:")
        for route in read["routes"]:
            star = "*" if route.active else " "
            print(
                f"  {star} {route.destination:<20} {route.protocol:<7} "
                f"{', '.join(route.next_hops) or '-'}"
            )
    return outcome


def _running(sim: Simulator, name: str) -> Any:
    """A copy of the router's running configuration now (taken on the simulator's loop)."""

    def copied() -> Any:
        return copy.deepcopy(sim.router(name).running)

    return sim.call(copied)


def _vrid(family: list[tuple[str, dict[str, Any]]]) -> object:
    return next(b["vrid"] for t, b in family if t == "gw_interface")


def _edge_router(store: Store, name: str) -> dict[str, Any]:
    """The ``edge_router`` body named ``name`` in ``/config``."""
    for _, record in configs_of(store, "edge_router"):
        if record.body.get("name") == name:
            return dict(record.body)
    raise SystemExit(f"edge_router {name} is not in /config")


if __name__ == "__main__":
    sys.exit(main())
