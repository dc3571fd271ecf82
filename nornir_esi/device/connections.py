"""The workers' NETCONF connection plugin for Nornir, and the sessions it keeps per router.

:class:`PooledNetconf` (registered as the Nornir connection plugin :data:`CONNECTION`)
opens sessions with :func:`nornir_esi.device.netconf.connect`, so with the client settings that
matter (``TCP_NODELAY``, ncclient's poll interval lowered): nornir-netconf's own plugin
lets ncclient open the socket, and Nagle's algorithm then holds the handshake's small
packets back (~85 ms a session here). And it keeps them: closing hands the session back to
:data:`POOL`, and the next job on the same router takes it instead of paying for an SSH
handshake, key exchange, login and NETCONF hello again (on a real router that is the
larger part of a short job).

What goes back to the pool, and what does not:

- a session is pooled under everything that opened it (address, user, password, host key):
  changed credentials or a changed known key never reuse an old session;
- at most :attr:`SessionPool.per_router` idle sessions per router (the rest are closed), so
  a burst of parallel jobs does not leave many open sessions behind; each idle session's
  ncclient thread wakes every ``TICK`` (20 ms), which costs little but not nothing;
- a session closed while it still holds the configuration lock (an unlock that failed) is
  closed for real: Junos releases the lock with the session, as before;
- a session whose transport broke is never handed back (``_rpc`` drops it from the host
  without closing it through the plugin), and one that died while idle is discarded when
  taken;
- idle sessions older than :attr:`SessionPool.idle_seconds` are closed when the pool is
  next used (a router's own idle timeout would end them anyway);
- at most :attr:`SessionPool.open_max` sessions per router are in use at once: a job that
  needs one more waits for one to come back instead of opening it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from nornir.core.configuration import Config

from nornir_esi.device import netconf

__all__ = ["CONNECTION", "POOL", "PooledNetconf", "SessionPool"]

CONNECTION = "esi_netconf"


def _close(manager: Any) -> None:
    # A polite close-session; a peer that has gone makes it fail, which changes nothing.
    with contextlib.suppress(Exception):
        manager.close_session()


class SessionPool:
    """Idle NETCONF sessions by what opened them, and a cap on the sessions in use per router.

    At most ``per_router`` idle sessions are kept for each key, and at most ``open_max``
    sessions are in use per router (address and port) at once.

    A job that needs a session to a router already using ``open_max`` waits for one to be
    handed back (up to ``wait`` seconds, then a TimeoutError: the router is not usable
    now), rather than opening one more: a burst of jobs would otherwise open a session
    each, an SSH handshake each, and a real router limits its NETCONF sessions anyway.
    Every :meth:`get` is ended by one :meth:`give` or :meth:`discard`.
    """

    def __init__(
        self,
        per_router: int = 2,
        idle_seconds: float = 300.0,
        open_max: int = 4,
        wait: float = 120.0,
    ) -> None:
        self.per_router = per_router
        self.idle_seconds = idle_seconds
        self.open_max = open_max
        self.wait = wait
        self._idle: dict[Hashable, list[tuple[float, Any]]] = {}
        self._in_use: dict[Hashable, threading.BoundedSemaphore] = {}
        self._using: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self.opened = 0
        self.reused = 0

    def get(self, key: Hashable, open_session: Callable[[], Any]) -> tuple[Any, bool]:
        """A live idle session opened with ``key``, else a new one from ``open_session``.

        The second value says whether it was reused. Waits while the router has ``open_max`` in
        use.
        """
        slots = self._slots(key)
        if not slots.acquire(timeout=self.wait):
            host, port = _router(key)
            raise TimeoutError(
                f"no NETCONF session to {host}:{port} free after {self.wait:.0f} s "
                f"(at most {self.open_max} in use at once)"
            )
        self._count(key, +1)
        try:
            manager = self.take(key)
            if manager is not None:
                return manager, True
            manager = open_session()
        except BaseException:
            self._count(key, -1)
            slots.release()
            raise
        with self._lock:
            self.opened += 1
        return manager, False

    def take(self, key: Hashable) -> Any | None:
        """A live idle session opened with ``key``, or None."""
        stale: list[Any] = []
        found = None
        with self._lock:
            self._expire(stale)
            idle = self._idle.get(key, [])
            while idle and found is None:
                _, manager = idle.pop()
                if manager.connected:
                    found = manager
                else:
                    stale.append(manager)
            if found is not None:
                self.reused += 1
        for manager in stale:
            _close(manager)
        return found

    def give(self, key: Hashable, manager: Any) -> None:
        """Keep ``manager`` for the next job on its router, or close it (pool full, dead).

        Either way it is no longer in use.
        """
        keep = False
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if manager.connected and len(idle) < self.per_router:
                idle.append((time.monotonic(), manager))
                keep = True
        self._count(key, -1)
        self._slots(key).release()
        if not keep:
            _close(manager)

    def discard(self, key: Hashable) -> None:
        """A session of ``key`` is no longer in use and not kept (closed by its user)."""
        self._count(key, -1)
        self._slots(key).release()

    def in_use(self, key: Hashable = None) -> int:
        """Sessions in use now: to the router of ``key``, or (None) to every router."""
        with self._lock:
            if key is None:
                return sum(self._using.values())
            return self._using.get(_router(key), 0)

    def _count(self, key: Hashable, change: int) -> None:
        with self._lock:
            router = _router(key)
            self._using[router] = self._using.get(router, 0) + change

    def _slots(self, key: Hashable) -> threading.BoundedSemaphore:
        router = _router(key)
        with self._lock:
            slots = self._in_use.get(router)
            if slots is None:
                slots = self._in_use[router] = threading.BoundedSemaphore(self.open_max)
            return slots

    def clear(self) -> None:
        """Close every idle session (a process ending, a test between simulators)."""
        with self._lock:
            idle = [m for sessions in self._idle.values() for _, m in sessions]
            self._idle.clear()
        for manager in idle:
            _close(manager)

    def _expire(self, stale: list[Any]) -> None:
        limit = time.monotonic() - self.idle_seconds
        for key, idle in list(self._idle.items()):
            keep = [(since, m) for since, m in idle if since >= limit]
            stale.extend(m for since, m in idle if since < limit)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]


def _router(key: Hashable) -> tuple[Any, Any]:
    """The router (address, port) of a pool key (those of :class:`PooledNetconf` start so)."""
    return (key[0], key[1]) if isinstance(key, tuple) and len(key) >= 2 else (key, None)


POOL = SessionPool()


class PooledNetconf:
    """Nornir connection plugin: a NETCONF session (an ncclient ``Manager``) from :data:`POOL`.

    When the pool has none, a new one is opened with :func:`nornir_esi.device.netconf.connect`.

    Kept by :func:`nornir_esi.device.rpc.call`: ``locks``, the configuration locks the
    session holds (one that still holds one is not pooled); ``answered``, whether an RPC
    got its reply on it since it was opened or taken. A ``reused`` session that fails
    before any answer died while idle: the call is made once more on a new session.
    """

    def __init__(self) -> None:
        self.connection: Any = None
        self.locks = 0
        self.reused = False
        self.answered = False
        self._key: Hashable = None

    def open(
        self,
        hostname: str | None,
        username: str | None,
        password: str | None,
        port: int | None = 830,
        platform: str | None = None,
        extras: dict[str, Any] | None = None,
        configuration: Config | None = None,
    ) -> None:
        """Take a session to ``hostname:port`` from :data:`POOL`, or open a new one.

        Sessions are kept by everything that opened them (address, port, credentials, device
        handler, ``extras``), so one is reused only with the same options.
        """
        options = dict(extras or {})
        device = options.pop("device_params", {}) or {}
        junos = (device.get("name") or platform or "junos") == "junos"
        host, number = str(hostname), int(port or 830)
        self._key = (host, number, username, password, junos, tuple(sorted(options.items())))
        self.locks, self.answered = 0, False
        self.connection, self.reused = POOL.get(
            self._key,
            lambda: netconf.connect(
                host, number, username=str(username), password=password, junos=junos, **options
            ),
        )

    def close(self) -> None:
        """Give the session back to :data:`POOL`; one that still holds a lock is closed instead."""
        if self.connection is None:
            return
        if self.locks:
            _close(self.connection)
            POOL.discard(self._key)
        else:
            POOL.give(self._key, self.connection)
        self.connection = None

    def discard(self) -> None:
        """End a session whose transport broke: closed without a word to the router, never kept.

        A word to the router would wait for an answer that never comes.
        """
        if self.connection is None:
            return
        manager, self.connection = self.connection, None
        session = getattr(manager, "session", None)
        with contextlib.suppress(Exception):
            if session is not None:
                session.close()
        POOL.discard(self._key)
