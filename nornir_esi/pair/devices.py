"""The routers as the handlers see them: push a change, read state. Nornir underneath.

Each call builds a Nornir for the routers it touches (hosts from the edge_router
resources, connections overridden by the inventory file) and runs one of the tasks in
``nornir_esi/tasks``; a failed task's DeviceError is re-raised as it is, so the job's
error names the router and the step.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from nornir.core import Nornir
from nornir.core.task import AggregatedResult

from nornir_esi.contract import keys
from nornir_esi.device.inventory import nornir_for
from nornir_esi.device.reads import GroupReads
from nornir_esi.exceptions import (
    DeviceBusyError,
    DeviceError,
    DeviceUnavailableError,
    EsiError,
    PairError,
    ValidationError,
)
from nornir_esi.pair.change import ROLES, Change, PairResult, Router, Verifier
from nornir_esi.pair.coalesce import DEFAULT_BATCH, Coalescer
from nornir_esi.pair.transaction import apply_pair
from nornir_esi.store.mutex import EtcdMutex
from nornir_esi.tasks.collect_commits import collect_commits
from nornir_esi.tasks.collect_forwarding import collect_forwarding
from nornir_esi.tasks.collect_state import collect_state
from nornir_esi.tasks.push_config import push_config

__all__ = ["NornirDevices"]


def _raise_failure(result: AggregatedResult, what: str) -> None:
    for host, multi in result.items():
        if multi.failed:
            exc = multi[0].exception
            if isinstance(exc, EsiError):
                raise exc
            raise DeviceError(host, what, f"{type(exc).__name__}: {exc}") from exc


class NornirDevices:
    """Device access through Nornir; ``overrides`` is the inventory file, if any.

    ``max_batch``: the most changes one pair transaction carries (commit coalescing,
    :mod:`nornir_esi.pair.coalesce`); 1 applies each change in a transaction of its own.
    ``turns``: where pair transactions of all processes queue for their pair (the workers
    pass the etcd one); None: only this process's take turns.
    """

    def __init__(
        self,
        overrides: str | None = None,
        *,
        max_batch: int = DEFAULT_BATCH,
        turns: EtcdMutex | None = None,
    ) -> None:
        self.overrides = overrides
        self._pair_locks: dict[tuple[str, ...], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.coalescer = Coalescer(
            self._apply,
            max_batch=max_batch,
            turn=None if turns is None else self._turn,
        )
        self.turns = turns
        self.reads = GroupReads(self._read_state)

    def _turn(self, key: Hashable) -> AbstractContextManager[None]:
        """The pair's turn among every process's transactions.

        ``key`` is the router names by role, primary first.
        """
        assert self.turns is not None and isinstance(key, tuple)
        return self.turns.hold(keys.pair_queue([str(name) for name in key]))

    def _pair_lock(self, changes_by_role: Mapping[str, Change]) -> threading.Lock:
        key = tuple(sorted(str(c.router.get("name")) for c in changes_by_role.values()))
        with self._locks_guard:
            return self._pair_locks.setdefault(key, threading.Lock())

    def _nornir(self, routers: Sequence[Router]) -> Nornir:
        return nornir_for([dict(r) for r in routers], overrides=self.overrides)

    def push(self, changes: Sequence[Change], *, comment: str) -> dict[str, str]:
        """Apply ``changes`` one router after the other, in order; each router's diff.

        Sequential on purpose: the caller orders the routers (backup first).
        """
        diffs: dict[str, str] = {}
        for change in changes:
            nr = self._nornir([change.router])
            try:
                result = nr.run(
                    task=push_config,
                    commands=change.commands,
                    comment=comment,
                    text=change.text,
                    prune_policies=list(change.prune_policies),
                )
                _raise_failure(result, "push")
                diffs[str(change.router.get("name"))] = next(iter(result.values()))[0].diff
            finally:
                nr.close_connections()
        return diffs

    def push_pair(
        self,
        changes_by_role: Mapping[str, Change],
        *,
        comment: str,
        verify: Verifier | None = None,
        dry_run: bool = False,
        subject: Hashable = None,
    ) -> PairResult:
        """Apply a change to both routers of a pair as one transaction.

        The transaction is :mod:`nornir_esi.pair.transaction`'s.

        ``changes_by_role``: ``{"primary": Change, "secondary": Change}``. Any failure leaves
        both routers on their previous configuration and raises a PairError. Changes to
        the same pair made at the same moment share a transaction (:mod:`nornir_esi.pair.coalesce`;
        ``subject``: what the change is to, such as ``(type, id)``: two changes to the same
        subject never share one). A dry run has a transaction of its own.
        """
        if set(changes_by_role) != set(ROLES):
            raise ValidationError(
                "pair transaction",
                "changes",
                f"roles {sorted(changes_by_role)} are not primary+secondary",
            )
        if dry_run:
            return self._dry_run(changes_by_role, comment=comment)
        key = tuple(str(changes_by_role[role].router.get("name")) for role in ROLES)
        return self.coalescer.submit(
            key, changes_by_role, comment=comment, verify=verify, subject=subject
        )

    def _dry_run(self, changes_by_role: Mapping[str, Change], *, comment: str) -> PairResult:
        """A dry run, tried again while another session locks a router.

        A transaction, or a drift check of another process: for up to the coalescer's
        ``busy_for`` seconds.
        """
        deadline = time.monotonic() + self.coalescer.busy_for
        wait = 0.05
        while True:
            try:
                with self._pair_lock(changes_by_role):
                    return apply_pair(
                        changes_by_role, comment=comment, overrides=self.overrides, dry_run=True
                    )
            except PairError as exc:
                if not isinstance(exc.cause, DeviceBusyError) or time.monotonic() >= deadline:
                    raise
            # Jittered, as the coalescer's retries: two waiting sessions do not retry in step.
            time.sleep(random.uniform(wait / 2, wait))
            wait = min(wait * 2, 1.0)

    def _apply(
        self, changes_by_role: Mapping[str, Change], *, comment: str, verify: Verifier | None
    ) -> PairResult:
        # Transactions of this process take turns on a router pair here (the coalescer
        # runs one per role assignment) rather than at the routers' configuration locks.
        with self._pair_lock(changes_by_role):
            return apply_pair(
                changes_by_role, comment=comment, overrides=self.overrides, verify=verify
            )

    def state(
        self,
        router: Router,
        *,
        interfaces: Sequence[str] = (),
        counters: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """One router's interface states and counters, in one session.

        Read by :func:`~nornir_esi.tasks.collect_state.collect_state`. Concurrent calls for one
        router share a read (:mod:`nornir_esi.device.reads`).
        """
        return self.reads(str(router.get("name")), router, interfaces, counters)

    def _read_state(
        self, router: Router, interfaces: list[str], counters: list[tuple[str, str]]
    ) -> dict[str, Any]:
        nr = self._nornir([router])
        try:
            result = nr.run(task=collect_state, interfaces=interfaces, counters=counters)
            _raise_failure(result, "collect state")
            state: dict[str, Any] = next(iter(result.values()))[0].result
            return state
        finally:
            nr.close_connections()

    def forwarding(
        self, router: Router, *, interfaces: Sequence[str] = (), instance: str = ""
    ) -> dict[str, Any]:
        """One router's VRRP groups on ``interfaces``, and BGP peers and routes of ``instance``.

        Read by :func:`~nornir_esi.tasks.collect_forwarding.collect_forwarding`, in one session.
        """
        nr = self._nornir([router])
        try:
            result = nr.run(task=collect_forwarding, interfaces=list(interfaces), instance=instance)
            _raise_failure(result, "collect forwarding")
            state: dict[str, Any] = next(iter(result.values()))[0].result
            return state
        finally:
            nr.close_connections()

    def commits(self, routers: Sequence[Router]) -> dict[str, list[dict[str, Any]] | EsiError]:
        """Each router's commit history, newest first (``collect_commits``), by router name.

        A router that cannot be read gives its error instead: one router down hides
        nothing of the others.
        """
        nr = self._nornir(routers)
        try:
            result = nr.run(task=collect_commits)
            out: dict[str, list[dict[str, Any]] | EsiError] = {}
            for host, multi in result.items():
                exc = multi[0].exception
                if not multi.failed:
                    out[host] = multi[0].result
                elif isinstance(exc, EsiError):
                    out[host] = exc
                else:
                    out[host] = DeviceError(host, "commit history", f"{type(exc).__name__}: {exc}")
            return out
        finally:
            nr.close_connections()

    def reachable(self, router: Router) -> bool:
        """The router answers over NETCONF."""
        try:
            self.state(router)
        except DeviceUnavailableError:
            return False
        return True

    def interfaces_up(self, router: Router, names: Sequence[str]) -> bool:
        """Every interface in ``names`` is operationally up (False when unreachable)."""
        try:
            found = self.state(router, interfaces=names)["interfaces"]
        except DeviceUnavailableError:
            return False
        return all(found.get(name) == "up" for name in names)

    def counters(
        self, router: Router, counters: Sequence[tuple[str, str]]
    ) -> dict[str, dict[str, int] | None]:
        """``{"filter/counter": {"packets", "bytes"}}``, None for a counter the router lacks."""
        found: dict[str, dict[str, int] | None] = self.state(router, counters=counters)["counters"]
        return {f"{f}/{c}": found.get(f"{f}/{c}") for f, c in counters}

    def missing_counters(self, router: Router, counters: Sequence[tuple[str, str]]) -> list[str]:
        """``filter/counter`` names of ``counters`` the router does not have."""
        return [name for name, value in self.counters(router, counters).items() if value is None]
