"""The running system outlives an etcd outage: nothing dies, work resumes when it is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.exceptions import StoreUnavailableError
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Op, Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import LossyStore, eventually

from .conftest import INVENTORY


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """An etcd of this test's own, to kill and restart."""
    with EtcdServer("outage") as server:
        yield server


def _down(server: EtcdServer) -> bool:
    try:
        server.client(timeout=2.0).revision()
    except StoreUnavailableError:
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


def _claims(ops: Sequence[Op]) -> bool:
    return any(op.kind == "put" and op.key.startswith(keys.JOBS_WORKING) for op in ops)


def _ends(ops: Sequence[Op]) -> bool:
    return any(op.kind == "put" and op.key.startswith(keys.JOBS_FINISHED) for op in ops)


@pytest.mark.parametrize("landed", [False, True], ids=["not-sent", "answer-lost"])
@pytest.mark.parametrize("which", [_claims, _ends], ids=["claim", "end"])
def test_a_worker_settles_transactions_an_outage_cut_short(
    store: Store,
    pair: Simulator,
    overrides: Path,
    which: Callable[[Sequence[Op]], bool],
    landed: bool,
) -> None:
    """A job's claim or end fails as etcd goes away, written or not: the worker (one slot,
    its lease alive all along, so nobody else would take the job) still gets every job
    done."""
    pair.reset()
    lossy = LossyStore(store, which, landed=landed, times=2)
    resources = desired.load_file(INVENTORY / "resources.yaml")
    options = {"inventory": str(overrides), "manager_lease_ttl": 5, "worker_lease_ttl": 5}
    with (
        Service(store, workers=0, **options),  # type: ignore[arg-type]
        Service(lossy, manager=False, slots=1, **options),  # type: ignore[arg-type]
    ):
        desired.apply(store, resources)
        for resource_type, body in resources:
            state = wait_for_state(store, resource_type, body["id"], timeout=30)
            assert state is not None, (resource_type, body["id"])
            assert state.worker_state in ("CREATE_COMPLETED", "READ_COMPLETE"), state
    assert len(lossy.lost) == 2
    assert store.get_prefix(keys.JOBS_WORKING) == []


def test_a_manager_that_cannot_read_while_planning_plans_later(
    store: Store, pair: Simulator, overrides: Path
) -> None:
    """etcd does not answer one read of the manager while it plans a gateway's version:
    the version must still be planned (a dropped event would leave the gateway without
    jobs for good)."""
    pair.reset()
    gateway_cache = keys.type_prefix(keys.WORKER_CONFIG_PREFIX, "internet_gateway")
    lossy = LossyStore(
        store, lambda ops: False, landed=False, lose_get=lambda k: k.startswith(gateway_cache)
    )
    resources = desired.load_file(INVENTORY / "resources.yaml")
    ((gw_type, gateway),) = desired.load_file(INVENTORY / "gateway.yaml")
    options = {"inventory": str(overrides), "manager_lease_ttl": 5, "worker_lease_ttl": 5}
    with (
        Service(lossy, workers=0, **options),  # type: ignore[arg-type]
        Service(store, manager=False, **options),  # type: ignore[arg-type]
    ):
        desired.apply(store, resources)
        for resource_type, body in resources:
            assert wait_for_state(store, resource_type, body["id"], timeout=30) is not None
        desired.apply(store, [(gw_type, gateway)])
        state = wait_for_state(store, gw_type, gateway["id"], timeout=60)
        assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    assert lossy.lost_gets == [keys.worker_config(gw_type, gateway["id"])]
