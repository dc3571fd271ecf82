"""Opening NETCONF sessions to routers with the client settings that matter.

Two things make ncclient slow out of the box, both measured in ``bench/netsim.py``:

- its I/O thread sends a queued RPC only when ``select()`` wakes, every
  ``ncclient.transport.session.TICK`` seconds (0.1 by default), so every RPC waits up to
  100 ms: :func:`send_at_once` has the sessions :func:`connect` opens write each RPC from
  the calling thread instead, and :data:`TICK` is lowered for what is still sent through
  the queue (the hello at session open; each idle session then wakes 50 times a second,
  which costs little);
- paramiko leaves Nagle's algorithm on, so the small packets of the SSH handshake wait for
  delayed ACKs (~85 ms per session open here); :func:`connect` hands ncclient a socket with
  ``TCP_NODELAY``.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import ncclient.transport.session
import paramiko
from ncclient import manager
from ncclient.devices.junos import JunosDeviceHandler
from ncclient.transport.errors import SessionCloseError, TransportError
from ncclient.transport.session import END_DELIM, MSG_DELIM, NetconfBase

__all__ = ["TICK", "JunosHandler", "connect", "send_at_once", "tune_ncclient"]

TICK = 0.02


def tune_ncclient() -> None:
    """Lower ncclient's I/O poll interval to :data:`TICK` (it is process-wide)."""
    ncclient.transport.session.TICK = min(ncclient.transport.session.TICK, TICK)


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
