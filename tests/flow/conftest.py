"""The running system on real etcd and a simulated router pair named as in the inventory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nornir_esi.contract import desired
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store

INVENTORY = Path(__file__).parent.parent.parent / "inventory"
# The origin's routers: vMX-router-02 (10.79.5.185) is the HA pair's primary.
ROUTERS = {"primary": "vMX-router-02", "secondary": "vMX-router-01"}


@pytest.fixture(scope="session")
def pair() -> Iterator[Simulator]:
    specs = [
        RouterSpec(name, "127.0.0.1", 0, role=role)  # type: ignore[arg-type]
        for role, name in ROUTERS.items()
    ]
    # A Junos minute of 5 s: the pair transaction confirms within one, commit delays and all.
    with Simulator(specs, minute=5.0) as sim:
        yield sim


def write_overrides(pair: Simulator, directory: Path) -> Path:
    """The inventory file mapping the origin's routers to the simulated ones."""
    hosts = {}
    for name in ROUTERS.values():
        host, port = pair.address(name)
        hosts[name] = {"hostname": host, "port": port}
    path = directory / "hosts.yaml"
    path.write_text(yaml.safe_dump(hosts))
    return path


@pytest.fixture
def overrides(pair: Simulator, tmp_path: Path) -> Path:
    return write_overrides(pair, tmp_path)


@pytest.fixture
def service_store(store: Store, pair: Simulator, overrides: Path) -> Iterator[Store]:
    """An empty etcd, day-0 routers, and a job manager with one worker running on them."""
    pair.reset()
    with Service(
        store, inventory=str(overrides), workers=1, manager_lease_ttl=5, worker_lease_ttl=5
    ):
        yield store


@pytest.fixture
def sample_service(store: Store, pair: Simulator, overrides: Path) -> Iterator[Service]:
    """The sample resources created (each completed), a job manager and one worker running."""
    pair.reset()
    with Service(
        store, inventory=str(overrides), workers=1, manager_lease_ttl=5, worker_lease_ttl=5
    ) as service:
        resources = desired.load_file(INVENTORY / "resources.yaml")
        desired.apply(store, resources)
        for resource_type, body in resources:
            state = wait_for_state(store, resource_type, body["id"], timeout=60)
            assert state is not None and not state.worker_state.endswith("_FAILED"), state
        yield service
