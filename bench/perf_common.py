"""What the sections of ``bench.perf`` share: a figure, statistics, the environment.

A section returns :class:`Figure` rows; ``bench.perf`` prints them beside their goal and
baseline and writes them to JSON. A section that finds the system misbehaving (a gateway
missing on a router) adds to :attr:`Section.problems`: the run then exits 1.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir_esi.device.known_hosts import FILE_ENV

__all__ = [
    "PASSWORD_ENV",
    "Figure",
    "RssSampler",
    "Section",
    "bench_env",
    "median",
    "p95",
]

# The synthetic routers' password reference is {ref: env:ESI_ROUTER_PASSWORD}; the
# simulator takes any password, the workers (and the spawned processes) resolve it.
PASSWORD_ENV = "ESI_ROUTER_PASSWORD"


@dataclass
class Figure:
    """One measured figure; ``goal`` is ``("<=", 0.5)`` or ``(">=", 5.0)`` or None.

    ``ratio`` compares the figure with ``baseline`` (how it is formed is said in
    ``ratio_means``: e.g. "baseline / value" for a speed-up).
    """

    section: str
    name: str
    value: float | None
    unit: str
    goal: tuple[str, float] | None = None
    baseline: float | None = None
    baseline_name: str = ""
    ratio: float | None = None
    ratio_means: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """Whether the value meets the goal; None without a goal, False without a value."""
        if self.goal is None:
            return None
        if self.value is None:
            return False
        op, threshold = self.goal
        return self.value <= threshold if op == "<=" else self.value >= threshold

    def to_json(self) -> dict[str, Any]:
        """The figure as ``bench/results/perf.json`` holds it (the goal as text, with ``met``)."""
        return {
            "section": self.section,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "goal": None if self.goal is None else f"{self.goal[0]} {self.goal[1]:g}",
            "met": self.met,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "ratio": self.ratio,
            "ratio_means": self.ratio_means,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class Section:
    """A section's outcome: its figures, and what it found wrong (empty when correct)."""

    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def median(samples: Sequence[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile (nearest rank); the maximum of fewer than 20 samples."""
    ordered = sorted(samples)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


@contextmanager
def bench_env() -> Iterator[Path]:
    """A new temporary directory with ``$ESI_KNOWN_HOSTS`` in it, and the routers' password set.

    The directory is kept: the worker processes' logs go there. The simulators record their
    host keys in ``$ESI_KNOWN_HOSTS`` at start, the workers verify them.
    """
    saved = {k: os.environ.get(k) for k in (FILE_ENV, PASSWORD_ENV)}
    tmp = Path(tempfile.mkdtemp(prefix="perf-"))
    os.environ[FILE_ENV] = str(tmp / "known_hosts")
    os.environ.setdefault(PASSWORD_ENV, "esi-bench-password")
    try:
        yield tmp
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RssSampler:
    """Samples the resident set size of some processes every ``interval`` seconds, in a thread.

    :attr:`peak` is the largest single process' RSS seen, in MB.
    """

    def __init__(self, pids: Sequence[int], interval: float = 0.25) -> None:
        self.pids = list(pids)
        self.interval = interval
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss sampler", daemon=True)

    def sample(self) -> list[float]:
        """Each live process' RSS now, in MB (read from ``/proc/<pid>/status``)."""
        out = []
        for pid in self.pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # a process that ended has no RSS to report
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = self.sample()
            self.samples += 1
            if now:
                self.peak = max(self.peak, *now)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
