"""Benchmark of the Heat adapter: what a real stack costs a gateway job, what its polling adds.

Run: ``python -m bench.heat [--rounds 10]``. Starts a real Heat (``HeatServer``), then per
round: create a gateway stack, update one parameter (PATCH), re-apply with nothing changed
(reads only), delete; through :class:`OpenStackHeat` with its polling (``POLL``) and, as the
baseline in the same run, with the first choice (0.1 s, x1.5, 3 s). The embedded Heat
(an etcd record only) is shown for scale. Medians and 95th percentiles; the ratio is
polling / baseline per operation. Written to ``bench/results/heat.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nornir_esi.heat.base import Heat, Pushed
from nornir_esi.heat.embedded import EmbeddedHeat
from nornir_esi.heat.openstack import OpenStackHeat
from nornir_esi.testing.heat import HeatServer

RESULTS = Path(__file__).parent / "results" / "heat.json"
TEMPLATE = Path(__file__).parent.parent / "nornir_esi/templates/heat/internet_gateway.yaml"
BASELINE_POLL = (0.1, 1.5, 3.0)
GW = "internet_gateway"
PUSHED = {
    "primary": Pushed("vMX-router-02", "set interfaces ae0 unit 1025 vlan-id 1025\n" * 20),
    "secondary": Pushed("vMX-router-01", "set interfaces ae0 unit 1025 vlan-id 1025\n" * 20),
}


def _params() -> dict[str, Any]:
    declared = yaml.safe_load(TEMPLATE.read_text())["parameters"]
    return {
        name: 830 if spec["type"] == "number" else f"{name}-value"
        for name, spec in declared.items()
        if not name.endswith(("_router", "_configuration"))
    }


def _timed(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _round(heat: Heat, rid: str) -> dict[str, float]:
    params = _params()

    def apply(p: dict[str, Any], exists: bool) -> Any:
        return heat.apply(
            GW,
            rid,
            tenant_id="bench",
            template="heat_worker",
            parameters=p,
            timeout_mins=5,
            exists=exists,
            pushed=PUSHED,
        )

    changed = {**params, "vrf_name": "vrf_gw_bench_changed"}
    return {
        "create": _timed(lambda: apply(params, False)),
        "update": _timed(lambda: apply(changed, True)),
        "unchanged": _timed(lambda: apply(changed, True)),
        "delete": _timed(lambda: heat.delete(GW, rid, tenant_id="bench")),
    }


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def main(argv: list[str] | None = None) -> None:
    """Run the rounds against a real Heat, print the table, write ``bench/results/heat.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with HeatServer("bench") as server:
        heats: dict[str, Heat] = {
            "polling": OpenStackHeat(server.url),
            "baseline": OpenStackHeat(server.url, poll=BASELINE_POLL),
            "embedded": EmbeddedHeat(),
        }
        runs: dict[str, dict[str, list[float]]] = {name: {} for name in heats}
        for n in range(args.rounds):
            for name, heat in heats.items():
                rid = f"00000000-0000-4000-8{len(name):03d}-{n:012d}"
                for op, seconds in _round(heat, rid).items():
                    runs[name].setdefault(op, []).append(seconds)
        timings = dict(server.timings)
    result: dict[str, Any] = {"rounds": args.rounds, "server_start": timings, "operations": {}}
    print(
        f"{'operation':<10} {'polling':>10} {'p95':>9} {'baseline':>10} {'p95':>9}"
        f" {'ratio':>6} {'embedded':>9}"
    )
    for op in ("create", "update", "unchanged", "delete"):
        ours, base = _summary(runs["polling"][op]), _summary(runs["baseline"][op])
        embedded = _summary(runs["embedded"][op])
        ratio = ours["median_ms"] / base["median_ms"]
        result["operations"][op] = {
            "polling": ours,
            "baseline": base,
            "embedded": embedded,
            "ratio": ratio,
        }
        print(
            f"{op:<10} {ours['median_ms']:>8.1f}ms {ours['p95_ms']:>7.1f}ms"
            f" {base['median_ms']:>8.1f}ms {base['p95_ms']:>7.1f}ms {ratio:>6.2f}"
            f" {embedded['median_ms']:>7.3f}ms"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
