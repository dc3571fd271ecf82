"""The pair transaction: one change to both routers of a gateway's HA pair, or to neither.

A gateway lives on two routers (VRRP master and backup); a half-configured pair is the
worst outcome, so :func:`apply_pair` runs the change as one transaction over one Nornir
with both hosts, keeping each host's NETCONF session from step to step:

1. lock both candidates (``lock-configuration``), load each router's change, and take
   both diffs. Dry run: discard, unlock, return the diffs. A router whose newest commit
   is a trial (``commit confirmed``) of this change that an earlier, dead run left
   pending: the trial is taken over as this transaction's own commit, to be confirmed
   with the rest, so a re-run never leaves one router on a timer that reverts it. Both
   diffs empty and no trial: unlock, nothing is committed (a re-run is a no-op);
2. ``commit check`` on both (on each with a diff);
3. roll out in VRRP order, the backup (``secondary``) first, then the master: ``commit
   confirmed`` on the router, then the verifier on it (its gateway up, counters there,
   VRRP in the role's state);
4. only when both verified: confirm both (at once) with a plain ``commit``, then unlock.

Every commit carries ``comment`` in its log, which is how a later step recognises the
transaction's own commits in ``show system commit``.

Any failure at any step undoes the transaction on both routers before the error is
raised (a :class:`~nornir_esi.exceptions.PairError` naming the router, the step and the
reason, with what was rolled back where):

- nothing committed yet: the candidate is discarded and the lock released;
- a router committed (confirmed, or even confirmed for good): under the lock, after
  checking in its commit history that the newest commits are the transaction's own
  (log == comment, on top of the commit that was newest before), the configuration of
  before is loaded (``load-configuration rollback=N``) and committed at once, not left to
  the confirm timer; then unlocked;
- a session that dropped during a commit (it may or may not have been applied): a new
  session, lock, and the same check decides whether there is anything to undo;
- a router that cannot be reached any more: its unconfirmed commit reverts by itself
  after ``confirm_minutes``, which the error says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornir.core import Nornir
from nornir.core.task import Result, Task

from nornir_esi.device.candidate import (
    CommitEntry,
    commit_history,
    commit_rpc,
    diff,
    discard,
    load,
    load_set,
    lock,
    prune_policy,
    unlock,
)
from nornir_esi.device.inventory import nornir_for, resolve_password
from nornir_esi.device.rpc import CONNECTION, call, leaf
from nornir_esi.exceptions import (
    DeviceBusyError,
    DeviceError,
    DeviceRejectedError,
    DeviceUnavailableError,
    PairError,
    ValidationError,
)
from nornir_esi.metrics import COMMIT_SECONDS
from nornir_esi.pair.change import ROLES, Change, PairResult, Role, Verifier

__all__ = ["ROLLOUT", "apply_pair"]

log = logging.getLogger(__name__)

# VRRP backup first: while its new configuration is on trial, the master still forwards.
ROLLOUT: tuple[Role, ...] = ("secondary", "primary")
# How many of the commits that were newest before the transaction must reappear, shifted
# down by the transaction's own commits, for those to be recognised as its own.
_WINDOW = 3


@dataclass
class _Router:
    role: Role
    name: str
    change: Change
    diff: str = ""
    locked: bool = False
    # The transaction's commits known to be on the router, and whether one more may be
    # (its session dropped while it was committing).
    commits: int = 0
    uncertain: bool = False
    # Whether the last of them was the plain, final one (no timer would undo it).
    confirmed: bool = False
    before: list[CommitEntry] = field(default_factory=list)
    # The logs of the commits that are the transaction's: its comment, and that of an
    # earlier run's trial it took over (see _Transaction._adopt_own_trial).
    logs: set[str] = field(default_factory=set)


class _StepError(Exception):
    """A step failed; the transaction is to be undone and ``error`` raised.

    ``also`` is the other router's failure in the same step.
    """

    def __init__(self, error: DeviceError, also: DeviceError | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.also = also


def apply_pair(
    changes: Mapping[str, Change],
    *,
    comment: str,
    overrides: str | None = None,
    verify: Verifier | None = None,
    confirm_minutes: int = 1,
    dry_run: bool = False,
) -> PairResult:
    """Apply ``changes`` (``{"primary": Change, "secondary": Change}``) as one transaction.

    ``comment`` goes into every commit's log and must be unique to the change (a job id,
    or the job ids of a coalesced transaction, separated by spaces): the rollback
    recognises the transaction's commits by it. ``overrides`` is the inventory
    overrides file (see :mod:`nornir_esi.device.inventory`). See the module for the steps
    and for what a failure undoes; it raises a
    :class:`~nornir_esi.exceptions.PairError`.
    """
    obj = "pair transaction"
    if set(changes) != set(ROLES):
        raise ValidationError(obj, "changes", f"roles {sorted(changes)} are not primary+secondary")
    if not comment.strip():
        raise ValidationError(obj, "comment", "is empty: the rollback recognises commits by it")
    if not 1 <= confirm_minutes <= 65535:
        raise ValidationError(obj, "confirm_minutes", f"{confirm_minutes} is outside 1-65535")
    routers = {
        role: _Router(role, str(changes[role].router.get("name")), changes[role]) for role in ROLES
    }
    if routers["primary"].name == routers["secondary"].name:
        raise ValidationError(obj, "changes", f"both roles are router {routers['primary'].name}")
    nr = nornir_for([dict(changes[role].router) for role in ROLES], overrides=overrides)
    try:
        # Both routers' secrets before either is touched: one that does not resolve fails
        # the transaction with its own SecretError, and there is nothing to undo.
        for host in nr.inventory.hosts.values():
            resolve_password(host)
        return _Transaction(nr, routers, comment, verify, confirm_minutes).run(dry_run=dry_run)
    finally:
        # Also releases a lock an unlock could not: Junos ends it with the session.
        nr.close_connections()


class _Transaction:
    def __init__(
        self,
        nr: Nornir,
        routers: dict[Role, _Router],
        comment: str,
        verify: Verifier | None,
        confirm_minutes: int,
    ) -> None:
        self.nr = nr
        self.routers = routers
        self.by_name = {r.name: r for r in routers.values()}
        self.comment = comment
        for router in routers.values():
            router.logs.add(comment)
        self.verify = verify
        self.confirm_minutes = confirm_minutes

    # -- the steps -------------------------------------------------------------------------

    def run(self, *, dry_run: bool) -> PairResult:
        both = [self.routers[role] for role in ROLLOUT]
        try:
            self._step(both, "lock", self._lock)
            self._step(both, "load", self._load)
            self._step(both, "diff", self._diff)
            diffs = {r.name: r.diff for r in self.routers.values()}
            if not dry_run:
                self._step(both, "resume", self._adopt_own_trial)
            # What ends confirmed: a router with a change, or with an earlier run's trial.
            pending = [r for r in both if r.diff or r.commits]
            if dry_run or not pending:
                self._step(both, "discard", self._release)
                return PairResult(diffs, changed=any(diffs.values()), dry_run=dry_run)
            changed = [r for r in both if r.diff]
            if changed:
                self._step(changed, "commit check", self._check)
            for router in both:
                if router.diff:
                    self._step([router], "commit confirmed", self._commit_confirmed)
                if self.verify is not None:
                    self._step([router], "verify", self._verify)
            # Both verified: both confirmed at once (a failure undoes both, as any other).
            self._step(pending, "confirm", self._confirm)
        except _StepError as failed:
            rollback, clean = self._undo()
            raise PairError.of(
                failed.error, rollback, clean=clean, also=failed.also
            ) from failed.error
        for router in both:
            try:
                self._step([router], "unlock", self._unlock)
            except _StepError as failed:
                # Both are committed and confirmed: the change stands. The lock goes with
                # the session, which the caller closes next.
                log.warning("after the pair transaction: %s", failed.error)
        return PairResult(diffs, changed=any(diffs.values()))

    def _lock(self, task: Task, router: _Router) -> None:
        lock(task)
        router.locked = True

    def _load(self, task: Task, router: _Router) -> None:
        change = router.change
        load_set(task, "load", change.commands)
        if change.text.strip():
            load(task, "load text", change.text, action="merge")
        for policy in change.prune_policies:
            prune_policy(task, policy)

    def _diff(self, task: Task, router: _Router) -> None:
        router.diff = diff(task)

    def _release(self, task: Task, router: _Router) -> None:
        discard(task)
        self._unlock(task, router)

    def _unlock(self, task: Task, router: _Router) -> None:
        unlock(task)
        router.locked = False

    def _check(self, task: Task, router: _Router) -> None:
        call(task, "commit check", commit_rpc(check=True))

    def _commit_confirmed(self, task: Task, router: _Router) -> None:
        # router.before was read at "resume", under the lock held since.
        rpc = commit_rpc(comment=self.comment, confirm_minutes=self.confirm_minutes)
        self._commit(task, router, "commit confirmed", rpc)

    def _adopt_own_trial(self, task: Task, router: _Router) -> None:
        """Take over the trial commit an earlier run of this change left pending, if any.

        A run that died after ``commit confirmed`` on a router left the change there (no
        diff now) under a timer that would revert it, maybe with the other router not yet
        changed. The trial becomes this transaction's first commit on the router: it is
        confirmed with the rest, or rolled back with the rest.
        """
        history = commit_history(task, "resume")
        # A coalesced transaction's comment names all its jobs: a re-run, alone or in
        # another batch, recognises the trial of any job it carries.
        ours = set(self.comment.split())
        router.before = history[:_WINDOW]
        if not history or not history[0].confirmed:
            return
        if not ours & set(history[0].log.split()):
            # Someone else's change waits for its confirm: committing now would confirm it
            # with ours. It is confirmed or reverted within its timeout; then try again.
            raise DeviceBusyError(
                router.name,
                "resume",
                f"a trial commit of another change is pending ({history[0].log!r})",
            )
        log.warning(
            "%s: taking over the trial commit %r an earlier run left pending",
            router.name,
            history[0].log,
        )
        router.logs.add(history[0].log)
        router.before = history[1 : 1 + _WINDOW]
        router.commits = 1

    def _confirm(self, task: Task, router: _Router) -> None:
        # The confirm timer may have run out during the verifications: a plain commit would
        # then commit the reverted candidate on one router while the other kept the change.
        if self._count(router, commit_history(task, "confirm")) != router.commits:
            raise DeviceRejectedError(
                router.name,
                "confirm",
                "the confirmed commit is no longer the newest commit "
                f"(reverted after {self.confirm_minutes} min, or committed over)",
            )
        self._commit(task, router, "confirm", commit_rpc(comment=self.comment))
        router.confirmed = True

    def _commit(self, task: Task, router: _Router, step: str, rpc: Any) -> None:
        try:
            with COMMIT_SECONDS.labels(router.name, step).time():
                call(task, step, rpc)
        except DeviceError:
            if CONNECTION not in task.host.connections:
                # The session dropped: whether the commit was applied is unknown.
                router.uncertain = True
            raise
        router.commits += 1

    def _verify(self, task: Task, router: _Router) -> None:
        assert self.verify is not None
        self.verify(task, router.role)

    # -- running steps ---------------------------------------------------------------------

    def _step(
        self, routers: Sequence[_Router], step: str, fn: Callable[[Task, _Router], None]
    ) -> None:
        """Run ``fn`` on ``routers`` (in parallel); raise _StepError with the first failure."""
        errors = self._run(routers, step, fn)
        if errors:
            # Two routers at most: the first in rollout order is the failure, the other is
            # said beside it.
            raise _StepError(errors[0], errors[1] if len(errors) > 1 else None)

    def _run(
        self, routers: Sequence[_Router], step: str, fn: Callable[[Task, _Router], None]
    ) -> list[DeviceError]:
        names = {r.name for r in routers}

        def task(task: Task) -> Result:
            router = self.by_name[task.host.name]
            try:
                fn(task, router)
            except BaseException:
                if CONNECTION not in task.host.connections:
                    # Junos ended the lock, and the uncommitted changes, with the session.
                    router.locked = False
                raise
            return Result(host=task.host)

        subset = self.nr.filter(filter_func=lambda host: host.name in names)
        results = subset.run(task=task, name=step, on_failed=True)
        errors: list[DeviceError] = []
        for router in routers:  # in the order given: the rollout's
            multi = results.get(router.name)
            if multi is None or not multi.failed:
                continue
            exc = multi[0].exception
            if isinstance(exc, DeviceError):
                errors.append(exc)
            else:
                errors.append(
                    DeviceRejectedError(router.name, step, f"{type(exc).__name__}: {exc}")
                )
        # Nornir remembers failed hosts across runs; each step here decides for itself.
        self.nr.data.reset_failed_hosts()
        return errors

    # -- undoing ---------------------------------------------------------------------------

    def _count(self, router: _Router, history: list[CommitEntry]) -> int | None:
        """How many of the newest commits are this transaction's; None when not all are.

        They are if each has the transaction's comment (or an adopted trial's) and the
        commits that were newest before the transaction follow them, unchanged.
        """
        if not router.before:
            return None
        candidates = [router.commits + 1, router.commits] if router.uncertain else [router.commits]
        for n in candidates:
            if n < 0 or history[n : n + len(router.before)] != router.before:
                continue
            if all(entry.log in router.logs for entry in history[:n]):
                return n
        return None

    @staticmethod
    def _before_index(router: _Router, history: list[CommitEntry]) -> int | None:
        """Where in ``history`` the commits newest before the transaction are now."""
        if not router.before:
            return None
        width = len(router.before)
        for n in range(1, len(history) - width + 1):
            if history[n : n + width] == router.before:
                return n
        return None

    def _undo(self) -> tuple[dict[str, str], bool]:
        """Put both routers back on their configuration of before; what was done, per router."""
        rollback: dict[str, str] = {}
        clean = True
        for role in ROLLOUT:
            router = self.routers[role]
            if router.commits or router.uncertain:
                what, ok = self._roll_back(router)
            elif router.locked:
                what, ok = self._discard(router)
            else:
                what, ok = "nothing to undo (no change was committed, no lock held)", True
            rollback[router.name] = what
            clean = clean and ok
        return rollback, clean

    def _discard(self, router: _Router) -> tuple[str, bool]:
        errors = self._run([router], "discard", self._release)
        if errors:
            # Uncommitted: the change goes with the session, which is closed next.
            return f"candidate discarded when the session closes ({errors[0]})", True
        return "candidate discarded, unlocked", True

    def _roll_back(self, router: _Router) -> tuple[str, bool]:
        done: list[str] = []

        def roll_back(task: Task, router: _Router) -> None:
            if not router.locked:
                lock(task)  # a new session: the old one's lock died with it
                router.locked = True
            history = commit_history(task, "rollback")
            count = self._count(router, history)
            if count is None:
                discard(task, "rollback")
                index = self._before_index(router, history)
                # The confirm timer ran out (during a slow verification): the router put
                # its configuration of before back by itself, on top of the trial commit.
                if index is not None and not diff(task, "rollback", rollback=index):
                    self._unlock(task, router)
                    done.append(
                        f"back on its previous configuration by itself (equal to rollback "
                        f"{index}: its confirmed commit was not confirmed in time), unlocked"
                    )
                    return
                self._unlock(task, router)
                raise DeviceRejectedError(
                    router.name,
                    "rollback",
                    "the newest commits are not all this transaction's: left as they are",
                )
            if count == 0:
                done.append("nothing to undo (the commit was not applied), unlocked")
            else:
                rpc = leaf("load-configuration", rollback=str(count))
                call(task, "rollback", rpc)
                commit = commit_rpc(comment=f"rollback of {self.comment}")
                call(task, "rollback", commit)
                done.append(
                    f"rolled back to its previous configuration (rollback {count}, "
                    "committed), unlocked"
                )
            self._unlock(task, router)

        errors = self._run([router], "rollback", roll_back)
        if not errors:
            return done[0], True
        error = errors[0]
        if not router.confirmed and isinstance(error, DeviceUnavailableError):
            return (
                f"could not be rolled back now ({error}); its unconfirmed commit reverts by "
                f"itself within {self.confirm_minutes} min",
                True,
            )
        return f"NOT rolled back, may keep the change: {error}", False
