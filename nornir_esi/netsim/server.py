"""NETCONF over SSH for simulated routers, and the :class:`Simulator` that runs them.

Why asyncssh: one asyncio loop serves a hundred routers and their sessions in one process,
idle sessions cost nothing, each router listens on exactly the address it is given (the
``netconf`` PyPI server binds every interface, spins on a client that leaves before its
hello and hangs on shutdown), and asyncssh sets TCP_NODELAY on accepted sockets, so a
reply is not held back by Nagle's algorithm.

Framing (RFC 6242): both sides send ``<hello>`` ended by ``]]>]]>``; when both advertise
``base:1.1`` the session switches to chunked framing. The subsystem ``netconf`` and the
Junos exec ``xml-mode netconf need-trailer`` (ncclient's fallback) are both served.

Use it from synchronous code as a context manager (the loop runs in a thread)::

    with Simulator([RouterSpec("MX-1", "127.0.0.1", 8301)]) as sim:
        sim.set_faults("MX-1", fail_commits=1)

or ``async with`` inside a running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh
from lxml import etree

from nornir_esi.device.known_hosts import FILE_ENV, record
from nornir_esi.exceptions import NetsimError
from nornir_esi.netsim.device import (
    Faults,
    Role,
    Router,
    Segments,
    Session,
    SessionDroppedError,
    Settings,
)
from nornir_esi.netsim.hostkeys import host_key, known_hosts_line
from nornir_esi.netsim.rpc import BASE_NS, CloseSession, handle_rpc

__all__ = ["RouterSpec", "Simulator"]

T = TypeVar("T")

EOM = b"]]>]]>"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
# Only what is implemented: no :url (no <url> source or target), no :confirmed-commit:1.1
# (<persist>/<persist-id> are not honoured), no :validate:1.1 (no test-option test-only),
# no ietf-netconf-monitoring (no <get-schema>, no netconf-state). The legacy xml:ns forms
# and the two Junos URIs are what a real MX sends beside them.
CAPABILITIES = (
    BASE_10,
    BASE_11,
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.0",
    "urn:ietf:params:netconf:capability:validate:1.0",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:xml:ns:netconf:base:1.0",
    "urn:ietf:params:xml:ns:netconf:capability:candidate:1.0",
    "urn:ietf:params:xml:ns:netconf:capability:confirmed-commit:1.0",
    "urn:ietf:params:xml:ns:netconf:capability:validate:1.0",
    "http://xml.juniper.net/netconf/junos/1.0",
    "http://xml.juniper.net/dmi/system/1.0",
)
_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
_CHUNK = re.compile(rb"\n#(\d+)\n")


@dataclass
class RouterSpec:
    """A router to simulate: where it listens, its role, its day-0 and its faults.

    ``segment``: the label of the L2 segments it is wired to; the routers of one label (of
    one simulator) share a broadcast domain per VLAN id, as the two routers of an HA pair
    do. "" is the default segment: give each pair its own label when a simulator runs
    several pairs that use the same VLANs.
    """

    name: str
    host: str = "127.0.0.1"
    port: int = 830
    role: Role = "primary"
    day0: str | None = None
    faults: Faults = field(default_factory=Faults)
    segment: str = ""

    @classmethod
    def parse(cls, spec: str) -> RouterSpec:
        """``NAME=HOST:PORT[,role=primary|secondary][,segment=LABEL][,fault=value...]``."""
        name, sep, rest = spec.partition("=")
        if not sep or not name:
            raise NetsimError(f"router spec {spec!r}: expected NAME=HOST:PORT[,key=value...]")
        address, *options = rest.split(",")
        host, colon, port = address.rpartition(":")
        if not colon or not port.isdigit() or not host:
            raise NetsimError(f"router spec {spec!r}: address {address!r} is not HOST:PORT")
        router = cls(name, host.strip("[]"), int(port))
        for option in options:
            key, eq, value = option.partition("=")
            key = key.strip().replace("-", "_")
            if not eq:
                raise NetsimError(f"router {name}: option {option!r} is not key=value")
            if key == "role":
                if value not in ("primary", "secondary"):
                    raise NetsimError(f"router {name}: role {value!r} is not primary|secondary")
                router.role = value  # type: ignore[assignment]
            elif key == "segment":
                router.segment = value
            elif key == "day0":
                try:
                    router.day0 = Path(value).read_text(encoding="utf-8")
                except OSError as exc:
                    raise NetsimError(f"router {name}: day0 {value}: {exc.strerror}") from exc
            elif hasattr(router.faults, key) and key != "links_down":
                current = getattr(router.faults, key)
                try:
                    parsed: object = (
                        value.lower() in ("1", "true", "yes")
                        if isinstance(current, bool)
                        else type(current)(value)
                    )
                except ValueError as exc:
                    raise NetsimError(f"router {name}: {key}={value!r} is not valid") from exc
                setattr(router.faults, key, parsed)
            elif key == "links_down":
                router.faults.links_down = set(value.split("+"))
            else:
                raise NetsimError(f"router {name}: unknown option {key!r}")
        return router


class _NetconfSession(asyncssh.SSHServerSession[bytes]):
    """One SSH channel speaking NETCONF to one router."""

    def __init__(self, router: Router, username: str) -> None:
        self._router = router
        self._username = username
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._buffer = b""
        self._scanned = 0  # how far the buffer is known to hold no ]]>]]>
        self._chunked = False
        self._hello_done = False
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._session: Session | None = None
        self._closed = False

    # asyncssh callbacks ---------------------------------------------------------------
    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def exec_requested(self, command: str) -> bool:
        return command.strip().startswith("xml-mode netconf")

    def pty_requested(self, *args: Any) -> bool:
        return False

    def session_started(self) -> None:
        self._session = self._router.open_session(self._username, drop=self._abort)
        hello = etree.Element(f"{{{BASE_NS}}}hello", nsmap={None: BASE_NS})  # type: ignore[dict-item]
        caps = etree.SubElement(hello, f"{{{BASE_NS}}}capabilities")
        for cap in CAPABILITIES:
            etree.SubElement(caps, f"{{{BASE_NS}}}capability").text = cap
        etree.SubElement(hello, f"{{{BASE_NS}}}session-id").text = str(self._session.id)
        self._write(etree.tostring(hello), framed=False)
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes, datatype: Any) -> None:
        self._buffer += data
        for message in self._messages():
            self._queue.put_nowait(message)

    def eof_received(self) -> bool:
        self._queue.put_nowait(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        self._queue.put_nowait(None)

    # framing ------------------------------------------------------------------------
    def _messages(self) -> Iterable[bytes]:
        while True:
            if not self._chunked:
                end = self._buffer.find(EOM, self._scanned)
                if end < 0:
                    # A large load arrives in many packets: do not rescan what was scanned.
                    self._scanned = max(0, len(self._buffer) - len(EOM) + 1)
                    return
                message, self._buffer = self._buffer[:end], self._buffer[end + len(EOM) :]
                self._scanned = 0
                if not self._hello_done:
                    self._on_hello(message)
                    continue
                yield message
                continue
            chunked = self._next_chunked()
            if chunked is None:
                return
            yield chunked

    def _next_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        pos = 0
        buf = self._buffer
        while True:
            if buf.startswith(b"\n##\n", pos):
                self._buffer = buf[pos + 4 :]
                return b"".join(parts)
            match = _CHUNK.match(buf, pos)
            if match is None:
                if len(buf) - pos > 24 and not buf.startswith(b"\n#", pos):
                    # Not chunked framing at all: the peer is broken; end the session.
                    self._abort()
                return None
            size = int(match.group(1))
            start = match.end()
            if len(buf) < start + size:
                return None
            parts.append(buf[start : start + size])
            pos = start + size

    def _on_hello(self, message: bytes) -> None:
        self._hello_done = True
        try:
            hello = etree.fromstring(message.strip(), _PARSER)
        except etree.XMLSyntaxError:
            self._abort()
            return
        caps = {(c.text or "").strip() for c in hello.iter(f"{{{BASE_NS}}}capability")}
        self._chunked = BASE_11 in caps

    def _write(self, payload: bytes, *, framed: bool = True) -> None:
        if self._chan is None or self._closed:
            return
        if framed and self._chunked:
            self._chan.write(b"\n#%d\n%s\n##\n" % (len(payload), payload))
        else:
            self._chan.write(payload + EOM)

    # RPC loop -----------------------------------------------------------------------
    async def _serve(self) -> None:
        assert self._session is not None
        while True:
            message = await self._queue.get()
            if message is None or self._closed:
                return
            try:
                rpc = etree.fromstring(message.strip(), _PARSER)
            except etree.XMLSyntaxError:
                self._write(_malformed_reply())
                continue
            try:
                reply = await handle_rpc(self._session, rpc)
            except CloseSession as close:
                self._write(close.reply)
                self._abort(graceful=True)
                return
            except SessionDroppedError:
                return
            self._write(reply)

    def _abort(self, *, graceful: bool = False) -> None:
        if self._closed:
            return
        self._end()
        if self._chan is not None:
            if graceful:
                self._chan.exit(0)
            else:
                # A dropped session: the whole SSH connection goes, as when a box reboots.
                self._chan.get_connection().abort()

    def _end(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            self._router.close_session(self._session)


class _SSHServer(asyncssh.SSHServer):
    def __init__(self, sim: Simulator, router: Router) -> None:
        self._sim = sim
        self._router = router
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sim.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._sim.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self._sim.users is None:
            return True
        return self._sim.users.get(username) == password

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self._sim.authorized_keys.get(username)
        if allowed is None:
            return self._sim.users is None and not self._sim.authorized_keys
        wanted = key.export_public_key("openssh").decode().split()[1]
        return any(k.split()[1] == wanted for k in allowed)

    def session_requested(self) -> Any:
        assert self._conn is not None
        username = self._conn.get_extra_info("username") or "anonymous"
        chan = self._conn.create_server_channel(encoding=None)
        return chan, _NetconfSession(self._router, username)


class Simulator:
    """Serves simulated routers over NETCONF/SSH until stopped."""

    def __init__(
        self,
        routers: Iterable[RouterSpec],
        *,
        day0: str | None = None,
        users: dict[str, str] | None = None,
        authorized_keys: dict[str, list[str]] | None = None,
        commit_delay: float = 0.0,
        minute: float = 60.0,
        host_key_seed: bytes = b"",
        known_hosts: str | Path | None = None,
    ) -> None:
        """``known_hosts``: a file to record the routers' host keys in once they listen.

        That is how a lab records its routers' keys at start; the default is
        ``$ESI_KNOWN_HOSTS``, if set.
        """
        self.specs = list(routers)
        self.known_hosts_file = known_hosts or os.environ.get(FILE_ENV) or None
        names = [spec.name for spec in self.specs]
        if len(set(names)) != len(names):
            raise NetsimError(f"router names must be unique: {names}")
        self.users = users
        self.authorized_keys = authorized_keys or {}
        self.seed = host_key_seed
        self.routers: dict[str, Router] = {}
        self.segments = Segments()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self._listeners: dict[str, asyncssh.SSHAcceptor] = {}
        self._placeholders: dict[str, socket.socket] = {}
        self._listener_locks: dict[str, asyncio.Lock] = {}
        self._start_faults: dict[str, Faults] = {}
        self._day0 = day0
        self._commit_delay = commit_delay
        self._minute = minute
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # async API ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Make the routers and listen for each (on this loop), then record the host keys.

        A failure to listen stops the simulator, and is raised.
        """
        self._loop = asyncio.get_running_loop()
        self.segments = Segments()  # a start makes new routers: no old one stays wired
        for spec in self.specs:
            if spec.faults.commit_delay == 0.0:
                spec.faults.commit_delay = self._commit_delay
            router = Router(
                spec.name,
                day0=spec.day0 if spec.day0 is not None else self._day0,
                settings=Settings(role=spec.role, minute=self._minute, segment=spec.segment),
                faults=spec.faults,
                segments=self.segments,
            )
            self._start_faults[spec.name] = deepcopy(spec.faults)
            self._listener_locks[spec.name] = asyncio.Lock()
            self.routers[spec.name] = router
        try:
            for spec in self.specs:
                await self._sync_listener(self.routers[spec.name])
        except BaseException:
            await self.stop()
            raise
        if self.known_hosts_file:
            record(self.known_hosts_file, self.known_hosts().splitlines())

    async def stop(self) -> None:
        """Stop listening, end every session and connection, and reset the routers."""
        for listener in self._listeners.values():
            listener.close()
        for listener in self._listeners.values():
            await listener.wait_closed()
        self._listeners.clear()
        for placeholder in self._placeholders.values():
            placeholder.close()
        self._placeholders.clear()
        for router in self.routers.values():
            for session in list(router.sessions.values()):
                router.close_session(session)
            router.reset()
        # Every connection goes, also those that never opened a NETCONF session.
        connections = list(self.connections)
        for conn in connections:
            conn.abort()
        for conn in connections:
            await conn.wait_closed()
        self.connections.clear()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _sync_listener(self, router: Router) -> None:
        """Listen, or refuse connections, as the router's faults say."""
        async with self._listener_locks[router.name]:
            await self._sync_listener_locked(router)

    async def _sync_listener_locked(self, router: Router) -> None:
        spec = next(s for s in self.specs if s.name == router.name)
        listener = self._listeners.get(router.name)
        if router.faults.refuse_connections:
            # Unreachable means the open sessions too (a client's kept sessions die).
            for session in list(router.sessions.values()):
                router.close_session(session)
                session.drop()
            if listener is not None:
                del self._listeners[router.name]
                listener.close()
                await listener.wait_closed()
            if router.name not in self._placeholders:
                # Bound but not listening: SYNs get a reset (connection refused), and the
                # port stays ours (port 0 resolved) until the fault is cleared.
                self._placeholders[router.name] = _placeholder(router.name, spec)
            return
        if listener is not None:
            return
        # The placeholder becomes the listening socket: the port is never let go.
        placeholder = self._placeholders.pop(router.name, None)
        where: dict[str, Any] = (
            {"sock": placeholder} if placeholder else {"host": spec.host, "port": spec.port}
        )
        try:
            self._listeners[router.name] = await asyncssh.create_server(
                lambda: _SSHServer(self, router),
                server_host_keys=[host_key(router.name, self.seed)],
                reuse_address=True,
                allow_pty=False,
                x11_forwarding=False,
                agent_forwarding=False,
                login_timeout=30,
                **where,
            )
        except OSError as exc:
            if placeholder is not None:
                placeholder.close()
            raise NetsimError(
                f"router {router.name}: cannot listen on {spec.host}:{spec.port}: {exc}"
            ) from exc
        if spec.port == 0:
            sockets = self._listeners[router.name].sockets
            spec.port = sockets[0].getsockname()[1]

    # sync API (context manager; the loop runs in a thread) -------------------------------
    def __enter__(self) -> Simulator:
        started: Future[None] = Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.stop())
            # Sessions end on their own once their connections are aborted; let them.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="netsim", daemon=True)
        self._thread.start()
        started.result()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop from another thread and return its result.

        Router state belongs to the loop; tests read it through here.
        """
        loop = self._foreign_loop()

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(timeout=30)

    def _foreign_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._thread is None:
            raise NetsimError("the simulator is not running in its own thread")
        if threading.current_thread() is self._thread:
            raise NetsimError("Simulator.call is for threads other than the simulator's")
        return self._loop

    # conveniences -------------------------------------------------------------------------
    def router(self, name: str) -> Router:
        """The router named ``name``; NetsimError when there is none."""
        try:
            return self.routers[name]
        except KeyError:
            raise NetsimError(f"no router named {name!r}") from None

    def address(self, name: str) -> tuple[str, int]:
        """Where router ``name`` listens, ``(host, port)``; NetsimError when there is none."""
        spec = next((s for s in self.specs if s.name == name), None)
        if spec is None:
            raise NetsimError(f"no router named {name!r}")
        return spec.host, spec.port

    def set_faults(self, name: str, **faults: object) -> None:
        """Change a router's faults at run time (thread-safe)."""
        router = self.router(name)

        async def apply() -> None:
            router.set_faults(**faults)
            await self._sync_listener(router)

        self._run(apply)

    def reset(self, name: str | None = None) -> None:
        """Back to how it started (one router, or all): day-0, start faults, no sessions."""
        targets = [self.router(name)] if name else list(self.routers.values())

        async def apply() -> None:
            for router in targets:
                for session in list(router.sessions.values()):
                    router.close_session(session)
                    session.drop()
                router.faults = deepcopy(self._start_faults[router.name])
                router.reset()
                await self._sync_listener(router)

        self._run(apply)

    def _run(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self._thread is not None and threading.current_thread() is not self._thread:
            asyncio.run_coroutine_threadsafe(fn(), self._foreign_loop()).result(timeout=30)
        elif self._loop is not None:
            self._loop.create_task(fn())
        else:
            raise NetsimError("the simulator is not running")

    def known_hosts(self) -> str:
        """``known_hosts`` lines for every router, to verify their host keys."""
        return "".join(
            known_hosts_line(spec.name, spec.host, spec.port, self.seed) + "\n"
            for spec in self.specs
        )

    def listening_lines(self) -> list[str]:
        """One line per router, as the CLI prints them: listening, or refusing connections."""
        lines = []
        for spec in self.specs:
            key = host_key(spec.name, self.seed).export_public_key("openssh").decode().split()
            state = "refusing connections" if spec.name in self._placeholders else "listening"
            lines.append(
                f"netsim: {spec.name} ({spec.role}) {state} on {spec.host}:{spec.port} "
                f"{key[0]} {key[1]}"
            )
        return lines


def _placeholder(name: str, spec: RouterSpec) -> socket.socket:
    """A socket bound to the router's address but not listening; resolves port 0 in ``spec``."""
    sock = socket.socket(socket.AF_INET6 if ":" in spec.host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.host, spec.port))
    except OSError as exc:
        sock.close()
        raise NetsimError(f"router {name}: cannot bind {spec.host}:{spec.port}: {exc}") from exc
    spec.port = sock.getsockname()[1]
    return sock


def _malformed_reply() -> bytes:
    return (
        f'<rpc-reply xmlns="{BASE_NS}"><rpc-error><error-type>rpc</error-type>'
        "<error-tag>malformed-message</error-tag><error-severity>error</error-severity>"
        "<error-message>syntax error: the message is not well-formed XML</error-message>"
        "</rpc-error></rpc-reply>"
    ).encode()


with contextlib.suppress(AttributeError):  # asyncssh logs every connection at INFO
    asyncssh.set_log_level("WARNING")
