"""``bench.perf`` sections latency, throughput and memory: gateways end to end.

latency: etcd (``EtcdServer``), one simulated pair (``commit_delay`` 0) and a ``Service``
in this process (a job manager and one worker of 64 slots in threads, what ``nornir-esi
run`` starts). Gateways are created one at a time: the time from ``desired.apply`` of its
``/config`` until its ``/state`` reads ``CREATE_COMPLETED`` (``waiting.wait_for_state``, a
watch). Baseline: the simulator reset to day-0, the same gateways pushed one at a time by
the plain Nornir script (``bench.perf_plain``; both routers in parallel, sessions kept
open after the first).

throughput and memory: ``pairs`` simulated pairs (one simulator, in this process, with
``commit_delay`` 1 s), two ``nornir-esi run`` processes (each a job manager, leader
elected, and a worker of ``slots`` slots, pair transactions of at most ``batch`` gateways:
``bench.soak``'s ``Processes``). ``gateways``
gateways spread over the pairs are applied in batches of 100 and the time taken until
every one's ``/state`` is ``CREATE_COMPLETED`` (a watch on ``/state``). Meanwhile the
worker processes' RSS is sampled every 0.25 s: the memory figure is the largest, with
every gateway applied and in flight; its baseline the same processes idle, with the
resources applied, just before. The throughput baseline: a fresh simulator, the same
gateways pushed by the plain Nornir script (one commit per gateway and router).

After each push every router must carry exactly the gateways of its pair (unit, VRF,
filter terms, prefix list; ``tests.synthetic.carried``); otherwise the run fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.perf_common import Figure, RssSampler, Section, bench_env, median, p95
from bench.perf_plain import per_host, plain_nornir, run_push
from bench.soak import Processes
from nornir_esi.contract import desired, keys
from nornir_esi.contract.records import State
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.netsim.server import Simulator
from nornir_esi.service import Service
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdServer
from tests.synthetic import (
    Item,
    carried,
    expected,
    gateways,
    overrides_for,
    pair_routers,
    pairs_of,
    qos_inputs,
    resource_graph,
    router_names,
    router_specs,
)

__all__ = [
    "WorkerProcesses",
    "check_routers",
    "coalescing_section",
    "latency_section",
    "push_and_wait",
    "settle_resources",
    "sim_reader",
    "throughput_section",
    "until_completed",
]

GW = "internet_gateway"
BATCH = 100  # gateways per desired.apply (one etcd transaction)
MINUTE = 30.0  # simulated seconds per confirm-timer minute, as bench.soak


class WorkerProcesses(Processes):
    """``bench.soak``'s processes, with ``--slots`` and ``--batch``; none is killed here."""

    def __init__(self, *args: Any, slots: int, batch: int, **kwargs: Any) -> None:
        self.extra = ("--slots", str(slots), "--batch", str(batch))
        super().__init__(*args, **kwargs)

    def _start(self, i: int) -> Any:
        base = self.args[i]
        self.args[i] = (*base, *self.extra)
        try:
            return super()._start(i)
        finally:
            self.args[i] = base


def settle_resources(store: Store, graph: list[Item], timeout: float) -> None:
    """Apply the routers, interfaces, pairs, services and QoS options, and wait until each settles.

    Settled: a terminal ``/state`` (the workers reach every router once). Applied ten
    pairs at a time: an apply is one etcd transaction, of at most 128 operations.
    """
    per_pair = max(1, len(graph) // max(1, len(pairs_of(graph))))
    for start in range(0, len(graph), 10 * per_pair):
        desired.apply(store, graph[start : start + 10 * per_pair])
    for resource_type, body in graph:
        state = wait_for_state(store, resource_type, body["id"], timeout=timeout)
        if state is None or not state.worker_state.endswith(("COMPLETED", "COMPLETE")):
            raise SystemExit(f"{resource_type} {body['id']}: {state} after {timeout:.0f} s")


def check_routers(
    read: Callable[[str], dict[str, Any]], graph: list[Item], burst: Iterable[Item], what: str
) -> list[str]:
    """Every router carries exactly the gateways of ``burst`` on its pair.

    ``read(name)``: what router ``name`` carries (``tests.synthetic.carried``'s shape).
    """
    on_router: dict[str, list[dict[str, Any]]] = {name: [] for name in router_names(graph)}
    for _, body in burst:
        for name in pair_routers(graph, body).values():
            on_router[name].append(body)
    qos = qos_inputs(graph)
    problems = []
    for name, bodies in on_router.items():
        have, want = read(name), expected(bodies, qos)
        if have != want:
            missing = sorted(set(want["vrfs"]) - set(have["vrfs"]))
            extra = sorted(set(have["vrfs"]) - set(want["vrfs"]))
            problems.append(
                f"{what}: router {name} does not carry its {len(bodies)} gateways: "
                f"{len(missing)} VRFs missing {missing[:3]}, {len(extra)} extra {extra[:3]}, "
                f"units {len(have['units'])}/{len(want['units'])}"
            )
    return problems


def sim_reader(sim: Simulator) -> Callable[[str], dict[str, Any]]:
    """``check_routers``'s reader of the routers of an in-process simulator."""
    return lambda name: carried(sim, name)


def latency_section(*, samples: int, baseline_tick: float, timeout: float) -> Section:
    """The latency figures: ``samples`` gateways one at a time, ours and the plain script's.

    See the module's docstring; the plain script's ncclient polls every ``baseline_tick``.
    """
    out = Section()
    graph = resource_graph(1)
    names = router_names(graph)
    burst = gateways(graph, samples)
    ours: list[float] = []
    plain: list[float] = []
    with (
        bench_env() as tmp,
        EtcdServer("perf-latency") as etcd,
        Simulator(router_specs(graph), commit_delay=0.0) as sim,
    ):
        store = etcd.client(timeout=10.0)
        try:
            with Service(store, inventory=str(overrides_for(sim, names, tmp)), workers=1):
                settle_resources(store, graph, timeout)
                for item in burst:
                    began = time.perf_counter()
                    desired.apply(store, [item])
                    state = wait_for_state(store, GW, item[1]["id"], version=1, timeout=timeout)
                    elapsed = time.perf_counter() - began
                    if state is None or state.worker_state != "CREATE_COMPLETED":
                        out.problems.append(f"latency: gateway {item[1]['id']}: {state}")
                        break
                    ours.append(elapsed)
            out.problems += check_routers(sim_reader(sim), graph, burst, "latency")
            sim.reset()
            with plain_nornir(sim, names, tmp, tick=baseline_tick) as nr:
                for item in burst:
                    began = time.perf_counter()
                    run_push(nr, per_host(graph, [item]))
                    plain.append(time.perf_counter() - began)
            out.problems += check_routers(sim_reader(sim), graph, burst, "latency baseline")
        finally:
            store.close()
    # The first of each opens the sessions (and warms imports): left out of both.
    ours, plain = ours[1:], plain[1:]
    out.notes = {
        "samples": len(ours),
        "service": "in this process: a job manager and one worker (64 slots), threads",
        "baseline": f"plain Nornir script, ncclient TICK {baseline_tick}, sessions open",
    }
    if not ours or not plain:
        return out
    base_median = median(plain)
    out.figures += [
        Figure("latency", "one gateway /config -> CREATE_COMPLETED, median", median(ours), "s",
               goal=("<=", 0.5), baseline=base_median, baseline_name="plain Nornir push",
               ratio=median(ours) / base_median, ratio_means="value/baseline",
               extra={"samples": len(ours)}),
        Figure("latency", "one gateway /config -> CREATE_COMPLETED, p95", p95(ours), "s",
               baseline=p95(plain), baseline_name="plain Nornir push",
               ratio=p95(ours) / p95(plain), ratio_means="value/baseline"),
    ]  # fmt: skip
    return out


def until_completed(feed: Feed, ids: set[str], deadline: float) -> tuple[set[str], dict[str, str]]:
    """Follow ``feed`` (on ``/state``) until every gateway of ``ids`` is CREATE_COMPLETED or failed.

    Returns those completed and those failed (id -> the state and its error), as far as
    they got by ``deadline`` (a ``time.monotonic`` value).
    """
    done: set[str] = set()
    failed: dict[str, str] = {}
    while len(done) + len(failed) < len(ids) and time.monotonic() < deadline:
        event = feed.get(timeout=1.0)
        if event is None or event.kind != "put":
            continue
        parsed = keys.parse_state_key(event.key)
        if parsed is None or parsed[1] not in ids:
            continue
        state = State.from_value(event.value)
        if state.worker_state == "CREATE_COMPLETED":
            done.add(parsed[1])
        elif state.worker_state.endswith("_FAILED"):
            failed[parsed[1]] = f"{state.worker_state}: {state.error}"
    return done, failed


def push_and_wait(
    store: Store, burst: list[Item], timeout: float, what: str
) -> tuple[float | None, float, list[str]]:
    """Apply ``burst`` (``BATCH`` gateways per apply), then follow ``/state`` until all complete.

    Returns the seconds from the first apply until every gateway was CREATE_COMPLETED (None
    when not all were by ``timeout``), the seconds the applies took, and what went wrong.
    """
    ids = {body["id"] for _, body in burst}
    revision = store.revision()
    with Feed(
        store, [keys.type_prefix(keys.STATE_PREFIX, GW)], start_revision=revision + 1
    ) as feed:
        began = time.monotonic()
        for start in range(0, len(burst), BATCH):
            desired.apply(store, burst[start : start + BATCH])
        applied = time.monotonic() - began
        done, failed = until_completed(feed, ids, began + timeout)
        elapsed = time.monotonic() - began
    if len(done) == len(ids):
        return elapsed, applied, []
    return (
        None,
        applied,
        [
            f"{what}: {len(done)} of {len(ids)} gateways CREATE_COMPLETED after "
            f"{elapsed:.0f} s, {len(failed)} failed {list(failed.values())[:3]}"
        ],
    )


@dataclass
class _Burst:
    """One burst through the workers: its time, the workers' RSS, the applies' time, the problems.

    The time is None when not all completed; the RSS is taken idle and at peak.
    """

    seconds: float | None
    idle: float
    peak: float
    applied: float
    samples: int
    problems: list[str]


def _burst(
    tmp: Path,
    graph: list[Item],
    burst: list[Item],
    *,
    commit_delay: float,
    slots: int,
    batch: int,
    timeout: float,
    what: str,
    processes: int = 2,
) -> _Burst:
    """``burst`` through two ``nornir-esi run`` processes on a fresh etcd and simulator.

    The routers are checked afterwards.
    """
    names = router_names(graph)
    problems: list[str] = []
    seconds: float | None = None
    with (
        EtcdServer("perf-" + what.replace(" ", "-")) as etcd,
        Simulator(router_specs(graph), commit_delay=commit_delay, minute=MINUTE) as sim,
    ):
        store = etcd.client(timeout=10.0)
        inventory = overrides_for(sim, names, tmp)
        procs = WorkerProcesses(
            etcd.endpoints, inventory, tmp, processes, 15, slots=slots, batch=batch
        )
        try:
            settle_resources(store, graph, timeout)
            sampler = RssSampler([p.pid for p in procs.procs])
            idle = max(sampler.sample())
            with sampler:
                seconds, applied, problems = push_and_wait(store, burst, timeout, what)
            if procs.dead():
                problems.append(f"{what}: worker processes died: {procs.dead()}")
        finally:
            procs.stop()
            store.close()
        problems += check_routers(sim_reader(sim), graph, burst, what)
    return _Burst(seconds, idle, sampler.peak, applied, sampler.samples, problems)


def throughput_section(
    *,
    gateway_count: int,
    pairs: int,
    commit_delay: float,
    slots: int,
    batch: int,
    baseline_tick: float,
    timeout: float,
    processes: int = 2,
) -> Section:
    """The throughput and memory figures of a burst of ``gateway_count`` gateways.

    Through ``processes`` ``nornir-esi run`` processes, beside the plain Nornir push of the
    same gateways on a fresh simulator (see the module's docstring).
    """
    out = Section()
    graph = resource_graph(pairs)
    names = router_names(graph)
    burst = gateways(graph, gateway_count)
    with bench_env() as tmp:
        run = _burst(
            tmp, graph, burst, commit_delay=commit_delay, slots=slots, batch=batch,
            timeout=timeout, what="throughput", processes=processes,
        )  # fmt: skip
        out.problems += run.problems
        ours, idle, peak, applied = run.seconds, run.idle, run.peak, run.applied
        # The baseline on a fresh simulator: the same routers at day-0.
        with (
            Simulator(router_specs(graph), commit_delay=commit_delay, minute=MINUTE) as fresh,
            plain_nornir(fresh, names, tmp, tick=baseline_tick) as nr,
        ):
            pushes = per_host(graph, burst)
            began = time.monotonic()
            run_push(nr, pushes)
            plain = time.monotonic() - began
            out.problems += check_routers(sim_reader(fresh), graph, burst, "throughput baseline")
    out.notes = {
        "gateways": gateway_count,
        "pairs": pairs,
        "routers": len(names),
        "commit_delay_s": commit_delay,
        "worker_processes": f"{processes} x nornir-esi run (job manager leader-elected, "
        "1 worker each)",
        "slots_per_worker": slots,
        "batch": batch,
        "applied_in_s": round(applied, 2),
        "rss_samples": run.samples,
        "baseline": f"plain Nornir script, 1 commit per gateway and router, TICK {baseline_tick}",
        "logs": str(Path(tmp)),
    }
    out.figures += [
        Figure("throughput", f"{gateway_count} gateways on {pairs} pairs -> all CREATE_COMPLETED",
               ours, "s", goal=("<=", 12.0), baseline=plain, baseline_name="plain Nornir push",
               ratio=None if ours is None else plain / ours, ratio_means="baseline/value",
               extra={"gateways_per_s": None if ours is None else gateway_count / ours}),
        Figure("throughput", "speed-up over the plain Nornir push",
               None if ours is None else plain / ours, "x", goal=(">=", 10.0)),
        Figure("memory", f"worker process peak RSS, {gateway_count} gateways in flight", peak,
               "MB", goal=("<=", 300.0), baseline=idle, baseline_name="same process idle",
               ratio=peak / idle if idle else None, ratio_means="value/baseline"),
    ]  # fmt: skip
    return out


def coalescing_section(
    *, gateway_count: int, pairs: int, commit_delay: float, slots: int, batch: int, timeout: float
) -> Section:
    """The commit coalescing lever: the same burst with and without coalescing.

    With transactions of one gateway (``--batch 1``) and of up to ``batch``, each on a fresh
    etcd and simulator.
    """
    out = Section()
    graph = resource_graph(pairs)
    burst = gateways(graph, gateway_count)
    with bench_env() as tmp:
        off = _burst(
            tmp, graph, burst, commit_delay=commit_delay, slots=slots, batch=1,
            timeout=timeout, what="coalescing off",
        )  # fmt: skip
        on = _burst(
            tmp, graph, burst, commit_delay=commit_delay, slots=slots, batch=batch,
            timeout=timeout, what="coalescing on",
        )  # fmt: skip
    out.problems += off.problems + on.problems
    out.notes = {"gateways": gateway_count, "pairs": pairs, "slots_per_worker": slots}
    speedup = None if on.seconds is None or off.seconds is None else off.seconds / on.seconds
    out.figures.append(
        Figure("coalescing", f"{gateway_count} gateways on {pairs} pairs, --batch {batch}",
               on.seconds, "s", baseline=off.seconds, baseline_name="--batch 1: one per commit",
               ratio=speedup, ratio_means="baseline/value"),
    )  # fmt: skip
    return out
