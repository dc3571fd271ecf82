"""One simulated router: datastores, locks, commits, rollbacks, faults, operational state.

Everything here runs on the simulator's event loop, so no thread locks are needed; the
only await points are the commit delay and the commit serialisation, as on a real MX,
where one commit runs at a time and takes seconds.

Junos semantics kept on purpose (clients and our own pair transaction rely on them):

- One shared candidate per router. ``lock`` (``configure exclusive``) is refused while
  another session holds it, and while the candidate carries changes made by another
  session (``configuration database modified``).
- A session that ends while it holds the lock takes its uncommitted changes with it.
- ``open-configuration private`` gives a session its own copy of running; committing it
  fails with ``configuration database modified`` when running moved on since.
- ``commit confirmed`` reverts by itself unless a later ``commit`` or ``commit check``
  confirms it (the Junos rule); ``cancel-commit`` reverts at once. The Junos RPC counts the
  timeout in minutes, NETCONF's ``<commit>`` in seconds; ``Settings.minute`` lets tests
  shorten a Junos minute.
- Rollbacks 0-49 are kept; rollback 0 is the running configuration.
- Firewall counters exist only for ``count`` actions of the committed configuration and
  grow with time from the commit that created them.
- Routers see each other through their :class:`Segments` (the simulator's): VRRP elects
  among the routers of a segment, BGP sessions come up between them (``protocols``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from lxml import etree

from nornir_esi.exceptions import NetsimRpcError
from nornir_esi.junos import tree
from nornir_esi.junos.text import parse_text
from nornir_esi.netsim import checks

__all__ = ["CommitRecord", "Faults", "Router", "Segments", "Session", "Settings"]

T = TypeVar("T")

Role = Literal["primary", "secondary"]
MAX_ROLLBACKS = 50
JUNOS_VERSION = "21.4R3-S5.4"
FAULT_HOLDER = "netsim-fault"

_session_ids = itertools.count(1)


@dataclass
class Faults:
    """Faults a test can set per router, at start or at run time."""

    commit_delay: float = 0.0
    refuse_connections: bool = False
    fail_commits: int = 0
    fail_message: str = "commit failed: simulated failure"
    drop_on_commit: int = 0
    # True: the commit is applied, then the session drops before the reply (the client
    # cannot tell whether it happened). False: it drops before anything is applied.
    drop_after_apply: bool = True
    hold_lock: bool = False
    # `commit check` (also the check a commit starts with) fails this many more times.
    fail_checks: int = 0
    check_message: str = "commit check failed: simulated failure"
    links_down: set[str] = field(default_factory=set)


@dataclass
class Settings:
    """How the router presents itself; ``minute`` is the length of a Junos minute in seconds.

    ``segment``: the label of the L2 segments the router is wired to (see :class:`Segments`);
    "" is the default segment.
    """

    role: Role = "primary"
    model: str = "mx960"
    minute: float = 60.0
    segment: str = ""


class Segments:
    """Which routers share L2 segments: the routers of one simulator, by segment label.

    Routers of one label are wired alike, as the two routers of an HA pair are to their
    downlink: a VLAN id on any physical interface of one is the same broadcast domain as
    that VLAN id on any physical interface of the others. Routers of different labels
    never see each other. The simulator owns one and hands it to each of its routers.
    """

    def __init__(self) -> None:
        self._routers: list[Router] = []

    def join(self, router: Router) -> None:
        """Wire ``router`` to the segments of its label (``router.settings.segment``)."""
        if router not in self._routers:
            self._routers.append(router)

    def neighbours(self, router: Router) -> list[Router]:
        """The other routers of ``router``'s segment label, in the order they joined."""
        label = router.settings.segment
        return [r for r in self._routers if r is not router and r.settings.segment == label]


@dataclass
class CommitRecord:
    """One entry of the rollback history (``show system commit``)."""

    config: etree._Element
    seconds: float
    user: str
    client: str
    comment: str = ""
    confirmed: bool = False


class Session:
    """One NETCONF session on a router."""

    def __init__(self, router: Router, user: str, *, drop: Callable[[], None] | None = None):
        self.id = next(_session_ids)
        self.router = router
        self.user = user
        self.private: etree._Element | None = None
        self.private_base = b""
        self._drop = drop

    @property
    def holds_lock(self) -> bool:
        """Whether this session holds the router's lock (``configure exclusive``)."""
        return self.router.lock_owner is self

    def drop(self) -> None:
        """End the transport under this session (a fault, or kill-session)."""
        if self._drop is not None:
            self._drop()


class Router:
    """A simulated Junos router."""

    def __init__(
        self,
        name: str,
        *,
        day0: etree._Element | str | None = None,
        settings: Settings | None = None,
        faults: Faults | None = None,
        segments: Segments | None = None,
    ) -> None:
        """``segments``: the routers it shares L2 segments with; a router of its own by default."""
        self.name = name
        self.settings = settings or Settings()
        self.faults = faults or Faults()
        self.segments = segments if segments is not None else Segments()
        self.segments.join(self)
        self._derived: dict[Callable[..., Any], Any] = {}
        self._derived_from: etree._Element | None = None
        self.sessions: dict[int, Session] = {}
        self.lock_owner: Session | str | None = None
        self._day0 = self._initial(day0)
        self._commit_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._confirm_timer: asyncio.TimerHandle | None = None
        self._counters: dict[tuple[str, str], float] = {}
        self.reset()

    # -- state ------------------------------------------------------------------------------

    def _initial(self, day0: etree._Element | str | None) -> etree._Element:
        if day0 is None:
            from importlib.resources import files

            day0 = (files("nornir_esi.netsim") / "day0.conf").read_text()
        config = parse_text(day0) if isinstance(day0, str) else tree.strip(day0)
        if config.find("system/host-name") is None:
            system = config.find("system")
            if system is None:
                system = etree.Element("system")
                tree.edit_config(config, _wrap(system))
                system = config.find("system")
            assert system is not None
            host = etree.Element("host-name")
            host.text = self.name
            system.insert(0, host)
        return config

    def reset(self) -> None:
        """Back to day-0: running, candidate and history; locks and pending confirms cleared."""
        self._cancel_confirm_timer()
        self.running = deepcopy(self._day0)
        self.candidate = deepcopy(self._day0)
        self.candidate_editors: set[int] = set()
        self._valid: bytes | None = None  # the last configuration validate() passed
        self.history: list[CommitRecord] = [
            CommitRecord(deepcopy(self._day0), time.time(), "root", "day0", "day-0 configuration")
        ]
        self.confirm_pending = False
        self._counters = {}
        self._start_counters(self.running)
        self.lock_owner = FAULT_HOLDER if self.faults.hold_lock else None
        for session in list(self.sessions.values()):
            session.private = None

    def set_faults(self, **changes: object) -> None:
        """Change faults at run time, e.g. ``set_faults(fail_commits=1)``.

        ``refuse_connections`` concerns the listener, which the simulator owns: change it
        through ``Simulator.set_faults``.
        """
        for key, value in changes.items():
            if not hasattr(self.faults, key):
                raise AttributeError(f"router {self.name}: no fault named {key!r}")
            setattr(self.faults, key, value)
        if "hold_lock" in changes:
            if self.faults.hold_lock and self.lock_owner is None:
                self.lock_owner = FAULT_HOLDER
            elif not self.faults.hold_lock and self.lock_owner == FAULT_HOLDER:
                self.lock_owner = None

    # -- sessions ---------------------------------------------------------------------------

    def open_session(self, user: str, drop: Callable[[], None] | None = None) -> Session:
        """A new session of ``user``; ``drop`` ends its transport (:meth:`Session.drop`)."""
        session = Session(self, user, drop=drop)
        self.sessions[session.id] = session
        return session

    def close_session(self, session: Session) -> None:
        """The session ended (close-session, kill-session or a dropped transport)."""
        self.sessions.pop(session.id, None)
        if session.holds_lock:
            # `configure exclusive`: uncommitted changes go with the session.
            self._discard_shared()
            self.lock_owner = None
        session.private = None

    def kill_session(self, session: Session, target_id: int) -> None:
        """``kill-session``: end session ``target_id``, and drop its transport.

        Its lock and its uncommitted changes go with it (:meth:`close_session`). A session
        cannot kill itself; an unknown id is an error.
        """
        if target_id == session.id:
            raise NetsimRpcError(
                "cannot kill own session", tag="invalid-value", error_type="protocol"
            )
        target = self.sessions.get(target_id)
        if target is None:
            raise NetsimRpcError(
                f"session {target_id} does not exist", tag="invalid-value", error_type="protocol"
            )
        self.close_session(target)
        target.drop()

    # -- datastores -------------------------------------------------------------------------

    def datastore(self, session: Session, name: str) -> etree._Element:
        """The tree a read of ``running``/``committed`` or ``candidate`` sees for a session."""
        if name in ("running", "committed"):
            return self.running
        if name == "candidate":
            return session.private if session.private is not None else self.candidate
        raise NetsimRpcError(
            f"datastore {name!r} is not supported",
            tag="operation-not-supported",
            error_type="protocol",
        )

    def _check_writable(self, session: Session) -> None:
        if session.private is not None:
            return
        owner = self.lock_owner
        if owner is not None and owner is not session:
            holder = owner if isinstance(owner, str) else f"{owner.user} (session {owner.id})"
            raise NetsimRpcError(
                f"configuration database locked by: {holder}",
                tag="in-use",
                error_type="protocol",
                info={"session-id": str(getattr(owner, "id", 0))},
            )

    def modify_candidate(
        self, session: Session, change: Callable[[etree._Element], etree._Element | None]
    ) -> None:
        """Apply ``change`` to a copy of the session's candidate; keep it only if it succeeds.

        ``change`` edits its argument in place (returns None) or returns a new tree.
        All or nothing: a failed edit leaves the candidate as it was (rollback-on-error).
        """
        self._check_writable(session)
        work = deepcopy(self.datastore(session, "candidate"))
        result = change(work)
        new = work if result is None else result
        if session.private is not None:
            session.private = new
            return
        self.candidate = new
        self.candidate_editors.add(session.id)

    def discard_changes(self, session: Session) -> None:
        """``discard-changes``: the session's candidate back to running.

        A private copy is renewed from running; resetting the shared candidate is refused
        (``in-use``) while someone else holds the lock.
        """
        if session.private is not None:
            session.private = deepcopy(self.running)
            session.private_base = tree.canonical_bytes(self.running)
            return
        self._check_writable(session)
        self._discard_shared()

    def _discard_shared(self) -> None:
        self.candidate = deepcopy(self.running)
        self.candidate_editors = set()

    def candidate_modified(self) -> bool:
        """Whether the shared candidate differs from running."""
        return tree.canonical_bytes(self.candidate) != tree.canonical_bytes(self.running)

    # -- locks and private databases ------------------------------------------------------

    def lock(self, session: Session) -> None:
        """``lock`` (``configure exclusive``): the configuration for ``session`` alone.

        Refused (``lock-denied``) when this session holds it already, while another session
        (or a fault) holds it, and while the candidate carries another session's changes.
        """
        owner = self.lock_owner
        if owner is session:
            raise NetsimRpcError(
                "configuration database already locked by this session",
                tag="lock-denied",
                error_type="protocol",
                info={"session-id": str(session.id)},
            )
        if owner is not None:
            holder_id = owner.id if isinstance(owner, Session) else 0
            holder = owner if isinstance(owner, str) else f"{owner.user} (session {owner.id})"
            raise NetsimRpcError(
                f"configuration database locked by: {holder}",
                tag="lock-denied",
                error_type="protocol",
                info={"session-id": str(holder_id)},
            )
        others = self.candidate_editors - {session.id}
        if others and self.candidate_modified():
            raise NetsimRpcError(
                "configuration database modified",
                tag="lock-denied",
                error_type="protocol",
                info={"session-id": "0"},
            )
        self.lock_owner = session

    def unlock(self, session: Session) -> None:
        """``unlock``: release the lock; an error when ``session`` does not hold it."""
        if self.lock_owner is not session:
            raise NetsimRpcError(
                "configuration database is not locked by this session",
                tag="operation-failed",
                error_type="protocol",
            )
        self.lock_owner = None

    def open_private(self, session: Session) -> None:
        """``open-configuration private``: give ``session`` its own copy of running.

        Nothing changes when it has one. Refused (``in-use``) while another session holds
        the lock, or while the shared candidate is modified.
        """
        if session.private is not None:
            return
        if self.lock_owner is not None and self.lock_owner is not session:
            raise NetsimRpcError(
                "configuration database locked by another user",
                tag="in-use",
                error_type="protocol",
            )
        if self.candidate_modified():
            raise NetsimRpcError(
                "shared configuration database modified", tag="in-use", error_type="protocol"
            )
        session.private = deepcopy(self.running)
        session.private_base = tree.canonical_bytes(self.running)

    def close_private(self, session: Session) -> None:
        """``close-configuration``: drop the session's private copy, uncommitted changes too."""
        session.private = None

    # -- validation and commit --------------------------------------------------------------

    def validate(self, config: etree._Element) -> None:
        """Raise :class:`CommitCheckError` when ``config`` fails the commit checks.

        The last configuration that passed is not checked again.
        """
        # A pair transaction checks a candidate, commits it and confirms it: one walk of
        # the configuration for the three (the checks depend on nothing else).
        fingerprint = etree.tostring(config)
        if fingerprint == self._valid:
            return
        errors = checks.check(config)
        if errors:
            raise CommitCheckError(errors)
        self._valid = fingerprint

    async def commit(
        self,
        session: Session,
        *,
        check_only: bool = False,
        confirmed: bool = False,
        confirm_seconds: float | None = None,
        comment: str = "",
    ) -> int:
        """Commit the session's candidate; returns the commit's sequence number (rollback 0).

        A commit or commit check while a confirmed commit is pending confirms it.
        """
        self._check_writable(session)
        async with self._commit_lock:
            # Taken in as the commit starts: a session that drops while the commit runs
            # does not stop it (on Junos, mgd finishes it); its candidate is discarded
            # after, by replacing the tree, not by changing this one.
            candidate = self.datastore(session, "candidate")
            if self.faults.commit_delay > 0 and not check_only:
                await asyncio.sleep(self.faults.commit_delay)
            if session.private is not None and session.private_base != tree.canonical_bytes(
                self.running
            ):
                raise NetsimRpcError("configuration database modified", error_type="protocol")
            self.validate(candidate)
            if self.faults.fail_checks > 0:
                self.faults.fail_checks -= 1
                raise NetsimRpcError(self.faults.check_message, error_type="application")
            if self.faults.fail_commits > 0 and not check_only:
                self.faults.fail_commits -= 1
                raise NetsimRpcError(self.faults.fail_message, error_type="application")
            if self.confirm_pending and not confirmed:
                self._confirm()
            if check_only:
                return 0
            drop = self.faults.drop_on_commit > 0
            if drop:
                self.faults.drop_on_commit -= 1
                if not self.faults.drop_after_apply:
                    session.drop()
                    raise SessionDroppedError
            self._apply(
                candidate, user=session.user, client="netconf", comment=comment, confirmed=confirmed
            )
            if session.private is not None:
                session.private = deepcopy(self.running)
                session.private_base = tree.canonical_bytes(self.running)
            else:
                self.candidate_editors = set()
            if confirmed:
                self._arm_confirm(confirm_seconds if confirm_seconds is not None else 600.0)
            if drop:
                session.drop()
                raise SessionDroppedError
            return 0

    def _apply(
        self, config: etree._Element, *, user: str, client: str, comment: str, confirmed: bool
    ) -> None:
        self.running = deepcopy(config)
        self.candidate = deepcopy(config)
        self.history.insert(
            0, CommitRecord(deepcopy(config), time.time(), user, client, comment, confirmed)
        )
        del self.history[MAX_ROLLBACKS:]
        self._start_counters(self.running)

    def _arm_confirm(self, seconds: float) -> None:
        self._cancel_confirm_timer()
        self.confirm_pending = True
        loop = asyncio.get_running_loop()
        self._confirm_timer = loop.call_later(seconds, self._timer_expired)

    def _timer_expired(self) -> None:
        # As on Junos, the rollback waits for a commit in progress (which may confirm).
        self._confirm_timer = None
        task = asyncio.get_running_loop().create_task(self._rollback_unless_confirmed())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _rollback_unless_confirmed(self) -> None:
        async with self._commit_lock:
            if self.confirm_pending and self._confirm_timer is None:
                self._auto_rollback()

    def _confirm(self) -> None:
        self._cancel_confirm_timer()
        self.confirm_pending = False

    def _cancel_confirm_timer(self) -> None:
        if self._confirm_timer is not None:
            self._confirm_timer.cancel()
            self._confirm_timer = None

    def _auto_rollback(self) -> None:
        self._confirm_timer = None
        self.confirm_pending = False
        previous = self.history[1].config if len(self.history) > 1 else self._day0
        self._apply(
            previous, user="root", client="other", comment="automatic rollback", confirmed=False
        )
        self.candidate_editors = set()

    def cancel_commit(self, session: Session) -> None:
        """``cancel-commit``: revert the pending confirmed commit at once; an error when none."""
        if not self.confirm_pending:
            raise NetsimRpcError(
                "no confirmed commit is pending", tag="operation-failed", error_type="protocol"
            )
        self._check_writable(session)
        self._auto_rollback()

    def rollback_config(self, index: int) -> etree._Element:
        """The configuration of rollback ``index`` (0: running).

        An error outside 0-49, or beyond the commits the history holds.
        """
        if not 0 <= index < MAX_ROLLBACKS:
            raise NetsimRpcError(
                f"rollback {index} is outside 0-{MAX_ROLLBACKS - 1}",
                tag="invalid-value",
                error_type="protocol",
            )
        if index >= len(self.history):
            raise NetsimRpcError(
                f"Cannot open rollback file: rollback {index} does not exist",
                tag="invalid-value",
                error_type="protocol",
            )
        return self.history[index].config

    # -- operational state ------------------------------------------------------------------

    def _start_counters(self, config: etree._Element) -> None:
        now = time.monotonic()
        live = set(counter_names(config))
        self._counters = {key: self._counters.get(key, now) for key in live}

    def counters(self) -> dict[str, list[tuple[str, int, int]]]:
        """Per filter: (counter, packets, bytes); they grow from the commit that made them."""
        now = time.monotonic()
        out: dict[str, list[tuple[str, int, int]]] = {}
        for (filter_name, counter), since in self._counters.items():
            seed = int.from_bytes(
                hashlib.sha256(f"{self.name}/{filter_name}/{counter}".encode()).digest()[:4], "big"
            )
            rate = 50 + seed % 950  # packets per second
            packets = int((now - since) * rate)
            out.setdefault(filter_name, []).append((counter, packets, packets * (64 + seed % 1400)))
        return out

    def link_up(self, interface: str) -> bool:
        """Whether ``interface``'s physical link is up: no fault took it down, not disabled."""
        physical = interface.split(".")[0]
        if physical in self.faults.links_down:
            return False
        entry = _interface(self.running, physical)
        return entry is not None and entry.find("disable") is None

    def derived(self, build: Callable[[etree._Element], T]) -> T:
        """What ``build`` makes of the running configuration, made once per commit.

        For operational state read on every RPC (the units, addresses and VRRP groups a
        configuration declares): a router answers it from the last commit's result.
        """
        if self._derived_from is not self.running:
            self._derived = {}
            self._derived_from = self.running
        if build not in self._derived:
            self._derived[build] = build(self.running)
        result: T = self._derived[build]
        return result


class CommitCheckError(NetsimRpcError):
    """The candidate fails the commit checks; ``errors`` has one entry per problem."""

    def __init__(self, errors: list[NetsimRpcError]) -> None:
        super().__init__(errors[0].message, path=errors[0].path, error_type="protocol")
        self.errors = errors


class SessionDroppedError(Exception):
    """The session's transport was dropped on purpose (a fault); no reply is sent."""


def counter_names(config: etree._Element) -> list[tuple[str, str]]:
    """(filter, counter) for every ``count`` action in the firewall filters of ``config``."""
    found: list[tuple[str, str]] = []
    for filter_el in config.iterfind("firewall/family/*/filter"):
        name = filter_el.findtext("name", "")
        found.extend((name, count.text or "") for count in filter_el.iterfind("term/then/count"))
    for filter_el in config.iterfind("firewall/filter"):
        name = filter_el.findtext("name", "")
        found.extend((name, count.text or "") for count in filter_el.iterfind("term/then/count"))
    return found


def _interface(config: etree._Element, name: str) -> etree._Element | None:
    for entry in config.iterfind("interfaces/interface"):
        if entry.findtext("name") == name:
            return entry
    return None


def _wrap(element: etree._Element) -> etree._Element:
    root = etree.Element("configuration")
    root.append(element)
    return root
