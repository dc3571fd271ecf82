"""``bench.perf`` section netconf: session open and RPC round trip to the simulator.

One simulated router (in this process' simulator thread), three clients, one after the
other, ``rounds`` sessions opened and ``rounds * 5`` RPCs (``get-software-information``)
each:

- ``ncclient defaults`` (the baseline): ``ncclient.manager.connect`` as shipped, its I/O
  thread polling every 0.1 s (``TICK``), paramiko's socket without TCP_NODELAY;
- ``nornir_esi.device.netconf.connect``: our client settings (each RPC written by the calling
  thread, ``netconf.send_at_once``; ``TICK`` lowered for the hello; TCP_NODELAY);
- the workers' Nornir path: ``nornir_for`` over the router's resource body (host key
  verified against ``$ESI_KNOWN_HOSTS``, password a reference) and the ``collect_state``
  task; "open" is a fresh Nornir's first task: a session opened, or taken from the
  process' pool when the connection plugin keeps sessions (then no handshake at all), and
  one RPC; "RPC" a ``collect_state`` of one interface on the session already open (one RPC
  plus Nornir's task overhead).

And what idle sessions cost: this process' CPU time over ``IDLE_SECONDS`` of wall time with
``IDLE_SESSIONS`` sessions of ours open and idle (their I/O threads wake every ``TICK``),
beside the same window with none open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ncclient.transport.session

from bench.netsim import _ncclient
from bench.perf_common import PASSWORD_ENV, Figure, Section, bench_env, median, p95
from nornir_esi.device import netconf
from nornir_esi.device.inventory import nornir_for
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.tasks import collect_state

__all__ = ["netconf_section"]

NAME = "pe-netconf"
RPC = "<get-software-information/>"
NCCLIENT_TICK = 0.1  # ncclient's own default
IDLE_SESSIONS = 40
IDLE_SECONDS = 2.0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def _plain_ncclient(host: str, port: int) -> Any:
    # ncclient's defaults as bench/netsim.py measures them: no TCP_NODELAY.
    return _ncclient(host, port, password="esi-bench-password")


def _ours(host: str, port: int) -> Any:
    return netconf.connect(host, port, username="esi", password="esi-bench-password")


def _manager_figures(open_session: Callable[[], Any], rounds: int) -> dict[str, list[float]]:
    opens, rpcs = [], []
    for _ in range(rounds):
        seconds, session = _timed(open_session)
        opens.append(seconds)
        session.close_session()
    session = open_session()
    try:
        session.rpc(RPC)  # warm
        for _ in range(rounds * 5):
            rpcs.append(_timed(lambda: session.rpc(RPC))[0])
    finally:
        session.close_session()
    return {"open": opens, "rpc": rpcs}


def _nornir_figures(router: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    def run(nr: Any, **kwargs: Any) -> None:
        result = nr.run(task=collect_state, **kwargs)
        if result.failed:
            raise SystemExit(f"netconf: collect_state failed: {result[NAME][0].exception}")

    opens, rpcs = [], []
    for _ in range(rounds):
        fresh = nornir_for([router])
        began = time.perf_counter()
        run(fresh, interfaces=["ae0"])
        opens.append(time.perf_counter() - began)
        fresh.close_connections()
    nr = nornir_for([router])
    try:
        run(nr)  # the session opens
        for _ in range(rounds * 5):
            rpcs.append(_timed(lambda: run(nr, interfaces=["ae0"]))[0])
    finally:
        nr.close_connections()
    return {"open": opens, "rpc": rpcs}


def _cpu_percent(sessions: int, host: str, port: int) -> float:
    """% of a core this process uses while ``sessions`` of ours sit idle."""
    opened = [_ours(host, port) for _ in range(sessions)]
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(IDLE_SECONDS)  # the measurement window itself: nothing to wait for
        return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)
    finally:
        for session in opened:
            session.close_session()


def netconf_section(*, rounds: int) -> Section:
    """The netconf figures: session open and RPC round trip, and idle sessions' CPU.

    Ours and the workers' Nornir path, each beside ncclient's defaults (see the module's
    docstring).
    """
    out = Section()
    saved_tick = ncclient.transport.session.TICK
    with bench_env(), Simulator([RouterSpec(NAME, "127.0.0.1", 0)]) as sim:
        host, port = sim.address(NAME)
        router = {"id": NAME, "name": NAME, "ip": host, "ssh_port": port, "login": "esi",
                  "password": {"ref": f"env:{PASSWORD_ENV}"}}  # fmt: skip
        try:
            # The baseline first: nornir_for and netconf.connect lower the process-wide TICK.
            ncclient.transport.session.TICK = NCCLIENT_TICK
            _plain_ncclient(host, port).close_session()  # warm: imports, first handshake
            base = _manager_figures(lambda: _plain_ncclient(host, port), rounds)
            ours = _manager_figures(lambda: _ours(host, port), rounds)
            via_nornir = _nornir_figures(router, rounds)
            idle_none = _cpu_percent(0, host, port)
            idle_many = _cpu_percent(IDLE_SESSIONS, host, port)
        finally:
            ncclient.transport.session.TICK = saved_tick
    out.notes = {
        "rounds": rounds,
        "rpc": RPC,
        "baseline": f"ncclient defaults: TICK {NCCLIENT_TICK}, no TCP_NODELAY",
        "ours": (
            f"nornir_esi.device.netconf.connect: RPCs sent at once, TICK {netconf.TICK},"
            " TCP_NODELAY"
        ),
        "nornir": "nornir_for + collect_state (the workers' path)",
    }
    ms = 1e3
    base_open, base_rpc = median(base["open"]) * ms, median(base["rpc"]) * ms
    for label, figures in (("netconf.connect", ours), ("Nornir path", via_nornir)):
        open_name = "session open" if label == "netconf.connect" else "first task, 1 RPC"
        out.figures += [
            Figure("netconf", f"{label}: {open_name}, median", median(figures["open"]) * ms,
                   "ms", baseline=base_open, baseline_name="ncclient defaults",
                   ratio=base_open / (median(figures["open"]) * ms), ratio_means="baseline/value",
                   extra={"p95": p95(figures["open"]) * ms}),
            Figure("netconf", f"{label}: RPC round trip, median", median(figures["rpc"]) * ms,
                   "ms", goal=("<=", 3.0), baseline=base_rpc, baseline_name="ncclient defaults",
                   ratio=base_rpc / (median(figures["rpc"]) * ms), ratio_means="baseline/value"),
            Figure("netconf", f"{label}: RPC round trip, p95", p95(figures["rpc"]) * ms, "ms",
                   baseline=p95(base["rpc"]) * ms, baseline_name="ncclient defaults"),
        ]  # fmt: skip
    out.figures.append(
        Figure("netconf", f"{IDLE_SESSIONS} idle sessions: CPU, % of a core", idle_many, "%",
               baseline=idle_none, baseline_name="no session open"),
    )  # fmt: skip
    return out
