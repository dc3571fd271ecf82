"""The performance benchmark of issues 9 and 21: every figure beside its goal and a baseline.

Run: ``make bench`` (or ``python -m bench.perf [--sections latency,family,throughput,engine,
memory,netconf,scale,workers] [--runs 2] [--gateways 1000 --pairs 10] [--scale
1000,3000,10000] [--quick] [--timeout 900]``).

Sections (each measured against a baseline in the same run; details in the modules):

- latency (``bench/perf_flow.py``): one gateway at a time, ``/config`` write to ``/state``
  ``CREATE_COMPLETED``, simulated routers without commit delay, a job manager and a worker
  in this process; median and p95 over ``--samples`` gateways. Goal: median <= 0.5 s.
  Baseline: the same gateways pushed by a plain Nornir script.
- family (``bench/perf_family.py``): as latency, a gateway with its family (a public IP, a
  network and subnet, a gw_interface, two static routes) in one apply, to every member
  ``CREATE_COMPLETED``; median and p95 over ``--family-samples``. Goal: <= 1 s. Baseline:
  as many gateways alone, measured alternately in the same run.
- throughput (``bench/perf_flow.py``): ``--gateways`` gateways over ``--pairs`` simulated
  pairs (one simulator, commit delay ``--commit-delay`` 1 s), two ``nornir-esi run``
  processes; time until all are ``CREATE_COMPLETED``. Goals: <= 12 s, and >= 10x the
  baseline: the same gateways pushed by a plain nornir-netconf script, one commit per
  gateway and router (``bench/perf_plain.py``).
- memory: the worker processes' peak RSS during the throughput run, every gateway in
  flight. Goal: <= 300 MB. Baseline: the same processes idle just before.
- coalescing (``bench/perf_flow.py``): the commit coalescing lever, ``--lever-gateways``
  gateways over ``--pairs`` pairs as in throughput, with ``--batch`` and with ``--batch 1``
  (one gateway per pair transaction), each on a fresh etcd and simulator.
- engine (``bench/perf_engine.py``): jobs claimed and finished per second by one worker
  process with a no-op handler, on local etcd. Goal: >= 1,000/s. Baseline: one slot.
- netconf (``bench/perf_netconf.py``): session open and RPC round trip to the simulator
  with our client settings and through the workers' Nornir path. Goal: round trip <= 3 ms.
  Baseline: ncclient's defaults. And 1,000 idle sessions held by the pool: CPU, <= 5 % of
  a core; baseline: the same sessions polling as ncclient does.
- scale (``bench/perf_scale.py``): 1,000, 3,000 and 10,000 gateways, 100 per pair, routers
  in ``nornir-esi netsim`` processes, two ``nornir-esi run`` processes; time and each kind
  of process' CPU (engine, simulators, etcd, client). Goals: time per gateway at 10,000
  within 1.2x of that at 1,000; engine CPU per gateway <= 5 ms. Then all deleted, and
  etcd's database size before and after compaction and defragmentation. Plot:
  ``bench/results/scale.svg``.
- workers (``bench/perf_scale.py``): the throughput run on a 3-node etcd cluster with 1, 2
  and 4 worker processes, with 1 s commits and with none (CPU-bound). Baseline: 1 process.

Every router is checked after each push (ours and the baseline's): it must carry exactly
the gateways of its pair, or the run exits 1. ``--runs 2`` repeats every section and shows
both values (the spread). ``--quick`` shrinks the sizes for a smoke run (40 gateways on 2
pairs, 10 latency samples, 5 families, 300 engine jobs, scale 40 and 120 gateways at 20 a
pair). No goal is asserted anywhere: a
goal not met is a "no" in the table. Results go to ``bench/results/perf.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.perf_common import Figure, Section
from bench.perf_engine import engine_section
from bench.perf_family import family_section
from bench.perf_flow import coalescing_section, latency_section, throughput_section
from bench.perf_netconf import netconf_section
from bench.perf_scale import scale_section, workers_section
from nornir_esi.pair.coalesce import DEFAULT_BATCH

RESULTS = Path(__file__).parent / "results" / "perf.json"
SECTIONS = (
    "latency",
    "family",
    "throughput",
    "memory",
    "coalescing",
    "engine",
    "netconf",
    "scale",
    "workers",
)
FULL = {
    "samples": 50,
    "family_samples": 20,
    "gateways": 1000,
    "pairs": 10,
    "jobs": 2000,
    "rounds": 50,
    "lever_gateways": 200,
    "scale": "1000,3000,10000",
    "per_pair": 100,
}
QUICK = {
    "samples": 10,
    "family_samples": 5,
    "gateways": 40,
    "pairs": 2,
    "jobs": 300,
    "rounds": 10,
    "lever_gateways": 20,
    "scale": "40,120",
    "per_pair": 20,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.perf",
        description=(__doc__ or "").splitlines()[0],
        epilog="Sizes default to the issue's (or --quick's) unless given.",
    )
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="repeat each section (spread)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--samples", type=int, help="latency: gateways created one by one")
    parser.add_argument(
        "--family-samples", type=int, help="family: gateways with their family (and as many alone)"
    )
    parser.add_argument("--gateways", type=int, help="throughput: gateways")
    parser.add_argument("--pairs", type=int, help="throughput: router pairs")
    parser.add_argument("--commit-delay", type=float, default=1.0, help="throughput: seconds")
    parser.add_argument(
        "--slots", type=int, default=512, help="throughput: slots per worker process"
    )
    parser.add_argument(
        "--engine-slots", type=int, default=64, help="engine: slots (nornir-esi run's default)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help="most gateways per pair transaction (1: no coalescing)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="throughput: nornir-esi run processes"
    )
    parser.add_argument("--jobs", type=int, help="engine: synthetic jobs")
    parser.add_argument("--scale", help="scale: comma-separated gateway counts")
    parser.add_argument("--per-pair", type=int, help="scale: gateways per router pair")
    parser.add_argument(
        "--sim-processes", type=int, default=2, help="scale, workers: nornir-esi netsim processes"
    )
    parser.add_argument(
        "--worker-counts", default="1,2,4", help="workers: nornir-esi run processes to compare"
    )
    parser.add_argument(
        "--lever-gateways", type=int, help="coalescing: gateways, with --batch 1 and --batch"
    )
    parser.add_argument("--rounds", type=int, help="netconf: sessions opened per client")
    parser.add_argument(
        "--baseline-tick", type=float, default=0.1, help="ncclient TICK of the plain script"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per wait")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    try:
        args.scale = [int(n) for n in str(args.scale).split(",")]
        args.worker_counts = [int(n) for n in str(args.worker_counts).split(",")]
    except ValueError:
        parser.error("--scale and --worker-counts take comma-separated integers")
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def _runners(args: argparse.Namespace) -> list[tuple[str, Callable[[], Section]]]:
    """What to run, in order; throughput also yields memory (measured in the same run)."""
    out: list[tuple[str, Callable[[], Section]]] = []
    wanted = set(args.sections)
    if "latency" in wanted:
        out.append(
            (
                "latency",
                lambda: latency_section(
                    samples=args.samples + 1, baseline_tick=args.baseline_tick, timeout=args.timeout
                ),
            )
        )
    if "family" in wanted:
        out.append(
            (
                "family",
                lambda: family_section(samples=args.family_samples + 1, timeout=args.timeout),
            )
        )
    if wanted & {"throughput", "memory"}:
        out.append(
            (
                "throughput",
                lambda: throughput_section(
                    gateway_count=args.gateways,
                    pairs=args.pairs,
                    commit_delay=args.commit_delay,
                    slots=args.slots,
                    batch=args.batch,
                    baseline_tick=args.baseline_tick,
                    timeout=args.timeout,
                    processes=args.processes,
                ),
            )
        )
    if "coalescing" in wanted:
        out.append(
            (
                "coalescing",
                lambda: coalescing_section(
                    gateway_count=args.lever_gateways,
                    pairs=args.pairs,
                    commit_delay=args.commit_delay,
                    slots=args.slots,
                    batch=args.batch,
                    timeout=args.timeout,
                ),
            )
        )
    if "engine" in wanted:
        out.append(
            (
                "engine",
                lambda: engine_section(
                    jobs=args.jobs, slots=args.engine_slots, timeout=args.timeout
                ),
            )
        )
    if "netconf" in wanted:
        out.append(("netconf", lambda: netconf_section(rounds=args.rounds)))
    if "scale" in wanted:
        out.append(
            (
                "scale",
                lambda: scale_section(
                    sizes=args.scale,
                    per_pair=args.per_pair,
                    commit_delay=args.commit_delay,
                    slots=args.slots,
                    batch=args.batch,
                    sim_processes=args.sim_processes,
                    worker_processes=args.processes,
                    timeout=args.timeout,
                ),
            )
        )
    if "workers" in wanted:
        out.append(
            (
                "workers",
                lambda: workers_section(
                    gateway_count=args.gateways,
                    pairs=args.pairs,
                    counts=args.worker_counts,
                    commit_delay=args.commit_delay,
                    slots=args.slots,
                    batch=args.batch,
                    sim_processes=args.sim_processes,
                    timeout=args.timeout,
                ),
            )
        )
    return out


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:.0f} {unit}"
    if unit == "MB":
        return f"{value:.1f} {unit}"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.3f} {unit}" if value < 10 else f"{value:.1f} {unit}"


def _goal(figure: Figure) -> str:
    if figure.goal is None:
        return ""
    op, threshold = figure.goal
    return f"{op} {_number(threshold, figure.unit)}"


def _table(runs: list[list[Figure]], wanted: set[str]) -> list[dict[str, str]]:
    """One row per figure, each column the runs' values joined by " / "."""
    order: list[tuple[str, str]] = []
    by_key: dict[tuple[str, str], list[Figure]] = {}
    for figures in runs:
        for figure in figures:
            key = (figure.section, figure.name)
            if figure.section not in wanted:
                continue
            if key not in by_key:
                order.append(key)
            by_key.setdefault(key, []).append(figure)
    rows = []
    for key in order:
        figures = by_key[key]
        first = figures[0]
        met = [f.met for f in figures]
        ratio_means = {"baseline/value": "b/v", "value/baseline": "v/b"}.get(first.ratio_means, "")
        rows.append({
            "section": first.section,
            "figure": first.name,
            "value": " / ".join(_number(f.value, first.unit) for f in figures),
            "goal": _goal(first),
            "met": "" if met[0] is None else " / ".join("yes" if m else "NO" for m in met),
            "baseline": " / ".join(_number(f.baseline, first.unit) for f in figures)
            + (f" ({first.baseline_name})" if first.baseline_name else ""),
            "ratio": " / ".join("-" if f.ratio is None else f"{f.ratio:.2f}" for f in figures)
            + (f" {ratio_means}" if ratio_means and first.ratio is not None else ""),
        })  # fmt: skip
    return rows


def _print_table(rows: list[dict[str, str]]) -> None:
    columns = ["section", "figure", "value", "goal", "met", "baseline", "ratio"]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns))


def main(argv: list[str] | None = None) -> int:
    """Run the sections ``--runs`` times, print the table and write ``bench/results/perf.json``.

    Returns the exit status: 1 when a section found a problem, else 0.
    """
    args = _parse(argv)
    # SIGTERM ends the run like Ctrl-C: processes, simulators and etcd are cleaned up.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    cores = os.cpu_count()
    began = time.monotonic()
    runs: list[list[Figure]] = []
    report: dict[str, Any] = {
        "cpu_count": cores,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "args": {k: v for k, v in vars(args).items()},
        "runs": [],
    }
    problems: list[str] = []
    for run in range(args.runs):
        figures: list[Figure] = []
        sections: dict[str, Any] = {}
        for name, runner in _runners(args):
            print(f"run {run + 1}/{args.runs}: {name} ...", file=sys.stderr, flush=True)
            t = time.monotonic()
            try:
                section = runner()
            except Exception as exc:  # the other sections still run and report
                traceback.print_exc()
                section = Section(problems=[f"{name}: ended on {exc!r}"])
            figures += section.figures
            problems += [f"run {run + 1}: {p}" for p in section.problems]
            sections[name] = {
                "seconds": round(time.monotonic() - t, 1),
                "figures": [f.to_json() for f in section.figures],
                "problems": section.problems,
                "notes": section.notes,
            }
        runs.append(figures)
        report["runs"].append(sections)
    rows = _table(runs, set(args.sections))
    print(
        f"\nbench.perf: {cores} cores, Python {platform.python_version()}, {args.runs} run(s) "
        f"(values per run, separated by /), {'quick sizes' if args.quick else 'full sizes'}"
    )
    _print_table(rows)
    print("ratio: b/v = baseline / value, v/b = value / baseline")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"correctness: {'every router checked, all as expected' if not problems else 'FAILED'}")
    report["table"] = rows
    report["problems"] = problems
    report["duration_seconds"] = round(time.monotonic() - began, 1)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
