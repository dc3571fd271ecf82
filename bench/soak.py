"""Soak: random gateway creates, updates and deletes while worker processes get killed.

Run: ``python -m bench.soak --ops 1000`` (options: ``--pairs``, ``--processes``,
``--rate``, ``--kill-every``, ``--seed``, ``--timeout``).

One etcd, a simulator with ``--pairs`` router pairs (``tests/synthetic.py``), and
``--processes`` ``nornir-esi run`` processes (the first two with a job manager, the rest
workers only; short leases). Operations go to ``/config`` at about ``--rate`` per second:

- create: a new gateway on a random pair, on a VLAN never used before on that pair;
- update: a live gateway's QoS option switched (10M <-> 20M: its unit's filters change on
  both routers), or only its description (no router change);
- delete: ``desired.delete`` (a ``marked_for_deletion`` version); once
  ``DELETE_COMPLETED`` the manager removes every key of the gateway.

Every ``--kill-every`` seconds (on average) a random process is SIGKILLed and started
again. At the end it waits until every gateway's ``/state`` is terminal for its latest
version, then checks that etcd and the routers agree: every router carries exactly the
live gateways of its pair (with the QoS option of their latest version), no router lock is
held and no job key is left. Prints a summary; exit status 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from nornir_esi import desired, keys
from nornir_esi.known_hosts import FILE_ENV
from nornir_esi.netsim.server import Simulator
from nornir_esi.records import State
from nornir_esi.store.base import Store
from nornir_esi.store.server import EtcdServer
from tests.store.helpers import retry
from tests.synthetic import (
    FIRST_VLAN,
    carried,
    expected,
    gateways,
    overrides_for,
    pair_routers,
    pairs_of,
    qos_20m,
    qos_inputs,
    resource_graph,
    router_names,
    router_specs,
)

CLI = [sys.executable, "-c", "from nornir_esi.cli import main; main()"]
GW = "internet_gateway"
TERMINAL = {"CREATE_COMPLETED", "MODIFY_COMPLETED", "DELETE_COMPLETED"}


class Processes:
    """The ``nornir-esi run`` processes; kill one and start it again."""

    def __init__(self, endpoints: str, inventory: Path, logs: Path, count: int, ttl: int):
        self.endpoints, self.inventory, self.logs, self.ttl = endpoints, inventory, logs, ttl
        self.args = [() if i < 2 else ("--no-manager",) for i in range(count)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.starts = Counter[int]()
        for i in range(count):
            self.procs.append(self._start(i))

    def _start(self, i: int) -> subprocess.Popen[bytes]:
        self.starts[i] += 1
        log = (self.logs / f"p{i}-{self.starts[i]}.log").open("wb")
        return subprocess.Popen(
            [
                *CLI,
                "run",
                "--etcd",
                self.endpoints,
                "--inventory",
                str(self.inventory),
                "--manager-lease-ttl",
                str(self.ttl),
                "--worker-lease-ttl",
                str(self.ttl),
                "--drift-interval",
                "0",
                *self.args[i],
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill_one(self, rng: random.Random) -> int:
        i = rng.randrange(len(self.procs))
        self.procs[i].kill()
        self.procs[i].wait()
        self.procs[i] = self._start(i)
        return i

    def dead(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p.poll() is not None]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Model:
    """What desired state says: each gateway's latest body and version, live or deleted."""

    def __init__(self, graph: list[tuple[str, dict[str, Any]]], extra_qos: list[Any]) -> None:
        self.graph = graph
        self.pairs = pairs_of(graph)
        self.next_vlan = [FIRST_VLAN] * len(self.pairs)
        self.bodies: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.deleted: set[str] = set()
        self.pair_of: dict[str, int] = {}
        # per pair: [10M qos id, 20M qos id]
        self.qos = [
            [p["qos_option"]["id"], q[1]["id"]] for p, q in zip(self.pairs, extra_qos, strict=True)
        ]

    def live(self) -> list[str]:
        return [i for i in self.bodies if i not in self.deleted]


def operate(store: Store, model: Model, rng: random.Random, ops: Counter[str]) -> None:
    live = model.live()
    kind = rng.choices(["create", "update", "delete"], weights=[5, 3, 2])[0]
    if len(live) < 3:
        kind = "create"
    if kind == "create":
        n = rng.randrange(len(model.pairs))
        vlan = model.next_vlan[n]
        model.next_vlan[n] += 1
        # gateways() spreads round-robin: ask for the one that lands on pair n.
        pair_graph = [
            item
            for item in model.graph
            if item[1]["id"] in {b["id"] for b in _pair_items(model.pairs[n])}
        ]
        ((_, body),) = gateways(pair_graph, 1, first_vlan=vlan)
        changes = retry(lambda: desired.apply(store, [(GW, body)]), timeout=30)
        model.bodies[body["id"]] = body
        model.versions[body["id"]] = changes[0].version
        model.pair_of[body["id"]] = n
    elif kind == "update":
        gid = rng.choice(live)
        body = dict(model.bodies[gid])
        n = model.pair_of[gid]
        if rng.random() < 0.7:
            ten, twenty = model.qos[n]
            body["qos_option_id"] = twenty if body["qos_option_id"] == ten else ten
            kind = "update-qos"
        else:
            body["description"] = f"soak {rng.randrange(10**9)}"
            kind = "update-description"
        changes = retry(lambda: desired.apply(store, [(GW, body)]), timeout=30)
        model.bodies[gid] = body
        model.versions[gid] = changes[0].version
    else:
        gid = rng.choice(live)
        (change,) = retry(lambda: desired.delete(store, [(GW, gid)]), timeout=30)
        model.versions[gid] = change.version
        model.deleted.add(gid)
    ops[kind] += 1


def _pair_items(pair: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for value in pair.values():
        if "id" in value:
            out.append(value)
        else:
            out.extend(value.values())
    return out


def _states(store: Store) -> dict[str, State]:
    out = {}
    for entry in store.get_prefix(keys.type_prefix(keys.STATE_PREFIX, GW)):
        parsed = keys.parse_state_key(entry.key)
        if parsed is not None:
            out[parsed[1]] = State.from_value(entry.value)
    return out


def _config_ids(store: Store) -> set[str]:
    out = set()
    for entry in store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, GW)):
        parsed = keys.parse_config_key(entry.key)
        if parsed is not None:
            out.add(parsed[1])
    return out


def _settled(deleted: bool, has_config: bool, state: State | None, version: int) -> bool:
    """The gateway's latest version ended: a terminal /state for it, or (deleted) gone."""
    if deleted and not has_config and state is None:
        return True  # DELETE_COMPLETED, and every key removed
    return (
        state is not None
        and state.version >= version
        and (state.worker_state in TERMINAL or state.worker_state.endswith("_FAILED"))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="operations per second")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds, on average")
    parser.add_argument("--lease-ttl", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to settle")
    args = parser.parse_args(argv)
    # SIGTERM ends the run like Ctrl-C: processes, simulator and etcd are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    rng = random.Random(seed)
    logs = Path(tempfile.mkdtemp(prefix="soak-"))
    began = time.monotonic()
    graph = resource_graph(args.pairs)
    extra_qos = qos_20m(graph)
    names = router_names(graph)
    ops: Counter[str] = Counter()
    kills: Counter[int] = Counter()
    problems: list[str] = []
    model = Model(graph, extra_qos)
    ops_done = settled = began
    mismatched_routers = 0
    # The routers' host keys, recorded by the simulator, verified by the spawned workers.
    os.environ[FILE_ENV] = str(logs / "known_hosts")
    # The resources name the routers' password {ref: env:ESI_ROUTER_PASSWORD}; the spawned
    # workers resolve it from the environment they inherit (the simulator takes any).
    os.environ.setdefault("ESI_ROUTER_PASSWORD", "esi-soak-password")
    with EtcdServer("soak") as etcd, Simulator(router_specs(graph), minute=30) as sim:
        store = etcd.client(timeout=5.0)
        inventory = overrides_for(sim, names, logs)
        procs = Processes(etcd.endpoints, inventory, logs, args.processes, args.lease_ttl)
        try:
            desired.apply(store, graph + extra_qos)
            next_kill = time.monotonic() + rng.expovariate(1 / args.kill_every)
            for _ in range(args.ops):
                operate(store, model, rng, ops)
                if time.monotonic() >= next_kill:
                    kills[procs.kill_one(rng)] += 1
                    next_kill = time.monotonic() + rng.expovariate(1 / args.kill_every)
                threading.Event().wait(rng.expovariate(args.rate))
            ops_done = time.monotonic()

            # Settle: every gateway's latest version has a terminal /state.
            deadline = time.monotonic() + args.timeout
            while True:
                states = _states(store)
                configs = _config_ids(store)
                pending = [
                    gid
                    for gid, version in model.versions.items()
                    if not _settled(gid in model.deleted, gid in configs, states.get(gid), version)
                ]
                if not pending or time.monotonic() > deadline:
                    break
                threading.Event().wait(0.5)
            settled = time.monotonic()
            for gid in pending:
                state = states.get(gid)
                problems.append(
                    f"gateway {gid}: no terminal /state for version {model.versions[gid]} "
                    f"(has {state and (state.version, state.worker_state)}, "
                    f"config {'present' if gid in configs else 'gone'})"
                )
            for gid, version in model.versions.items():
                state = states.get(gid)
                if gid in pending:
                    continue
                if gid in model.deleted:
                    if gid in configs:
                        problems.append(
                            f"gateway {gid}: deleted, {state and state.worker_state}, but its "
                            "/config key is still there"
                        )
                    continue
                assert state is not None
                if state.worker_state not in ("CREATE_COMPLETED", "MODIFY_COMPLETED"):
                    problems.append(
                        f"gateway {gid} version {version}: {state.worker_state} "
                        f"(version {state.version}) {state.error}"
                    )
            # Job keys go once the managers have collected the last jobs.
            jobs_deadline = time.monotonic() + 30
            while (left := retry(lambda: store.get_prefix(keys.JOBS_PREFIX), timeout=30)) and (
                time.monotonic() < jobs_deadline
            ):
                threading.Event().wait(0.2)
            if left:
                problems.append(f"{len(left)} job keys left: {[e.key for e in left[:5]]}")

            # The routers against etcd.
            qos = qos_inputs(graph + extra_qos)
            per_router: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for gid in model.live():
                for name in pair_routers(graph, model.bodies[gid]).values():
                    per_router[name].append(model.bodies[gid])
            for name, bodies in per_router.items():
                have, want = carried(sim, name), expected(bodies, qos)
                if have != want:
                    mismatched_routers += 1
                    problems.append(f"router {name}: {_difference(have, want)}")
                owner = sim.call(lambda n=name: sim.router(n).lock_owner)
                if owner is not None:
                    problems.append(f"router {name}: still locked by {owner}")
            dead = procs.dead()
            if dead:
                problems.append(f"processes died on their own: {dead}")
        finally:
            procs.stop()
            store.close()
    summary = {
        "seed": seed,
        "ops": sum(ops.values()),
        "by_kind": dict(ops),
        "gateways": len(model.versions),
        "live": len(model.live()),
        "kills": sum(kills.values()),
        "kills_by_process": dict(kills),
        "ops_seconds": round(ops_done - began, 1),
        "settle_seconds": round(settled - ops_done, 1),
        "duration_seconds": round(time.monotonic() - began, 1),
        "failed_or_missing_states": sum(1 for p in problems if p.startswith("gateway")),
        "router_mismatches": mismatched_routers,
        "problems": len(problems),
        "logs": str(logs),
    }
    for problem in problems[:50]:
        print(f"PROBLEM: {problem}")
    print(json.dumps(summary, indent=2))
    return 1 if problems else 0


def _difference(have: dict[str, Any], want: dict[str, Any]) -> str:
    parts = []
    for field in want:
        h, w = have[field], want[field]
        if isinstance(w, dict):
            missing = {k: v for k, v in w.items() if h.get(k) != v}
            extra = {k: v for k, v in h.items() if k not in w}
            if missing or extra:
                found = {k: h.get(k) for k in missing}
                parts.append(f"{field}: want {missing}, have {found}, extra {extra}")
        elif h != w:
            parts.append(
                f"{field}: missing {sorted(set(w) - set(h))} extra {sorted(set(h) - set(w))}"
            )
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
