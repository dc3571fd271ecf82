"""The running system outlives an etcd outage: nothing dies, work resumes when it is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nornir_esi import desired
from nornir_esi.exceptions import StoreUnavailable
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.server import EtcdServer
from nornir_esi.waiting import wait_for_state
from tests.store.helpers import eventually

from .conftest import INVENTORY


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """An etcd of this test's own, to kill and restart."""
    with EtcdServer("outage") as server:
        yield server


def _down(server: EtcdServer) -> bool:
    try:
        server.client(timeout=2.0).revision()
    except StoreUnavailable:
        return True
    return False


def test_manager_and_worker_outlive_an_etcd_outage(
    own_etcd: EtcdServer, pair: Simulator, overrides: Path
) -> None:
    """A leads; B's manager campaigns and B's worker works through the outage; then A goes
    and B must take over and finish a gateway applied after the outage."""
    pair.reset()
    store = own_etcd.client(timeout=3.0)
    resources = desired.load_file(INVENTORY / "resources.yaml")
    gateway = desired.load_file(INVENTORY / "gateway.yaml")
    options = {"inventory": str(overrides), "manager_lease_ttl": 3, "worker_lease_ttl": 3}
    leader = Service(store, workers=0, **options)  # type: ignore[arg-type]
    leader.start()
    assert leader.manager is not None
    eventually(leader.manager.leading.is_set, what="A leads", timeout=30)
    with Service(store, workers=1, **options) as follower:  # type: ignore[arg-type]
        desired.apply(store, resources)
        for resource_type, body in resources:
            assert wait_for_state(store, resource_type, body["id"], timeout=60) is not None
        own_etcd.halt(kill=True)
        eventually(lambda: _down(own_etcd), what="etcd down", timeout=10)
        # While etcd is down, B's campaign keeps asking it who leads, and fails.
        assert follower.manager is not None and not follower.manager.leading.is_set()
        own_etcd.start()
        leader.stop()
        eventually(follower.manager.leading.is_set, what="B leads", timeout=30)
        assert follower.alive()
        eventually(lambda: desired.apply(store, gateway), what="apply after the outage")
        ((gw_type, body),) = gateway
        state = wait_for_state(store, gw_type, body["id"], timeout=60)
        assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    store.close()
