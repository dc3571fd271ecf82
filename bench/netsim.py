"""Benchmark of the router simulator: routers per process, session open, RPC round trip.

Run: ``make bench`` (or ``python -m bench.netsim [--routers 100] [--rounds 200]``).

The simulator runs in its own process, started exactly as operators start it
(``nornir-esi netsim --router ...``), so its CPU and memory are its own; clients run here.
Figures are medians and 95th percentiles over many rounds; ratios compare client settings
measured in this same run:

- ``raw``: a minimal asyncssh NETCONF client (no framework): the floor the server allows;
- ``ncclient tick=0.1``: ncclient as shipped (its I/O thread polls every 0.1 s);
- ``ncclient tick=0.005``: a 5 ms poll;
- ``ncclient tick=0.005 nodelay``: and a socket with TCP_NODELAY handed to ncclient (paramiko
  does not set it; without it Nagle holds the small SSH handshake packets ~40 ms each).

Results are printed as a table and written to ``bench/results/netsim.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncssh
import ncclient.transport.session
from ncclient import manager

RESULTS = Path(__file__).parent / "results" / "netsim.json"
HELLO = (
    b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
    b"<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>"
)
RPC = (
    b'<rpc message-id="%d" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    b"<get-software-information/></rpc>]]>]]>"
)
GATEWAY = """
interfaces { ae0 { unit 1025 { apply-groups InetGW1-VRRP; description inet_gw; vlan-id 1025;
  family inet { filter { input FILTER_10M-GA-UP-INET; output FILTER_10M-GA-DOWN-INET; } } } } }
routing-instances { vrf_bench { instance-type virtual-router; interface ae0.1025;
  routing-options { instance-import INSTANCE-USER_IN; instance-export INSTANCE-USER_OUT; } } }
"""


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 3),
        "n": len(ordered),
    }


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_simulator(routers: int) -> tuple[subprocess.Popen[str], list[tuple[str, int]], float]:
    """``nornir-esi netsim`` with routers on 127.66.0.1..N port 830; returns the start time."""
    args = [sys.executable, "-c", "from nornir_esi.cli import main; main()", "netsim"]
    addresses = [(f"127.66.{i // 250}.{i % 250 + 1}", 830) for i in range(routers)]
    for i, (host, port) in enumerate(addresses):
        args += ["--router", f"R{i:03d}={host}:{port},role={'primary' if i % 2 else 'secondary'}"]
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in addresses:
        line = proc.stdout.readline()
        if not line.startswith("netsim: "):
            proc.kill()
            raise SystemExit(
                f"simulator failed to start: {line}{proc.stderr.read() if proc.stderr else ''}"
            )
    return proc, addresses, time.perf_counter() - started


async def raw_client(host: str, port: int, rounds: int) -> tuple[float, list[float]]:
    """A minimal asyncssh NETCONF client's session open time and ``rounds`` RPC round trips."""
    opened = time.perf_counter()
    async with asyncssh.connect(host, port, username="esi", password="x", known_hosts=None) as conn:
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        await reader.readuntil(b"]]>]]>")
        writer.write(HELLO)
        open_time = time.perf_counter() - opened
        samples = []
        for i in range(rounds):
            t = time.perf_counter()
            writer.write(RPC % i)
            await reader.readuntil(b"]]>]]>")
            samples.append(time.perf_counter() - t)
        writer.close()
    return open_time, samples


def _ncclient(host: str, port: int, *, nodelay: bool = False, password: str = "x") -> Any:
    sock = socket.create_connection((host, port))
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return manager.connect(
        host=host,
        port=port,
        sock=sock,
        username="esi",
        password=password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        device_params={"name": "junos"},
        timeout=60,
    )


def ncclient_figures(
    host: str, port: int, tick: float, rounds: int, opens: int, *, nodelay: bool = False
) -> dict[str, Any]:
    """The figures of ncclient with its poll interval set to ``tick`` (TCP_NODELAY if asked).

    ``opens`` sessions opened and closed, then on one session ``rounds`` RPCs and a tenth
    as many (at least 10) load-and-commits of a gateway: the statistics of each.
    """
    ncclient.transport.session.TICK = tick
    open_samples = []
    for _ in range(opens):
        t = time.perf_counter()
        m = _ncclient(host, port, nodelay=nodelay)
        open_samples.append(time.perf_counter() - t)
        m.close_session()
    m = _ncclient(host, port, nodelay=nodelay)
    rpc_samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        m.rpc("<get-software-information/>")
        rpc_samples.append(time.perf_counter() - t)
    commit_samples = []
    for i in range(max(10, rounds // 10)):
        t = time.perf_counter()
        m.load_configuration(
            format="text", action="merge", config=GATEWAY.replace("1025", str(100 + i))
        )
        m.commit(comment=f"bench {i}")
        commit_samples.append(time.perf_counter() - t)
    m.close_session()
    return {
        "session_open": _stats(open_samples),
        "rpc": _stats(rpc_samples),
        "load_and_commit": _stats(commit_samples),
    }


async def fan_out(addresses: list[tuple[str, int]]) -> float:
    """One session and one RPC on every router at once; the wall time."""
    t = time.perf_counter()
    await asyncio.gather(*(raw_client(h, p, 1) for h, p in addresses))
    return time.perf_counter() - t


def measure(routers: int, rounds: int) -> dict[str, Any]:
    """The figures of one simulator process of ``routers`` routers, and the ratios between them."""
    proc, addresses, start_s = start_simulator(routers)
    try:
        idle_rss = _rss_mb(proc.pid)
        host, port = addresses[0]
        raw_open, raw_rpc = asyncio.run(raw_client(host, port, rounds))
        shipped = ncclient_figures(host, port, 0.1, max(20, rounds // 10), 5)
        tuned = ncclient_figures(addresses[1][0], addresses[1][1], 0.005, rounds, 20)
        nodelay = ncclient_figures(
            addresses[2][0], addresses[2][1], 0.005, rounds, 20, nodelay=True
        )
        fan_s = asyncio.run(fan_out(addresses))
        busy_rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    raw = {"session_open_ms": round(raw_open * 1000, 3), "rpc": _stats(raw_rpc)}
    return {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "routers": routers,
        "simulator_start_s": round(start_s, 3),
        "simulator_rss_mb": {"idle": round(idle_rss, 1), "after_sessions": round(busy_rss, 1)},
        "all_routers_one_session_one_rpc_s": round(fan_s, 3),
        "raw_asyncssh": raw,
        "ncclient_tick_0.1": shipped,
        "ncclient_tick_0.005": tuned,
        "ncclient_tick_0.005_nodelay": nodelay,
        "ratios": {
            "rpc_tick_0.1_over_tick_0.005": round(
                shipped["rpc"]["median_ms"] / tuned["rpc"]["median_ms"], 1
            ),
            "rpc_ncclient_0.005_over_raw": round(
                tuned["rpc"]["median_ms"] / raw["rpc"]["median_ms"], 1
            ),
            "session_open_plain_over_nodelay": round(
                tuned["session_open"]["median_ms"] / nodelay["session_open"]["median_ms"], 1
            ),
        },
    }


def _table(result: dict[str, Any]) -> str:
    rss = result["simulator_rss_mb"]
    raw = result["raw_asyncssh"]
    rows: list[tuple[str, str]] = [
        ("cores", str(result["machine"]["cores"])),
        ("routers in one simulator process", str(result["routers"])),
        ("simulator start (all listening)", f"{result['simulator_start_s']} s"),
        (
            "simulator RSS idle / after sessions",
            f"{rss['idle']} / {rss['after_sessions']} MB",
        ),
        ("session+RPC on every router at once", f"{result['all_routers_one_session_one_rpc_s']} s"),
        ("raw asyncssh: session open", f"{raw['session_open_ms']} ms"),
        (
            "raw asyncssh: RPC median / p95",
            f"{raw['rpc']['median_ms']} / {raw['rpc']['p95_ms']} ms",
        ),
    ]
    for key in ("ncclient_tick_0.1", "ncclient_tick_0.005", "ncclient_tick_0.005_nodelay"):
        fig = result[key]
        rows += [
            (f"{key}: session open median", f"{fig['session_open']['median_ms']} ms"),
            (f"{key}: RPC median / p95", f"{fig['rpc']['median_ms']} / {fig['rpc']['p95_ms']} ms"),
            (f"{key}: load+commit median", f"{fig['load_and_commit']['median_ms']} ms"),
        ]
    rows += [(f"ratio {k}", f"{v}x") for k, v in result["ratios"].items()]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and write ``bench/results/netsim.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    result = measure(args.routers, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(_table(result))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
