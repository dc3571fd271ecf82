"""Soak: random gateway creates, updates and deletes while worker processes get killed.

Run: ``python -m bench.soak --ops 1000 --pairs 10`` (``--help`` for the options).

One etcd, a simulator with ``--pairs`` router pairs (``tests/synthetic.py``), and
``--processes`` ``nornir-esi run`` processes (the first two with a job manager, the rest
workers only; short leases). Operations go to ``/config`` at about ``--rate`` per second:

- create: a new gateway on a random pair, on a VLAN never used before on that pair;
- update: a live gateway's QoS option switched (10M <-> 20M: its unit's filters change on
  both routers), or only its description (no router change);
- delete: ``desired.delete`` (a ``marked_for_deletion`` version); once
  ``DELETE_COMPLETED`` the manager removes every key of the gateway.

Every ``--kill-every`` seconds (on average) a random process is SIGKILLed and started
again: during the operations, and during the settle (the wait until every gateway's
latest version has ended), where the first kill comes at once, while work is surely in
flight, and at most ``--settle-kills`` come, so that the run ends.

Then the checks, each of which a real defect would fail:

1. Every version ends in exactly one terminal ``/state``: read back from etcd's history
   (a watch from the first revision), each gateway's ``/state`` puts are the versions
   written to its ``/config``, in order, each once: ``CREATE_COMPLETED`` for the first,
   ``DELETE_COMPLETED`` for a delete, ``MODIFY_COMPLETED`` otherwise. A ``*_FAILED`` is a
   problem too: the only fault injected is a kill, which the engine must ride out (a
   killed worker's claim goes with its lease and the job runs again, with no limit on
   such attempts), so a FAILED means a kill was not ridden out.
2. A deleted gateway leaves no key (config, state, monitoring, worker cache, heat stack,
   applied params, job state) and no router carries it.
3. Nothing is left in flight: no key under the jobs, job state and pair queue prefixes (a
   killed process's place in a pair's queue goes with its lease, 30 s: waited for, up to a
   deadline); on every router no lock held, no confirmed commit pending and no change in
   the candidate; each router carries exactly the live gateways of its pair, with the QoS
   option of their latest version; no process died on its own.

The summary (seed, options, operations by kind, kills per phase, live gateways, the
phases' times, the git commit, the problems) is printed and written to ``--results``
(``bench/results/soak.json``); exit status 1 if there is any problem.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import ConfigRecord, State
from nornir_esi.device.known_hosts import FILE_ENV
from nornir_esi.netsim.device import Router
from nornir_esi.netsim.server import Simulator
from nornir_esi.store.base import Store
from nornir_esi.testing.etcd import EtcdServer
from tests.store.helpers import history, retry
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

RESULTS = Path(__file__).parent / "results" / "soak.json"
REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from nornir_esi.cli import main; main()"]
GW = "internet_gateway"
TERMINAL = {"CREATE_COMPLETED", "MODIFY_COMPLETED", "DELETE_COMPLETED"}
# Where a gateway has keys of its own; a completed delete removes them all at once.
RESOURCE_PREFIXES = {
    "config": keys.CONFIG_PREFIX,
    "state": keys.STATE_PREFIX,
    "monitoring": keys.MONITORING_PREFIX,
    "worker cache": keys.WORKER_CONFIG_PREFIX,
    "heat stack": keys.HEAT_STACKS_PREFIX,
    "applied": keys.APPLIED_PREFIX,
    "job state": keys.JOB_STATE_PREFIX,
}
# A pair queue entry's lease (the ttl of the EtcdMutex the service queues with): a killed
# process's entry stays that long after its last refresh.
PAIR_QUEUE_TTL = 30.0
# How long collecting the last jobs may take once every version has ended.
COLLECT_TIMEOUT = 60.0


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
        """SIGKILL a random process, wait for it and start it again; returns its index."""
        i = rng.randrange(len(self.procs))
        self.procs[i].kill()
        self.procs[i].wait()
        self.procs[i] = self._start(i)
        return i

    def dead(self) -> list[int]:
        """The indexes of the processes that have exited."""
        return dead(self.procs)

    def stop(self) -> None:
        """SIGTERM every process still running; SIGKILL one still there after 30 s."""
        stop(self.procs)


def dead(procs: Sequence[subprocess.Popen[bytes]]) -> list[int]:
    """The indexes of ``procs`` that have exited."""
    return [i for i, p in enumerate(procs) if p.poll() is not None]


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each of ``procs`` still running; SIGKILL one still there after 30 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
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
        """The ids of the gateways not deleted, in the order they were created."""
        return [i for i in self.bodies if i not in self.deleted]


def operate(store: Store, model: Model, rng: random.Random, ops: Counter[str]) -> None:
    """One random operation written to ``/config`` and to ``model``, counted in ``ops`` by kind.

    A create, update or delete (weights 5, 3, 2; a create while fewer than 3 gateways are
    live); an update switches the QoS option (7 in 10) or changes only the description.
    """
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


class Killer:
    """SIGKILLs a random process every ``mean`` seconds on average; counts per phase."""

    def __init__(self, procs: Processes, rng: random.Random, mean: float) -> None:
        self.procs, self.rng, self.mean = procs, rng, mean
        self.by_phase: Counter[str] = Counter()
        self.by_process: Counter[int] = Counter()
        self.last = time.monotonic()
        self.next = self.last + self.rng.expovariate(1 / mean)

    def due(self) -> bool:
        """Whether the next kill's time has come."""
        return time.monotonic() >= self.next

    def kill(self, phase: str) -> None:
        """Kill a random process (counted for ``phase``) and draw the time of the next kill."""
        self.by_process[self.procs.kill_one(self.rng)] += 1
        self.by_phase[phase] += 1
        self.last = time.monotonic()
        self.next = self.last + self.rng.expovariate(1 / self.mean)


def _ids(store: Store, prefix: str) -> set[str]:
    """The ids of the gateways with a key under ``prefix`` (a RESOURCE_PREFIXES value)."""
    under = keys.type_prefix(prefix, GW)
    return {entry.key.removeprefix(under) for entry in store.get_prefix(under)}


def _states(store: Store) -> dict[str, State]:
    under = keys.type_prefix(keys.STATE_PREFIX, GW)
    return {
        entry.key.removeprefix(under): State.from_value(entry.value)
        for entry in store.get_prefix(under)
    }


def unsettled(store: Store, model: Model) -> list[str]:
    """The gateways whose latest version has not ended yet, each described.

    Ended: a ``/state`` of that version, terminal or failed; for a delete, its keys gone
    (or a failed ``/state``: the delete will not go on, the checks report it).
    """
    states = _states(store)
    configs = _ids(store, keys.CONFIG_PREFIX)
    out = []
    for gid, version in model.versions.items():
        state = states.get(gid)
        failed = state is not None and state.worker_state.endswith("_FAILED")
        ended = (
            state is not None
            and state.version >= version
            and (state.worker_state in TERMINAL or failed)
        )
        if gid in model.deleted:
            ended = (gid not in configs and state is None) or (ended and failed)
        if not ended:
            out.append(
                f"gateway {gid}: version {version}"
                f"{' (delete)' if gid in model.deleted else ''} did not end: /state "
                f"{state and (state.version, state.worker_state)}, /config "
                f"{'present' if gid in configs else 'gone'}"
            )
    return out


def settle(store: Store, model: Model, killer: Killer, *, kills: int, timeout: float) -> list[str]:
    """Wait until every gateway's latest version has ended, killing a process now and then.

    The first kill comes at once, at most ``kills`` come. Returns the gateways still
    pending at the deadline.
    """
    killer.next = time.monotonic()
    deadline = time.monotonic() + timeout
    while True:
        pending = unsettled(store, model)
        if not pending or time.monotonic() > deadline:
            return pending
        if killer.by_phase["settle"] < kills and killer.due():
            killer.kill("settle")
        threading.Event().wait(0.5)


def left_in_flight(store: Store, last_kill: float) -> list[str]:
    """Keys of work in flight still there after their deadlines.

    The keys of jobs (collected once their workflow ended), of job states, and of pair queue
    entries (a killed process's goes with its lease).
    """
    now = time.monotonic()
    deadlines = {
        keys.JOBS_PREFIX: now + COLLECT_TIMEOUT,
        keys.JOB_STATE_PREFIX: now + COLLECT_TIMEOUT,
        keys.PAIR_QUEUE_PREFIX: max(now, last_kill + PAIR_QUEUE_TTL) + 15,
    }
    problems = []
    for prefix, deadline in deadlines.items():
        while (left := store.get_prefix(prefix)) and time.monotonic() < deadline:
            threading.Event().wait(0.5)
        if left:
            problems.append(f"{len(left)} keys left under {prefix}: {[e.key for e in left[:5]]}")
    return problems


def gateway_history(
    store: Store, start: int
) -> tuple[dict[str, list[ConfigRecord]], dict[str, list[State]], list[str]]:
    """Per gateway, the ``/config`` versions and ``/state`` values written since ``start``.

    Read from revision ``start`` to now, in order, duplicates kept; with a problem if etcd's
    history could not be read to the end.
    """
    written: dict[str, list[ConfigRecord]] = defaultdict(list)
    ended: dict[str, list[State]] = defaultdict(list)
    config_prefix = keys.type_prefix(keys.CONFIG_PREFIX, GW)
    state_prefix = keys.type_prefix(keys.STATE_PREFIX, GW)
    try:
        events = history(store, start)
    except AssertionError as exc:
        return written, ended, [f"etcd history: {exc}"]
    for event in events:
        if event.kind != "put":
            continue
        if event.key.startswith(config_prefix):
            written[event.key.removeprefix(config_prefix)].append(
                ConfigRecord.from_value(event.value)
            )
        elif event.key.startswith(state_prefix):
            ended[event.key.removeprefix(state_prefix)].append(State.from_value(event.value))
    return written, ended, []


def check_versions(
    model: Model, written: dict[str, list[ConfigRecord]], ended: dict[str, list[State]]
) -> list[str]:
    """Each version written ended in exactly one terminal ``/state``, in order (check 1).

    Also, ``/config`` holds what the soak wrote: its history ends at the soak's latest version.
    """
    problems = []
    for gid in sorted(set(written) | set(ended) | set(model.versions)):
        records = written.get(gid, [])
        want = [
            (
                record.version,
                "DELETE_COMPLETED"
                if record.marked_for_deletion
                else "MODIFY_COMPLETED"
                if n
                else "CREATE_COMPLETED",
            )
            for n, record in enumerate(records)
        ]
        states = ended.get(gid, [])
        have = [(state.version, state.worker_state) for state in states]
        if have != want:
            errors = [f"{s.version}: {s.error}" for s in states if s.error]
            problems.append(
                f"gateway {gid}: /state went {have}, for the versions written {want}"
                + (f"; errors {errors}" if errors else "")
            )
        latest = records[-1].version if records else None
        if model.versions.get(gid) != latest:
            problems.append(
                f"gateway {gid}: the soak wrote version {model.versions.get(gid)}, "
                f"/config's history ends at {latest}"
            )
    return problems


def check_deleted(store: Store, model: Model, on_routers: dict[str, dict[str, Any]]) -> list[str]:
    """A deleted gateway left no key and no router carries it (check 2)."""
    problems = []
    ids = {what: _ids(store, prefix) for what, prefix in RESOURCE_PREFIXES.items()}
    for gid in sorted(model.deleted):
        left = [what for what, present in ids.items() if gid in present]
        if left:
            problems.append(f"gateway {gid}: deleted, but keys left: {', '.join(left)}")
        body = model.bodies[gid]
        for name in pair_routers(model.graph, body).values():
            have = on_routers[name]
            if body["vrf_name"] in have["vrfs"] or str(body["vlan_id"]) in have["units"]:
                problems.append(f"gateway {gid}: deleted, but router {name} carries it")
    return problems


def check_routers(
    sim: Simulator, model: Model, qos: dict[str, str], on_routers: dict[str, dict[str, Any]]
) -> list[str]:
    """Each router carries exactly the live gateways of its pair, and nothing left over (check 3).

    The gateways with their latest QoS option; no lock, pending confirm or candidate change
    may be left.
    """
    problems = []
    live: dict[str, list[dict[str, Any]]] = {name: [] for name in on_routers}
    for gid in model.live():
        for name in pair_routers(model.graph, model.bodies[gid]).values():
            live[name].append(model.bodies[gid])
    for name, bodies in live.items():
        have, want = on_routers[name], expected(bodies, qos)
        if have != want:
            problems.append(f"router {name}: {_difference(have, want)}")
        leftovers = sim.call(functools.partial(_leftovers, sim.router(name)))
        problems.extend(f"router {name}: {leftover}" for leftover in leftovers)
    return problems


def _leftovers(router: Router) -> list[str]:
    """What an ended transaction must not leave on a router (run on the simulator's loop)."""
    out = []
    if router.lock_owner is not None:
        out.append(f"still locked by {router.lock_owner}")
    if router.confirm_pending:
        out.append("a confirmed commit is pending (the timer would roll it back)")
    if router.candidate_modified():
        out.append("its candidate differs from the running configuration")
    return out


def _git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak and its checks, print and write the summary; 1 if there is any problem."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="operations per second")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds, on average")
    parser.add_argument(
        "--settle-kills", type=int, default=3, help="at most this many kills while settling"
    )
    parser.add_argument("--lease-ttl", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to settle")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the summary's JSON file")
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
    problems: list[str] = []
    model = Model(graph, extra_qos)
    # The routers' host keys, recorded by the simulator, verified by the spawned workers.
    os.environ[FILE_ENV] = str(logs / "known_hosts")
    # The resources name the routers' password {ref: env:ESI_ROUTER_PASSWORD}; the spawned
    # workers resolve it from the environment they inherit (the simulator takes any).
    os.environ.setdefault("ESI_ROUTER_PASSWORD", "esi-soak-password")
    with EtcdServer("soak") as etcd, Simulator(router_specs(graph), minute=30) as sim:
        store = etcd.client(timeout=5.0)
        inventory = overrides_for(sim, names, logs)
        procs = Processes(etcd.endpoints, inventory, logs, args.processes, args.lease_ttl)
        killer = Killer(procs, rng, args.kill_every)
        try:
            start = store.revision() + 1
            desired.apply(store, graph + extra_qos)
            ops_began = time.monotonic()
            for _ in range(args.ops):
                operate(store, model, rng, ops)
                if killer.due():
                    killer.kill("ops")
                threading.Event().wait(rng.expovariate(args.rate))
            ops_done = time.monotonic()
            problems += settle(store, model, killer, kills=args.settle_kills, timeout=args.timeout)
            settled = time.monotonic()

            problems += left_in_flight(store, killer.last)
            written, ended, unread = gateway_history(store, start)
            problems += unread + check_versions(model, written, ended)
            on_routers = {name: carried(sim, name) for name in names}
            problems += check_deleted(store, model, on_routers)
            problems += check_routers(sim, model, qos_inputs(graph + extra_qos), on_routers)
            dead = procs.dead()
            if dead:
                problems.append(f"processes died on their own: {dead}")
        finally:
            procs.stop()
            store.close()
    summary = {
        "seed": seed,
        **_git_commit(),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "ops": sum(ops.values()),
        "ops_by_kind": dict(sorted(ops.items())),
        "pairs": args.pairs,
        "kills": {phase: killer.by_phase[phase] for phase in ("ops", "settle")},
        "kills_by_process": {str(i): n for i, n in sorted(killer.by_process.items())},
        "gateways": len(model.versions),
        "live_gateways": len(model.live()),
        "versions_written": sum(len(records) for records in written.values()),
        "ops_seconds": round(ops_done - ops_began, 1),
        "settle_seconds": round(settled - ops_done, 1),
        "duration_seconds": round(time.monotonic() - began, 1),
        "problems": problems,
        "logs": str(logs),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(summary, indent=2) + "\n")
    for problem in problems[:50]:
        print(f"PROBLEM: {problem}")
    print(json.dumps({k: v for k, v in summary.items() if k != "problems"}, indent=2))
    print(f"{len(problems)} problems; summary in {args.results}")
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
