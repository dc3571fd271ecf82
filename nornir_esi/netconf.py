"""Opening NETCONF sessions to routers with the client settings that matter.

Two things make ncclient slow out of the box, both measured in ``bench/netsim.py``:

- its I/O thread sends a queued RPC only when ``select()`` wakes, every
  ``ncclient.transport.session.TICK`` seconds (0.1 by default), so every RPC waits up to
  100 ms; :data:`TICK` lowers it (each idle session then wakes 200 times a second, which
  costs little);
- paramiko leaves Nagle's algorithm on, so the small packets of the SSH handshake wait for
  delayed ACKs (~85 ms per session open here); :func:`connect` hands ncclient a socket with
  ``TCP_NODELAY``.
"""

from __future__ import annotations

import socket
from typing import Any

import ncclient.transport.session
from ncclient import manager

__all__ = ["TICK", "connect", "tune_ncclient"]

TICK = 0.005


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
    return manager.connect(
        host=host,
        port=port,
        sock=sock,
        username=username,
        password=password,
        hostkey_verify=hostkey_verify,
        device_params={"name": "junos" if junos else "default"},
        timeout=timeout,
        **options,
    )
