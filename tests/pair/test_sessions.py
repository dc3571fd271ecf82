"""NETCONF sessions kept per router across jobs (``nornir_esi.device.connections``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from lxml import etree
from ncclient.transport.errors import TransportError

from nornir_esi.device.candidate import lock
from nornir_esi.device.connections import POOL
from nornir_esi.device.inventory import nornir_for
from nornir_esi.exceptions import DeviceUnavailableError, PairUnavailableError
from nornir_esi.netsim.device import Router
from nornir_esi.netsim.server import Simulator
from nornir_esi.pair.devices import NornirDevices
from tests.pair.test_pair import apply
from tests.tasks.conftest import PRIMARY, SECONDARY, SIM_NAME

T = TypeVar("T")


def on(sim: Simulator, name: str, read: Callable[[Router], T]) -> T:
    device = sim.router(SIM_NAME[name])
    return sim.call(lambda: read(device))


def sessions(sim: Simulator) -> dict[str, int]:
    return {name: on(sim, name, lambda r: len(r.sessions)) for name in SIM_NAME}


@pytest.fixture
def pool() -> Any:
    """An empty pool before and after (other tests' kept sessions do not count here)."""
    POOL.clear()
    yield POOL
    POOL.clear()


def test_the_next_transaction_reuses_the_kept_sessions(
    routers: Simulator, overrides: str, pool: Any
) -> None:
    opened, reused = pool.opened, pool.reused
    assert apply(overrides, action="create").changed
    assert pool.opened - opened == 2  # one session per router
    assert sessions(routers) == {name: 1 for name in SIM_NAME}
    assert apply(overrides, action="delete").changed
    # No new session: both routers' kept ones did the delete.
    assert (pool.opened - opened, pool.reused - reused) == (2, 2)
    assert sessions(routers) == {name: 1 for name in SIM_NAME}


def test_a_kept_session_that_died_while_idle_is_replaced_without_an_error(
    routers: Simulator, overrides: str, pool: Any
) -> None:
    assert apply(overrides, action="create").changed
    routers.reset()  # drops every session, as a router restart would
    opened = pool.opened
    assert apply(overrides, action="create").changed
    assert pool.opened - opened == 2


def test_a_kept_session_found_dead_at_its_first_call_is_replaced_once(
    routers: Simulator, overrides: str, pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert apply(overrides, action="create").changed
    # A kept session whose end the client has not noticed yet: its first call fails.
    kept = [m for idle in pool._idle.values() for _, m in idle]
    assert len(kept) == 2
    for manager in kept:
        monkeypatch.setattr(manager, "rpc", _gone)
    opened = pool.opened
    assert apply(overrides, action="delete").changed
    assert pool.opened - opened == 2


def _gone(*args: object) -> None:
    raise TransportError("Not connected to NETCONF server")


def test_an_unreachable_router_takes_its_kept_sessions_with_it(
    routers: Simulator, overrides: str, pool: Any
) -> None:
    assert apply(overrides, action="create").changed
    routers.set_faults(SIM_NAME[SECONDARY["name"]], refuse_connections=True)
    with pytest.raises(PairUnavailableError, match="connect"):
        apply(overrides, action="delete")


def test_a_session_closed_holding_the_lock_is_closed_for_real(
    routers: Simulator, overrides: str, pool: Any
) -> None:
    nr = nornir_for([dict(PRIMARY)], overrides=overrides)
    nr.run(task=lock, raise_on_error=True)
    assert on(routers, PRIMARY["name"], lambda r: r.lock_owner) is not None
    nr.close_connections()
    # Not kept: the session went, and with it the lock (as Junos releases it).
    assert sessions(routers)[PRIMARY["name"]] == 0
    assert on(routers, PRIMARY["name"], lambda r: r.lock_owner) is None


def test_parallel_jobs_keep_at_most_per_router_sessions(
    routers: Simulator, overrides: str, pool: Any
) -> None:
    devices = NornirDevices(overrides=overrides)
    with ThreadPoolExecutor(max_workers=6) as threads:
        answers = list(threads.map(lambda _: devices.reachable(PRIMARY), range(12)))
    assert answers == [True] * 12
    assert sessions(routers)[PRIMARY["name"]] <= pool.per_router
    # Reachability asks the router, also through a kept session: a router that refuses
    # connections is unreachable at once (its kept sessions went with it).
    routers.set_faults(SIM_NAME[PRIMARY["name"]], refuse_connections=True)
    assert devices.reachable(PRIMARY) is False
    with pytest.raises(DeviceUnavailableError):
        devices.counters(PRIMARY, [("INET_IN", "x")])


@pytest.fixture
def one_session(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A pool that lets one session per router be in use at once (and waits 1 s at most)."""
    from nornir_esi.device import connections

    small = connections.SessionPool(per_router=1, open_max=1, wait=1.0)
    monkeypatch.setattr(connections, "POOL", small)
    yield small
    small.clear()


def test_parallel_jobs_wait_for_a_session_instead_of_opening_more(
    routers: Simulator, overrides: str, one_session: Any
) -> None:
    devices = NornirDevices(overrides=overrides)
    with ThreadPoolExecutor(max_workers=6) as threads:
        answers = list(threads.map(lambda _: devices.reachable(PRIMARY), range(12)))
    assert answers == [True] * 12
    # Six at once, one session: each read waited for it and reused it (calls that came
    # while the router was read shared the next read: fewer reads than calls).
    reads = devices.reads.reads
    assert 2 <= reads <= 12
    assert (one_session.opened, one_session.reused) == (1, reads - 1)
    assert one_session.in_use() == 0
    assert sessions(routers)[PRIMARY["name"]] == 1


def test_a_router_whose_sessions_are_all_in_use_is_unavailable_after_the_wait(
    routers: Simulator, overrides: str, one_session: Any
) -> None:
    nr = nornir_for([PRIMARY], overrides)
    try:
        # A job holds the one session (its task has not ended).
        result = nr.run(task=lambda task: lock(task))
        assert not result.failed
        with pytest.raises(DeviceUnavailableError, match=r"no NETCONF session .* free after 1 s"):
            NornirDevices(overrides=overrides).counters(PRIMARY, [("INET_IN", "x")])
    finally:
        nr.close_connections()
    # Handed back (closed: it held the lock): the next job gets one at once.
    assert one_session.in_use() == 0
    assert NornirDevices(overrides=overrides).reachable(PRIMARY) is True


def test_an_rpc_goes_out_at_once_not_at_the_io_threads_next_poll(
    routers: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ncclient.transport.session

    from nornir_esi.device import netconf

    host, port = routers.address(SIM_NAME[PRIMARY["name"]])
    manager = netconf.connect(host, port, username="esi", password="x", timeout=30)
    try:
        # From now on ncclient's I/O thread looks at its send queue once an hour: an RPC
        # queued for it would time out (30 s). Sent by the caller, it is answered.
        monkeypatch.setattr(ncclient.transport.session, "TICK", 3600.0)
        for _ in range(3):
            reply = manager.rpc(etree.Element("get-software-information"))
            assert "software-information" in str(reply)
    finally:
        monkeypatch.setattr(ncclient.transport.session, "TICK", netconf.TICK)
        manager.close_session()


def test_a_session_the_router_ended_under_a_write_is_a_closed_session(
    routers: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ncclient.transport.errors import SessionCloseError

    from nornir_esi.device import netconf

    host, port = routers.address(SIM_NAME[PRIMARY["name"]])
    manager = netconf.connect(host, port, username="esi", password="x", timeout=30)
    session = manager._session
    try:

        def ended(data: bytes) -> int:
            # What paramiko raises when the router closed the channel under the write.
            raise EOFError()

        monkeypatch.setattr(session, "_transport_write", ended)
        # ncclient's own error (what the callers map to "router unavailable"), not EOFError.
        with pytest.raises(SessionCloseError) as info:
            manager.rpc(etree.Element("get-software-information"))
        assert isinstance(info.value.__cause__, EOFError)
    finally:
        session.close()
