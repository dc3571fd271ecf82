"""Processes of the scale benchmarks: simulators in ``nornir-esi netsim`` processes, CPU clocks.

:class:`SimulatorProcesses` serves the routers of a synthetic graph from several
``nornir-esi netsim`` processes (a pair's two routers always in the same one: they share
the pair's L2 segment, VRRP runs between them). :func:`netconf_reader` reads what a router
carries over NETCONF (``get-config``), as a client would; :func:`cpu_seconds` is the CPU a
process has spent, from its own accounting (``/proc/<pid>/stat``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lxml import etree
from ncclient import manager

from bench import soak
from bench.perf_common import PASSWORD_ENV
from bench.soak import CLI
from nornir_esi.netsim.server import RouterSpec
from tests.synthetic import carried_in

__all__ = ["SimulatorProcesses", "cpu_seconds", "netconf_reader", "read_all"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU seconds the processes ``pids`` have spent (all their threads).

    A process that has ended counts nothing: read before it ends.
    """
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the command's ")" (which may itself hold spaces): utime is the
        # 14th field of the line, stime the 15th.
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


class SimulatorProcesses:
    """The routers of ``specs`` in ``count`` ``nornir-esi netsim`` processes, on loopback.

    Routers are grouped by segment (a pair) and the groups dealt round-robin over the
    processes. Each listens on an ephemeral port; :meth:`address` gives it once started.
    The processes record their host keys in ``$ESI_KNOWN_HOSTS``; their output goes to
    ``logs/netsim-<i>.log``.
    """

    def __init__(
        self,
        specs: Sequence[RouterSpec],
        count: int,
        *,
        commit_delay: float,
        minute: float,
        logs: Path,
    ) -> None:
        groups: dict[str, list[RouterSpec]] = {}
        for spec in specs:
            groups.setdefault(spec.segment, []).append(spec)
        buckets: list[list[RouterSpec]] = [[] for _ in range(max(1, min(count, len(groups))))]
        for i, group in enumerate(groups.values()):
            buckets[i % len(buckets)].extend(group)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._addresses: dict[str, tuple[str, int]] = {}
        try:
            for i, bucket in enumerate(buckets):
                self._spawn(i, bucket, commit_delay, minute, logs)
        except BaseException:
            self.stop()
            raise

    def _spawn(
        self, i: int, specs: list[RouterSpec], commit_delay: float, minute: float, logs: Path
    ) -> None:
        argv = [*CLI, "netsim", "--commit-delay", str(commit_delay), "--minute", str(minute)]
        for spec in specs:
            argv += ["--router", f"{spec.name}=127.0.0.1:0,role={spec.role},segment={spec.segment}"]
        log = logs / f"netsim-{i}.log"
        with log.open("ab") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
        self.procs.append(proc)
        assert proc.stdout is not None
        wanted = {spec.name for spec in specs}
        while wanted:
            line = proc.stdout.readline().decode()
            if not line:
                raise SystemExit(f"netsim process {i} ended before listening: see {log}")
            # netsim: NAME (role) listening on HOST:PORT ssh-ed25519 KEY
            words = line.split()
            if len(words) >= 6 and words[0] == "netsim:" and words[3] == "listening":
                host, _, port = words[5].rpartition(":")
                self._addresses[words[1]] = (host, int(port))
                wanted.discard(words[1])

    def address(self, name: str) -> tuple[str, int]:
        """Where router ``name`` listens (host, port)."""
        return self._addresses[name]

    @property
    def pids(self) -> list[int]:
        """The simulator processes' ids."""
        return [p.pid for p in self.procs]

    def dead(self) -> list[int]:
        """The indexes of the processes that have exited."""
        return soak.dead(self.procs)

    def stop(self) -> None:
        """SIGTERM every process; SIGKILL one still there after 30 s."""
        soak.stop(self.procs)
        for p in self.procs:
            if p.stdout is not None:
                p.stdout.close()

    def __enter__(self) -> SimulatorProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def netconf_reader(sims: SimulatorProcesses) -> Callable[[str], dict[str, Any]]:
    """What router ``name`` carries (``tests.synthetic.carried_in``), read over NETCONF.

    One session per read: ``get-config`` of the running configuration.
    """

    def read(name: str) -> dict[str, Any]:
        host, port = sims.address(name)
        with manager.connect(
            host=host,
            port=port,
            username="esi",
            password=os.environ.get(PASSWORD_ENV, "esi"),
            hostkey_verify=False,
            look_for_keys=False,
            allow_agent=False,
            timeout=120,
        ) as session:
            data = session.get_config(source="running").data_ele
        configuration = data.find("{*}configuration")
        if configuration is None:
            raise SystemExit(f"router {name}: get-config returned no configuration")
        # The reply's elements inherit NETCONF's default namespace; carried_in reads plain
        # Junos element names.
        for element in configuration.iter():
            if isinstance(element.tag, str):
                element.tag = etree.QName(element).localname
        return carried_in(configuration)

    return read


def read_all(
    read: Callable[[str], dict[str, Any]], names: Iterable[str], threads: int = 8
) -> dict[str, dict[str, Any]]:
    """``read`` of every router of ``names``, ``threads`` at a time: name -> what it carries."""
    names = list(names)
    with ThreadPoolExecutor(threads) as pool:
        return dict(zip(names, pool.map(read, names), strict=True))
