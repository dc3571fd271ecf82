"""Opening NETCONF sessions to routers with the client settings that matter.

Two things make ncclient slow out of the box, both measured in ``bench/netsim.py``:

- its I/O thread sends a queued RPC only when ``select()`` wakes, every
  ``ncclient.transport.session.TICK`` seconds (0.1 by default), so every RPC waits up to
  100 ms: :func:`send_at_once` has the sessions :func:`connect` opens write each RPC from
  the calling thread instead, and :data:`TICK` is lowered for what is still sent through
  the queue (the hello at session open);
- paramiko leaves Nagle's algorithm on, so the small packets of the SSH handshake wait for
  delayed ACKs (~85 ms per session open here); :func:`connect` hands ncclient a socket with
  ``TCP_NODELAY``.

And two things make an idle session cost CPU, which a pool of a thousand sessions cannot
afford (0.1 % of a core each, measured: a thousand would take a core): ncclient's I/O
thread wakes every ``TICK`` to look at its send queue, and paramiko's transport thread
every 0.1 s (its socket's timeout, ``Transport._active_check_timeout``) to see whether it
was closed. Once :func:`send_at_once` writes a session's messages, nothing is queued, so its
I/O thread waits for the router's data with no timeout shorter than :data:`IDLE_WAIT`
(:func:`quiet_io_threads`; a message queued all the same is still sent within that), and
its transport's socket timeout is raised to :data:`IDLE_WAIT` too: a transport closed by
us still ends at once (its close ends the socket), one whose socket silently died
notices within that.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import ncclient.transport.session
import ncclient.transport.ssh
import paramiko
from ncclient import manager
from ncclient.devices.junos import JunosDeviceHandler
from ncclient.transport.errors import SessionCloseError, TransportError
from ncclient.transport.session import END_DELIM, MSG_DELIM, NetconfBase

__all__ = [
    "IDLE_WAIT",
    "TICK",
    "JunosHandler",
    "connect",
    "quiet_io_threads",
    "send_at_once",
    "tune_ncclient",
]

TICK = 0.02
IDLE_WAIT = 5.0
"""Seconds an idle session's threads sleep at most between wake-ups (see the module)."""

_DIRECT = "_esi_sends_directly"


def tune_ncclient() -> None:
    """Lower ncclient's I/O poll interval to :data:`TICK` (it is process-wide), quiet idle ones."""
    ncclient.transport.session.TICK = min(ncclient.transport.session.TICK, TICK)
    quiet_io_threads()


def quiet_io_threads() -> None:
    """Have the I/O thread of a session :func:`send_at_once` writes wait :data:`IDLE_WAIT`.

    ncclient's loop selects with ``TICK`` as its timeout, to look at its send queue; a
    session whose messages are written by their callers has nothing queued, so its selector
    waits up to :data:`IDLE_WAIT` (the router's data wakes it at once). Other sessions (the
    hello before :func:`send_at_once`, other ncclient users of the process) keep ``TICK``.
    Patched once per process, on ncclient's SSH session class.
    """
    cls = ncclient.transport.ssh.SSHSession
    if getattr(cls, "_esi_quiet", False):
        return
    register = cls._transport_register

    def quiet_register(self: Any, selector: Any, event: Any) -> Any:
        registered = register(self, selector, event)
        plain = selector.select

        def select(timeout: float | None = None) -> Any:
            if getattr(self, _DIRECT, False) and self._q.empty():
                return plain(IDLE_WAIT)
            return plain(timeout)

        selector.select = select
        return registered

    cls._transport_register = quiet_register
    cls._esi_quiet = True


def connect(
    host: str,
    port: int,
    *,
    username: str,
    password: str | None = None,
    junos: bool = True,
    hostkey_verify: bool = False,
    timeout: float = 60,
    **kwargs: Any,
) -> Any:
    """An ncclient ``Manager`` for the router at ``host:port``.

    ``junos`` selects ncclient's Junos device handler (Junos RPCs, replies without
    namespaces); further keyword arguments go to ``ncclient.manager.connect``.
    """
    tune_ncclient()
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    options: dict[str, Any] = {"allow_agent": False, "look_for_keys": False}
    options.update(kwargs)
    connected = manager.connect(
        host=host,
        port=port,
        sock=sock,
        username=username,
        password=password,
        hostkey_verify=hostkey_verify,
        device_params={"name": "junos", "handler": JunosHandler} if junos else {"name": "default"},
        timeout=timeout,
        **options,
    )
    send_at_once(connected._session)
    return connected


class JunosHandler(JunosDeviceHandler):  # type: ignore[misc]
    """ncclient's Junos device handler without its reply transform.

    The transform runs an XSLT over every reply to drop the namespaces, and serialises and
    parses the reply once more around it. Our reading of replies names elements in any
    namespace (``{*}``), so the reply ncclient has parsed already is used as it is
    (``tasks._rpc.call``).
    """

    def transform_reply(self) -> bool:
        """False: replies are used as ncclient parsed them, no XSLT over each (see the class)."""
        return False


def send_at_once(session: Any) -> None:
    """Make ``session`` write each message from the calling thread, not from its I/O thread.

    ``session`` is an ncclient transport session; each message is framed as ncclient would,
    instead of being queued for its I/O thread.

    That thread sends what is queued only when its ``select()`` wakes, every ``TICK`` (it
    also wakes at once when the router's answer arrives, so reading needs no such wait):
    about half a ``TICK`` more per RPC. The I/O thread still reads; writes from callers
    are serialised.
    """
    lock = threading.Lock()
    setattr(session, _DIRECT, True)
    transport = getattr(session, "_transport", None)
    if transport is not None:  # paramiko's: its thread's poll of the socket, slowed
        transport.sock.settimeout(IDLE_WAIT)

    def send(message: str) -> None:
        if not session.connected:
            raise TransportError("Not connected to NETCONF server")
        data = message.encode()
        if session._base == NetconfBase.BASE_11:
            data = b"\n#%i\n%s%s" % (len(data), data, END_DELIM)
        else:
            data = data + MSG_DELIM
        with lock:
            while data:
                try:
                    sent = session._transport_write(data)
                except (EOFError, OSError, paramiko.SSHException) as exc:
                    # The router ended the session (paramiko: EOFError, "Socket is closed"):
                    # a closed session, as ncclient's own writer reports it.
                    raise SessionCloseError("", data) from exc
                if sent <= 0:
                    raise SessionCloseError("", data)
                data = data[sent:]

    session.send = send
