"""``make demo``: the seed's internet gateway created end to end, on real parts.

Starts etcd (on free loopback ports, a temporary data dir), two simulated MX routers with
the day-0 configuration (the origin's ``vMX-router-02``, primary, and ``vMX-router-01``,
secondary; their 10.x addresses are mapped to the simulators), a job manager and a
worker; applies the sample resources of ``inventory/`` (routers, interfaces, HA pair,
internet service, QoS option), then the seed's gateway; prints the six checkpoints of the
create flow as etcd saw them, and each router's ``show | compare`` against its day-0
configuration; stops everything. No password is printed or stored: the resources name it
by reference (``{ref: env:ESI_ROUTER_PASSWORD}``), set here for the worker when unset.
"""

from __future__ import annotations

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
from nornir_esi.device.known_hosts import FILE_ENV
from nornir_esi.junos.diff import diff_text
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.service import Service
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
        for name, role in ROUTERS.items():
            router = sim.router(name)
            print(f"\n## {name} ({role}): show | compare (day-0 -> running)")
            print(diff_text(router.history[-1].config, router.running), end="")
            print(f"commit log: {router.history[0].comment}")
        store.close()
    print(f"\n{gw_type} {gateway['id']}: {outcome} in {time.monotonic() - started:.1f} s")
    return 0 if outcome == "CREATE_COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
