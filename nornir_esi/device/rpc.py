"""One Junos RPC over the host's NETCONF connection, with errors turned into DeviceErrors.

ncclient wraps paramiko's errors in its own (SSHError, SessionCloseError, ...), so
NCClientError plus OSError covers the transport.

Shared by the tasks so that every failure names the host and the step, and so that a
broken session is dropped from the host (the next task reconnects instead of reusing it).
"""

from __future__ import annotations

import contextlib
from typing import Any

from lxml import etree
from ncclient import NCClientError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import AuthenticationError, SSHUnknownHostError
from nornir.core.task import Task

from nornir_esi.device import netconf
from nornir_esi.device.connections import CONNECTION, PooledNetconf
from nornir_esi.device.inventory import resolve_password
from nornir_esi.device.known_hosts import HostKeyPolicy
from nornir_esi.exceptions import (
    DeviceBusyError,
    DeviceError,
    DeviceRejectedError,
    DeviceUnavailableError,
)

__all__ = ["CONNECTION", "call", "connection", "device_error", "leaf", "sub"]

# rpc-error tags that mean "busy now", not "wrong request" (RFC 6241 appendix A).
_BUSY_TAGS = frozenset({"lock-denied", "in-use", "resource-denied"})
# Replies with a whole configuration can be large; lxml refuses deep/huge trees otherwise.
_PARSER = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)


def device_error(host: str, step: str, exc: BaseException) -> DeviceError:
    """The DeviceError for a third-party error, classified by whether a retry may help."""
    if isinstance(exc, RPCError):
        reason = (exc.message or str(exc)).strip()
        # Several <rpc-error>s come as one RPCError with .errors and no tag of its own.
        errors = getattr(exc, "errors", None) or [exc]
        tags = sorted({tag for err in errors if (tag := getattr(err, "tag", None))})
        where = f" ({', '.join(tags)})" if tags else ""
        if tags and set(tags) <= _BUSY_TAGS:
            return DeviceBusyError(host, step, reason + where)
        return DeviceRejectedError(host, step, reason + where)
    if isinstance(exc, AuthenticationError):
        # Wrong credentials stay wrong: retrying only risks locking the account.
        return DeviceRejectedError(host, step, f"authentication failed: {exc}")
    return DeviceUnavailableError(host, step, f"{type(exc).__name__}: {exc}")


def _drop(task: Task) -> None:
    # The session is unusable (transport gone or timed out): forget it so the next task on
    # this host opens a fresh one; closing may fail on a dead transport, which is fine.
    conn = task.host.connections.pop(CONNECTION, None)
    if conn is None:
        return
    if isinstance(conn, PooledNetconf):
        conn.discard()
        return
    # Only the transport: the plugin's close() sends <close-session>, which on a session
    # whose peer has gone waits out the whole RPC timeout for a reply that never comes.
    session = getattr(getattr(conn, "connection", None), "session", None)
    with contextlib.suppress(Exception):
        if session is not None:
            session.close()
        else:
            conn.close()


def connection(task: Task) -> Any:
    """The host's ncclient Manager: a kept session or a new one.

    Both come from :mod:`nornir_esi.device.connections`.

    The password's reference is resolved first: one that does not resolve raises its
    :class:`~nornir_esi.exceptions.SecretError` (permanent), failing this host only.
    """
    netconf.tune_ncclient()
    resolve_password(task.host)
    try:
        return task.host.get_connection(CONNECTION, task.nornir.config)
    except SSHUnknownHostError as exc:
        _drop(task)
        host = task.host
        extras = host.get_connection_parameters(CONNECTION).extras or {}
        raise HostKeyPolicy.from_env().refused(
            host.name,
            str(host.hostname),
            int(host.port or 830),
            exc.fingerprint,
            recorded=bool(extras.get("hostkey_b64")),
        ) from exc
    except (NCClientError, OSError) as exc:
        _drop(task)
        raise device_error(task.host.name, "connect", exc) from exc


def call(task: Task, step: str, rpc: etree._Element) -> etree._Element:
    """Send ``rpc``; the ``<rpc-reply>`` as an element without namespaces' fuss.

    Any ncclient/transport error becomes a DeviceError naming the host and ``step``.
    """
    manager = connection(task)
    plugin = task.host.connections.get(CONNECTION)
    try:
        reply = manager.rpc(rpc)
    except RPCError as exc:
        raise device_error(task.host.name, step, exc) from exc
    except (NCClientError, OSError) as exc:
        _drop(task)
        if isinstance(plugin, PooledNetconf) and plugin.reused and not plugin.answered:
            # A kept session that died while idle (the router restarted, timed it out):
            # nothing was done on it, so the call is made on a new session, once.
            return call(task, step, rpc)
        raise device_error(task.host.name, step, exc) from exc
    if isinstance(plugin, PooledNetconf):
        plugin.answered = True
        if rpc.tag == "lock-configuration":
            plugin.locks += 1
        elif rpc.tag == "unlock-configuration":
            plugin.locks = max(0, plugin.locks - 1)
    # An RPCReply, which ncclient has parsed to look for errors (``netconf.JunosHandler``
    # keeps the Junos handler from transforming it): that tree is the answer. Another
    # handler's NCElement: str() is the XML.
    root = getattr(reply, "_root", None)
    if isinstance(root, etree._Element):
        return root
    raw = getattr(reply, "xml", None) or str(reply)
    return etree.fromstring(raw.encode(), _PARSER)


def leaf(tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    """An element with optional text and attributes (RPC building)."""
    el = etree.Element(tag, attrib)
    el.text = text
    return el


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A child element with optional text (RPC building)."""
    el = etree.SubElement(parent, tag)
    el.text = text
    return el
