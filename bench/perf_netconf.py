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

And what idle sessions cost: this process' CPU time (the simulator's thread included) over
``IDLE_SECONDS`` of wall time with ``IDLE_SESSIONS`` sessions of ours open and idle, their
threads quiet (``netconf.quiet_io_threads``: nothing wakes them but the router's data, or
``IDLE_WAIT``); the baseline, the same sessions in the same run polling as ncclient and
paramiko do by themselves (the I/O thread every ``TICK``, the transport every 0.1 s).
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
IDLE_SESSIONS = 1000
IDLE_SECONDS = 3.0


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


def _window() -> float:
    """% of a core this process uses over ``IDLE_SECONDS`` of doing nothing."""
    cpu, wall = time.process_time(), time.perf_counter()
    time.sleep(IDLE_SECONDS)  # the measurement window itself: nothing to wait for
    return 100 * (time.process_time() - cpu) / (time.perf_counter() - wall)


def _idle_cpu(sessions: int, host: str, port: int) -> tuple[float, float]:
    """``(quiet, polling)``: % of a core with ``sessions`` of ours idle, then polling again.

    Polling is what ncclient and paramiko do by themselves: the same sessions, their I/O
    threads back on ``TICK`` and their transports' sockets on 0.1 s.
    """
    opened = [_ours(host, port) for _ in range(sessions)]
    try:
        quiet = _window()
        for manager in opened:
            session = manager._session
            session._esi_sends_directly = False
            session._transport.sock.settimeout(0.1)
        # The next wake-up of each (within IDLE_WAIT) puts it back on the short poll.
        time.sleep(netconf.IDLE_WAIT)
        return quiet, _window()
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
            idle_none = _window()
            idle_quiet, idle_polling = _idle_cpu(IDLE_SESSIONS, host, port)
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
        Figure("netconf", f"{IDLE_SESSIONS} idle sessions: CPU, % of a core", idle_quiet, "%",
               goal=("<=", 5.0), baseline=idle_polling,
               baseline_name=f"the same, polling (none open: {idle_none:.1f} %)",
               ratio=idle_polling / idle_quiet if idle_quiet else None,
               ratio_means="baseline/value"),
    )  # fmt: skip
    return out
