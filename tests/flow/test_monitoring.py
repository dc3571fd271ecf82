"""``monitoring_worker`` reports what the routers really show: links down, a router that
does not answer, a counter taken away by hand (CONTRACT section 7).

A gateway's heat job and its monitoring job run on workers of one handler each, so the
routers can be changed between the two: the heat worker configures and verifies the
gateway on healthy routers, then the fault is set, then the monitoring worker measures.
Routers and physical interfaces are measured by their monitoring-only workflows, which a
new ``/config`` version of the resource runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import State
from nornir_esi.device import netconf
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.handlers import HANDLERS
from nornir_esi.handlers.common import Services
from nornir_esi.heat.embedded import EmbeddedHeat
from nornir_esi.jobs.worker import Worker
from nornir_esi.netsim.sample import VRF
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed
from nornir_esi.store.mutex import EtcdMutex

from .conftest import INVENTORY, ROUTERS

GW = "internet_gateway"
RESOURCES = desired.load_file(INVENTORY / "resources.yaml")
((_, GATEWAY),) = desired.load_file(INVENTORY / "gateway.yaml")


def _body(resource_type: str, name: str, **where: str) -> dict[str, Any]:
    """The sample resource of ``resource_type`` called ``name`` (and matching ``where``)."""
    (body,) = [
        b
        for t, b in RESOURCES
        if t == resource_type and b["name"] == name and all(b.get(k) == v for k, v in where.items())
    ]
    return body


def _router(name: str) -> dict[str, Any]:
    return _body("edge_router", name)


def _ae0_of(router: str) -> dict[str, Any]:
    return _body("er_physical_interface", "ae0", device_id=_router(router)["id"])


@contextmanager
def _worker(store: Store, overrides: Path, *handlers: str) -> Iterator[Worker]:
    """A worker of ``handlers`` only, in a thread, until the block ends."""
    services = Services(
        devices=NornirDevices(overrides=str(overrides), turns=EtcdMutex(store)),
        heat=EmbeddedHeat(),
    )
    worker = Worker(store, {h: HANDLERS[h] for h in handlers}, lease_ttl=5, services=services)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name=worker.id, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), f"{worker.id} did not stop"


@pytest.fixture
def manager_only(store: Store, pair: Simulator, overrides: Path) -> Iterator[Store]:
    """The sample resources created; then a job manager runs, and no worker: each test
    starts the workers it needs."""
    pair.reset()
    with Service(store, inventory=str(overrides), workers=0, manager_lease_ttl=5):
        with _worker(store, overrides, "heat_worker", "monitoring_worker"):
            desired.apply(store, RESOURCES)
            for resource_type, body in RESOURCES:
                state = wait_for_state(store, resource_type, body["id"], timeout=60)
                assert state is not None and not state.worker_state.endswith("_FAILED"), state
        yield store


def _configure_only(store: Store, overrides: Path) -> None:
    """The seed's gateway applied; returns once its heat job is done and its monitoring
    job is ready (released by the manager), unclaimed: no monitoring worker runs."""
    start = store.revision() + 1
    desired.apply(store, [(GW, GATEWAY)])
    tag = f":monitoring_worker:{GW}:{GATEWAY['id']}:1:"
    with (
        _worker(store, overrides, "heat_worker"),
        Feed(store, [keys.JOBS_READY], start_revision=start) as feed,
    ):
        while True:
            event = feed.get(timeout=60)
            assert event is not None, "the gateway's monitoring job never became ready"
            if event.kind == "put" and tag in event.key:
                break
    stack = store.get(keys.heat_stack(GW, GATEWAY["id"]))
    assert stack is not None and json.loads(stack.value)["stack_status"] == "CREATE_COMPLETE"
    assert store.get(keys.state(GW, GATEWAY["id"])) is None


def _monitor(store: Store, overrides: Path, resource_type: str, resource_id: str) -> State:
    """The resource's workflow run to its end by a monitoring worker."""
    with _worker(store, overrides, "monitoring_worker"):
        state = wait_for_state(store, resource_type, resource_id, timeout=60)
    assert state is not None, f"{resource_type} {resource_id}: no /state"
    return state


def _new_version(store: Store, resource_type: str, body: dict[str, Any]) -> None:
    """A new ``/config`` version of the resource (its description changed): its
    monitoring-only workflow runs again."""
    desired.apply(store, [(resource_type, {**body, "description": "measured again"})])


def _monitoring(store: Store, resource_type: str, resource_id: str) -> dict[str, Any]:
    entry = store.get(keys.monitoring(resource_type, resource_id))
    assert entry is not None, f"{resource_type} {resource_id}: no /monitoring"
    value: dict[str, Any] = json.loads(entry.value)
    return value


def test_a_link_down_after_the_commit_shows_in_the_gateway_and_interface_state(
    manager_only: Store, pair: Simulator, overrides: Path
) -> None:
    store = manager_only
    down, up = ROUTERS["secondary"], ROUTERS["primary"]
    # Before: each ae0 was measured up when the sample resources were created.
    assert _monitoring(store, "er_physical_interface", _ae0_of(down)["id"])["interface"] == "UP"

    _configure_only(store, overrides)
    pair.set_faults(down, links_down={"ae0"})
    state = _monitor(store, overrides, GW, GATEWAY["id"])
    # Measured, not failed: the gateway exists, its downlink is down.
    assert state.worker_state == "CREATE_COMPLETED", state
    assert state.measured() == {"downlink": "DOWN", "uplink": "ACTIVE"}

    for router, expected in ((down, "DOWN"), (up, "UP")):
        interface = _ae0_of(router)
        _new_version(store, "er_physical_interface", interface)
        measured = _monitor(store, overrides, "er_physical_interface", interface["id"])
        assert measured.version == 2 and not measured.worker_state.endswith("_FAILED")
        assert measured.measured() == {"interface": "ACTIVE" if expected == "UP" else "DOWN"}
        record = _monitoring(store, "er_physical_interface", interface["id"])
        assert record == {"interface": expected, "version": 2}, router


def test_a_router_that_does_not_answer_is_down(
    manager_only: Store, pair: Simulator, overrides: Path
) -> None:
    store = manager_only
    gone, there = ROUTERS["secondary"], ROUTERS["primary"]
    assert _monitoring(store, "edge_router", _router(gone)["id"])["router"] == "UP"
    pair.set_faults(gone, refuse_connections=True)
    try:
        for name, expected in ((gone, "DOWN"), (there, "UP")):
            router = _router(name)
            _new_version(store, "edge_router", router)
            state = _monitor(store, overrides, "edge_router", router["id"])
            assert state.version == 2 and not state.worker_state.endswith("_FAILED"), state
            assert state.measured() == {"router": "ACTIVE" if expected == "UP" else "DOWN"}
            assert _monitoring(store, "edge_router", router["id"]) == {
                "router": expected,
                "version": 2,
            }, name
    finally:
        pair.set_faults(gone, refuse_connections=False)


def test_a_counter_removed_by_hand_fails_the_gateways_monitoring(
    manager_only: Store, pair: Simulator, overrides: Path
) -> None:
    store = manager_only
    router = ROUTERS["secondary"]
    _configure_only(store, overrides)
    # Another operator takes the gateway's INET_IN term, and with it its counter, away.
    host, port = pair.address(router)
    with netconf.connect(host, port, username="noc", password="x") as m:
        m.load_configuration(
            action="set", config=f"delete firewall family inet filter INET_IN term {VRF}_filter"
        )
        m.commit(comment="by hand")

    state = _monitor(store, overrides, GW, GATEWAY["id"])
    assert state.worker_state == "CREATE_FAILED", state
    assert state.version == 1
    assert f"INET_IN/{VRF}_IN" in state.error, state.error
    assert f"INET_OUT/{VRF}_OUT" not in state.error, state.error  # that one is still there
    assert router in state.error and "secondary" in state.error, state.error
    assert "missing" in state.error, state.error
    assert store.get(keys.job_state(GW, GATEWAY["id"])) is None
