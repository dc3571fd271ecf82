"""Benchmark of what the safety measures cost a router session and a job.

Run: ``python -m bench.safety [--rounds 40]``. One simulated router; per round, one RPC
(``get-interface-information``) sent through the workers' own path (Nornir inventory,
the ``collect_state`` task: ``NornirDevices.interfaces_up``), on a new session (the
session pool emptied first: the handshake, key check and login are paid) and on a kept
one (what a job on a router another job just used pays), in four variants, interleaved
so that drift on the machine hits them alike (within a phase per mode):

- ``baseline``: the router's key not verified (``ESI_ACCEPT_UNKNOWN_HOST_KEYS=1``, an empty
  known-hosts file) and a plain password in the resource body: what the workers did
  before;
- ``host key``: the key verified against a known-hosts file of ``--known`` lines (the
  router's among them);
- ``secret``: the password a reference (``env:``) resolved at connect;
- ``both``: as the workers run now.

Medians and 95th percentiles in ms; ratios against the baseline of the same run. Written to
``bench/results/safety.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nornir_esi.device.connections import POOL
from nornir_esi.device.known_hosts import ACCEPT_ENV, FILE_ENV, record
from nornir_esi.netsim.hostkeys import known_hosts_line
from nornir_esi.netsim.server import RouterSpec, Simulator
from nornir_esi.pair.devices import NornirDevices

RESULTS = Path(__file__).parent / "results" / "safety.json"
NAME = "MX-bench"
PASSWORD = "bench-password"
SECRET_ENV = "ESI_BENCH_ROUTER_PASSWORD"


def _router(host: str, port: int, password: Any) -> dict[str, Any]:
    return {"id": NAME, "name": NAME, "ip": host, "ssh_port": port, "login": "esi",
            "password": password}  # fmt: skip


def _variant(env: dict[str, str], router: dict[str, Any], *, fresh: bool) -> Callable[[], float]:
    devices = NornirDevices()

    def once() -> float:
        os.environ.pop(ACCEPT_ENV, None)
        os.environ.update(env)
        if fresh:
            POOL.clear()
        began = time.perf_counter()
        if not devices.interfaces_up(router, ["ae0"]):
            raise SystemExit(f"{NAME}: ae0 not up, or the router unreachable, with {env}")
        return time.perf_counter() - began

    return once


def main() -> None:
    """Run the rounds, print the table and write ``bench/results/safety.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--known", type=int, default=1000, help="lines in the known-hosts file")
    args = parser.parse_args()
    # The baseline's "not verified" warning, once per session, is not what is measured.
    logging.getLogger("nornir_esi.device.known_hosts").setLevel(logging.ERROR)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Simulator([RouterSpec(NAME, "127.0.0.1", 0)], users={"esi": PASSWORD}) as sim,
    ):
        host, port = sim.address(NAME)
        empty, known = Path(tmp) / "empty", Path(tmp) / "known_hosts"
        empty.write_text("")
        # Other routers' lines around the one that matters, as in a fleet's file.
        record(known, [known_hosts_line(f"R{n}", "10.0.0.1", 20000 + n) for n in range(args.known)])
        record(known, [known_hosts_line(NAME, host, port)])
        os.environ[SECRET_ENV] = PASSWORD
        plain = _router(host, port, PASSWORD)
        ref = _router(host, port, {"ref": f"env:{SECRET_ENV}"})
        unverified = {FILE_ENV: str(empty), ACCEPT_ENV: "1"}
        verified = {FILE_ENV: str(known)}
        settings = {
            "baseline": (unverified, plain),
            "host key": (verified, plain),
            "secret": (unverified, ref),
            "both": (verified, ref),
        }
        variants = {
            f"{name}, {mode}": _variant(env, router, fresh=mode == "new session")
            for mode in ("new session", "kept session")
            for name, (env, router) in settings.items()
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        # One phase per mode (a new session empties the pool the kept ones live in), the
        # variants interleaved within it; the first call of each is a warm-up.
        for mode in ("kept session", "new session"):
            phase = {name: run for name, run in variants.items() if name.endswith(mode)}
            for run in phase.values():
                run()
            for _ in range(args.rounds):
                for name, run in phase.items():
                    times[name].append(run())
    report: dict[str, Any] = {"rounds": args.rounds, "known_hosts_lines": args.known + 1}
    print(f"one RPC through Nornir, {args.rounds} rounds, known_hosts of {args.known + 1} lines")
    for name, values in times.items():
        base = statistics.median(times[f"baseline, {name.split(', ')[1]}"])
        median = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[-1]
        report[name] = {"median_ms": median * 1e3, "p95_ms": p95 * 1e3, "ratio": median / base}
        print(f"  {name:24} median {median * 1e3:7.1f} ms  p95 {p95 * 1e3:7.1f} ms  "
              f"x{median / base:.2f} of its baseline")  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
