"""``bench.perf`` sections scale and workers: past 1,000 gateways, and more worker processes.

Both run gateways through ``nornir-esi run`` processes (each a job manager, leader
elected, and a worker; pair transactions of at most ``--batch`` gateways) against routers
simulated by ``nornir-esi netsim`` processes (:class:`bench.perf_processes.SimulatorProcesses`:
a pair's two routers in one process, the pairs dealt over ``--sim-processes``), with 1 s
commits. A run's time is from the first ``/config`` apply (batches of 100 gateways) until
every gateway's ``/state`` is ``CREATE_COMPLETED`` (a watch). Its CPU is each process'
own accounting (``/proc/<pid>/stat``, user + system, all threads) over the same span, by
kind: the engine (the ``nornir-esi run`` processes: job managers and workers), the
simulators, etcd, and this process (the client writing ``/config`` and watching
``/state``). After every run each router is read over NETCONF (``get-config``) and must
carry exactly the gateways of its pair.

scale: for each size of ``--scale`` (1,000, 3,000 and 10,000 gateways), ``size /
--per-pair`` pairs (100 gateways a pair: the same load per router at every size), on one
etcd. Goals: the time per gateway at the largest size within 1.2x of that at the smallest;
the engine's CPU per gateway <= 5 ms. After the largest, every gateway is deleted (to
``/state`` gone) and the routers checked empty; etcd's database size is read with the
gateways live, after they are deleted, and after what an operator runs (``etcdctl compact``
to the current revision, ``etcdctl defrag``). Written beside ``perf.json``:
``scale.svg``, time and CPU against gateways.

workers: the throughput run (``--gateways`` on ``--pairs``) against a 3-node etcd
cluster with 1, 2 and 4 worker processes; then the same with commits that take no time,
where the whole run is CPU-bound: its speed-up is the speed-up of the CPU-bound share.
Baseline: 1 process. On this 2-core machine the simulators and etcd share the same two
cores: more than two busy processes can only divide them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.perf_common import Figure, Section, bench_env
from bench.perf_flow import (
    BATCH,
    GW,
    MINUTE,
    WorkerProcesses,
    check_routers,
    push_and_wait,
    settle_resources,
)
from bench.perf_processes import SimulatorProcesses, cpu_seconds, netconf_reader, read_all
from nornir_esi.contract import desired, keys
from nornir_esi.exceptions import StoreError
from nornir_esi.store.base import Store
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdCluster, EtcdServer
from tests.synthetic import (
    Item,
    gateways,
    overrides_for,
    resource_graph,
    router_names,
    router_specs,
)

__all__ = ["scale_section", "workers_section"]

PLOT = Path(__file__).parent / "results" / "scale.svg"
KINDS = ("engine", "simulators", "etcd", "client")
MB = 1024 * 1024


@dataclass
class Run:
    """One burst: its time (None unless all completed), CPU seconds by kind, what was wrong."""

    gateways: int
    pairs: int
    seconds: float | None
    cpu: dict[str, float]
    applied: float
    problems: list[str]
    teardown: dict[str, Any] = field(default_factory=dict)

    def per_gateway(self, kind: str) -> float:
        """CPU milliseconds of ``kind`` per gateway."""
        return self.cpu[kind] * 1000 / self.gateways


def _clocks(
    procs: WorkerProcesses, sims: SimulatorProcesses, etcd: EtcdServer | EtcdCluster
) -> dict[str, float]:
    return {
        "engine": cpu_seconds(p.pid for p in procs.procs),
        "simulators": cpu_seconds(sims.pids),
        "etcd": cpu_seconds(etcd.pids),
        "client": time.process_time(),
    }


def _status(etcd: EtcdServer) -> dict[str, int]:
    """The database size etcd reports (allocated and in use) and its revision."""
    (status,) = json.loads(
        etcd.etcdctl("--command-timeout=60s", "endpoint", "status", "-w", "json")
    )
    header = status["Status"]["header"]
    return {
        "db_size": int(status["Status"]["dbSize"]),
        "db_size_in_use": int(status["Status"].get("dbSizeInUse", 0)),
        "revision": int(header["revision"]),
    }


def _until_gone(feed: Feed, ids: set[str], deadline: float) -> set[str]:
    """Follow ``feed`` (on ``/state``) until every one of ``ids`` is deleted; those that were."""
    gone: set[str] = set()
    while len(gone) < len(ids) and time.monotonic() < deadline:
        event = feed.get(timeout=1.0)
        if event is None or event.kind != "delete":
            continue
        parsed = keys.parse_state_key(event.key)
        if parsed is not None and parsed[1] in ids:
            gone.add(parsed[1])
    return gone


def _key_counts(store: Store) -> dict[str, int]:
    """Keys left under each of the contract's top prefixes (``/config``, ``/state``, ...)."""
    counts: dict[str, int] = {}
    for entry in store.get_prefix("/"):
        parts = entry.key.split("/")
        top = "/".join(parts[:3]) if parts[1] == "esi-worker" else "/" + parts[1]
        counts[top] = counts.get(top, 0) + 1
    return counts


def _teardown(
    store: Store, etcd: EtcdServer, burst: list[Item], timeout: float
) -> tuple[dict[str, Any], list[str]]:
    """Delete every gateway of ``burst``, then etcd's size before and after compact and defrag."""
    problems: list[str] = []
    live = _status(etcd)
    ids = {body["id"] for _, body in burst}
    with Feed(
        store, [keys.type_prefix(keys.STATE_PREFIX, GW)], start_revision=live["revision"] + 1
    ) as feed:
        began = time.monotonic()
        for start in range(0, len(burst), BATCH):
            desired.delete(store, [(GW, body["id"]) for _, body in burst[start : start + BATCH]])
        gone = _until_gone(feed, ids, began + timeout)
        seconds = time.monotonic() - began
    if len(gone) != len(ids):
        problems.append(
            f"teardown: {len(gone)} of {len(ids)} gateways deleted after {seconds:.0f} s"
        )
    deleted = _status(etcd)
    counts = _key_counts(store)
    # etcdctl's 5 s default is too short for compacting the history of 10,000 gateways.
    etcd.etcdctl("--command-timeout=600s", "compact", str(deleted["revision"]), "--physical")
    etcd.etcdctl("--command-timeout=600s", "defrag")
    compacted = _status(etcd)
    report = {
        "delete_seconds": round(seconds, 1),
        "live": live,
        "deleted": deleted,
        "compacted": compacted,
        "keys_left": counts,
    }
    return report, problems


def run_burst(
    tmp: Path,
    *,
    size: int,
    pairs: int,
    commit_delay: float,
    slots: int,
    batch: int,
    sim_processes: int,
    worker_processes: int,
    cluster: bool,
    timeout: float,
    what: str,
    teardown: bool = False,
) -> Run:
    """``size`` gateways over ``pairs`` pairs through ``worker_processes`` processes.

    On a fresh etcd (a 3-node cluster with ``cluster``) and fresh simulator processes; the
    routers are checked afterwards (and, with ``teardown``, checked empty after deleting
    every gateway). See the module's docstring.
    """
    graph = resource_graph(pairs)
    burst = gateways(graph, size)
    names = router_names(graph)
    problems: list[str] = []
    seconds: float | None = None
    cpu: dict[str, float] = dict.fromkeys(KINDS, 0.0)
    report: dict[str, Any] = {}
    # Each run's logs (and inventory file) in a directory of its own under ``tmp``.
    logs = tmp / what.replace(",", "").replace(" ", "-")
    logs.mkdir(exist_ok=True)
    etcd: EtcdServer | EtcdCluster = EtcdCluster(3) if cluster else EtcdServer("perf-scale")
    with (
        etcd,
        SimulatorProcesses(
            router_specs(graph), sim_processes, commit_delay=commit_delay, minute=MINUTE, logs=logs
        ) as sims,
    ):
        store = etcd.client(timeout=30.0)
        endpoints = ",".join(etcd.endpoints) if isinstance(etcd, EtcdCluster) else etcd.endpoints
        inventory = overrides_for(sims, names, logs)  # type: ignore[arg-type]
        procs = WorkerProcesses(
            endpoints, inventory, logs, worker_processes, 15, slots=slots, batch=batch
        )
        try:
            settle_resources(store, graph, timeout)
            before = _clocks(procs, sims, etcd)
            seconds, applied, problems = push_and_wait(store, burst, timeout, what)
            after = _clocks(procs, sims, etcd)
            cpu = {kind: after[kind] - before[kind] for kind in KINDS}
            carried = read_all(netconf_reader(sims), names)
            problems += check_routers(carried.__getitem__, graph, burst, what)
            if teardown and isinstance(etcd, EtcdServer):
                try:
                    report, more = _teardown(store, etcd, burst, timeout)
                except StoreError as exc:  # the creation's figures still count
                    report, more = {}, [f"{what} teardown: {exc}"]
                problems += more
                carried = read_all(netconf_reader(sims), names)
                problems += check_routers(carried.__getitem__, graph, [], f"{what} deleted")
            if procs.dead() or sims.dead():
                problems.append(
                    f"{what}: processes died: workers {procs.dead()}, simulators {sims.dead()}"
                )
        finally:
            procs.stop()
            store.close()
    return Run(size, pairs, seconds, cpu, applied, problems, report)


def _plot(runs: Sequence[Run]) -> Path | None:
    """Total time and CPU by kind against gateways, as ``bench/results/scale.svg``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in runs if r.seconds is not None]
    if not done:
        return None
    x = [r.gateways for r in done]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(x, [r.seconds or 0.0 for r in done], marker="o", label="time to all CREATE_COMPLETED")
    first = done[0]
    axes.plot(
        x,
        [(first.seconds or 0.0) * r.gateways / first.gateways for r in done],
        color="grey",
        linestyle=":",
        label=f"time, linear from {first.gateways}",
    )
    for kind in KINDS:
        axes.plot(x, [r.cpu[kind] for r in done], marker=".", linestyle="--", label=f"CPU: {kind}")
    axes.set_xlabel("gateways (100 per pair)")
    axes.set_ylabel("seconds")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xticks(x, [str(n) for n in x])
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize="small")
    axes.set_title("nornir-esi: gateways through 2 worker processes, 1 s commits")
    PLOT.parent.mkdir(exist_ok=True)
    figure.tight_layout()
    figure.savefig(PLOT)
    plt.close(figure)
    return PLOT


def _run_json(run: Run) -> dict[str, Any]:
    return {
        "gateways": run.gateways,
        "pairs": run.pairs,
        "seconds": run.seconds,
        "applied_in_s": round(run.applied, 2),
        "cpu_s": {k: round(v, 2) for k, v in run.cpu.items()},
        **({"teardown": run.teardown} if run.teardown else {}),
    }


def scale_section(
    *,
    sizes: Sequence[int],
    per_pair: int,
    commit_delay: float,
    slots: int,
    batch: int,
    sim_processes: int,
    worker_processes: int,
    timeout: float,
) -> Section:
    """The scale figures: ``sizes`` gateways, ``per_pair`` a pair; see the module's docstring."""
    out = Section()
    runs: list[Run] = []
    with bench_env() as tmp:
        for i, size in enumerate(sizes):
            run = run_burst(
                tmp, size=size, pairs=max(1, size // per_pair), commit_delay=commit_delay,
                slots=slots, batch=batch, sim_processes=sim_processes,
                worker_processes=worker_processes, cluster=False, timeout=timeout,
                what=f"scale {size}", teardown=i == len(sizes) - 1,
            )  # fmt: skip
            out.problems += run.problems
            runs.append(run)
    plot = _plot(runs)
    out.notes = {
        "runs": [_run_json(r) for r in runs],
        "per_pair": per_pair,
        "commit_delay_s": commit_delay,
        "worker_processes": worker_processes,
        "simulator_processes": sim_processes,
        "slots_per_worker": slots,
        "batch": batch,
        "plot": str(plot) if plot else None,
        "logs": str(tmp),
    }
    first, last = runs[0], runs[-1]

    def per_gateway_ms(run: Run) -> float | None:
        return None if run.seconds is None else run.seconds * 1000 / run.gateways

    base = per_gateway_ms(first)
    for run in runs:
        value = per_gateway_ms(run)
        out.figures.append(
            Figure("scale", f"{run.gateways} gateways on {run.pairs} pairs: time per gateway",
                   value, "ms", baseline=base, baseline_name=f"at {first.gateways}",
                   ratio=None if value is None or not base else value / base,
                   ratio_means="value/baseline",
                   extra={"seconds": run.seconds, "cpu_s": run.cpu}),
        )  # fmt: skip
    last_ms = per_gateway_ms(last)
    out.figures.append(
        Figure("scale", f"{last.gateways} gateways: time per gateway / that at {first.gateways}",
               None if last_ms is None or not base else last_ms / base, "x", goal=("<=", 1.2)),
    )  # fmt: skip
    for run in runs:
        out.figures.append(
            Figure("scale", f"CPU per gateway, job manager and workers, {run.gateways} gateways",
                   run.per_gateway("engine"), "ms", goal=("<=", 5.0),
                   baseline=first.per_gateway("engine"), baseline_name=f"at {first.gateways}",
                   ratio=run.per_gateway("engine") / first.per_gateway("engine")
                   if first.per_gateway("engine") else None,
                   ratio_means="value/baseline",
                   extra={k: round(run.per_gateway(k), 3) for k in KINDS}),
        )  # fmt: skip
    for kind in KINDS[1:]:
        out.figures.append(
            Figure("scale", f"CPU per gateway, {kind} (not the engine's), {last.gateways} gateways",
                   last.per_gateway(kind), "ms", baseline=first.per_gateway(kind),
                   baseline_name=f"at {first.gateways}"),
        )  # fmt: skip
    if last.teardown:
        t = last.teardown
        out.figures += [
            Figure("scale", f"{last.gateways} gateways deleted -> /state gone",
                   t["delete_seconds"], "s", baseline=last.seconds,
                   baseline_name="their creation"),
            Figure("scale", f"etcd db after {last.gateways} gateways created and deleted",
                   t["deleted"]["db_size"] / MB, "MB", baseline=t["live"]["db_size"] / MB,
                   baseline_name="with them live",
                   extra={"in_use_mb": t["deleted"]["db_size_in_use"] / MB}),
            Figure("scale", "etcd db after etcdctl compact and defrag",
                   t["compacted"]["db_size"] / MB, "MB", baseline=t["deleted"]["db_size"] / MB,
                   baseline_name="before", extra={"keys_left": t["keys_left"]}),
        ]  # fmt: skip
    return out


def workers_section(
    *,
    gateway_count: int,
    pairs: int,
    counts: Sequence[int],
    commit_delay: float,
    slots: int,
    batch: int,
    sim_processes: int,
    timeout: float,
) -> Section:
    """The scale-out figures: 1, 2 and 4 worker processes on a 3-node etcd cluster."""
    out = Section()
    runs: dict[tuple[float, int], Run] = {}
    with bench_env() as tmp:
        for delay in (commit_delay, 0.0):
            for n in counts:
                run = run_burst(
                    tmp, size=gateway_count, pairs=pairs, commit_delay=delay, slots=slots,
                    batch=batch, sim_processes=sim_processes, worker_processes=n, cluster=True,
                    timeout=timeout, what=f"workers {n}, commit {delay:g} s",
                )  # fmt: skip
                out.problems += run.problems
                runs[delay, n] = run
    out.notes = {
        "runs": {f"commit {d:g} s, {n} processes": _run_json(r) for (d, n), r in runs.items()},
        "etcd": "3-node cluster on loopback",
        "simulator_processes": sim_processes,
        "logs": str(tmp),
    }
    for delay, label in ((commit_delay, f"{commit_delay:g} s commits"), (0.0, "CPU-bound")):
        base = runs[delay, counts[0]].seconds
        for n in counts:
            run = runs[delay, n]
            out.figures.append(
                Figure("workers", f"{n} worker process{'es' if n > 1 else ''}, {gateway_count} "
                       f"gateways, 3-node etcd, {label}", run.seconds, "s", baseline=base,
                       baseline_name=f"{counts[0]} process",
                       ratio=None if run.seconds is None or base is None else base / run.seconds,
                       ratio_means="baseline/value",
                       extra={"cpu_s": run.cpu}),
            )  # fmt: skip
    return out
