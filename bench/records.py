"""Benchmark of the records' field table: reading and writing what the original stored.

Run: ``python -m bench.records [--rounds 200]``.

Every value of the seed and of the captured create scenario (the values
``tests/test_records.py`` round-trips) is read from its JSON text into its record and
written back as compact text. The baseline, in this same process, is the floor no record
can beat: ``json.loads`` then ``json.dumps`` of the same text, with no checks. The figure is
the ratio of the two (best of five repeats, each of ``--rounds`` passes over every value).
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Protocol

from nornir_esi.contract import keys
from nornir_esi.contract.records import (
    ConfigRecord,
    HeatStack,
    JobEntry,
    JobState,
    Monitoring,
    State,
    WorkerCache,
)
from tests.origin import scenario_steps, seed_entries


class _Stored(Protocol):
    def to_json(self) -> str: ...


_BY_PREFIX: list[tuple[str, Callable[[str], _Stored]]] = [
    (keys.CONFIG_PREFIX, ConfigRecord.from_value),
    (keys.JOBS_ALL, JobEntry.from_value),
    (keys.HEAT_STACKS_PREFIX, HeatStack.from_value),
    (keys.JOB_STATE_PREFIX, JobState.from_value),
    (keys.STATE_PREFIX, State.from_value),
    (keys.MONITORING_PREFIX, Monitoring.from_value),
    (keys.WORKER_CONFIG_PREFIX, WorkerCache.from_value),
]


def captured() -> list[tuple[Callable[[str], _Stored], str]]:
    """``(reader, JSON text)`` of every captured value."""
    values = seed_entries() + [(s["key"], s["value"]) for s in scenario_steps()]
    out = []
    for key, value in values:
        reader = next(read for prefix, read in _BY_PREFIX if key.startswith(prefix))
        out.append((reader, json.dumps(value)))
    return out


def main() -> None:
    """Print the records' round trip beside plain JSON's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    values = captured()

    def records() -> None:
        for read, text in values:
            read(text).to_json()

    def plain() -> None:
        for _, text in values:
            json.dumps(json.loads(text), separators=(",", ":"))

    took = {
        name: min(timeit.repeat(run, number=args.rounds, repeat=5))
        for name, run in (("records", records), ("json", plain))
    }
    per_value = {name: 1e6 * t / (args.rounds * len(values)) for name, t in took.items()}
    print(f"{len(values)} captured values, {args.rounds} rounds, best of 5")
    for name, us in per_value.items():
        print(f"  {name:8} {us:8.1f} us per value")
    print(f"  records / json: {took['records'] / took['json']:.2f}x")


if __name__ == "__main__":
    main()
