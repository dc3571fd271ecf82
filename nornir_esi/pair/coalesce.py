"""Commit coalescing: the changes waiting for the same router pair go in one transaction.

A real router commits in seconds, and one pair transaction commits four times (``commit
confirmed`` and the confirming commit on each router). One gateway per transaction caps a
pair at a gateway every few seconds; here the changes that wait for the same pair at the
same moment share one: one lock, one load, one ``commit check`` and one confirmed commit
per router for all of them (:func:`nornir_esi.pair.transaction.apply_pair`, as before).

Group commit: per pair, one transaction runs at a time. A change that arrives while it
runs waits in the pair's queue; the next transaction takes every waiting change (at most
``max_batch``). Nothing waits for company: a change for an idle pair starts at once.

Each change keeps its own outcome:

- the transaction went through: each change gets its result (``batched`` says how many
  it carried; the diffs are theirs together);
- the routers' configuration is locked by another session (another worker process on the
  same pair, a person): the transaction is tried again when the lock may be free, after
  a short growing wait, for up to ``busy_for`` seconds, then each change gets the error;
  the changes that arrive meanwhile join it;
- it failed in a way a retry may fix (a router unreachable, a session dropped): each
  change gets the error, and its job retries;
- a router refused it (``commit check``, verification) and both routers were put back:
  the batch is split in halves and each half tried on its own, down to single changes,
  so a bad change gets its own error while the others commit;
- a router may keep the change (not undone cleanly): each change gets the error and
  nothing more is tried; a person has to look.

Two changes to the same ``subject`` (one gateway) never share a transaction: the later
waits for the next. The comment of a transaction is its changes' comments (job ids)
joined by spaces, so a job's commits are still found by its id (``nornir_esi.doors.audit``), and
a job re-run after a crash still recognises its own trial commit (``pair``).

Across processes: with ``turn`` (the workers': :class:`~nornir_esi.store.mutex.EtcdMutex`
on ``keys.pair_queue``), a transaction first waits for the pair's turn, in the order the
processes asked, and takes its changes when the turn comes: the changes of a process queue
up meanwhile. Without it, processes meet at the routers' configuration lock (above).

The thread whose change finds the pair idle runs the transaction; after it, the oldest
waiting change's thread runs the next one, so no thread works on others' changes once its
own are done, and a pair with nothing queued has no thread at all.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

from nornir_esi.exceptions import DeviceBusyError, PairError, PermanentError
from nornir_esi.pair.change import ROLES, Change, PairResult, Verifier, combine

__all__ = ["DEFAULT_BATCH", "Apply", "Coalescer", "merge"]

# The most changes one pair transaction carries by default (commit coalescing; --batch).
# It bounds one commit's size. It was 50: a burst of 100 gateways on a pair, split between
# two worker processes (about 50 each, give or take a few), then left a few of them to one
# more transaction of their own (three commits) about every other time. 1,000 gateways on
# 10 pairs took 24 s at 50, 21 s at 64 (bench.perf, four runs each).
DEFAULT_BATCH = 64


log = logging.getLogger(__name__)

# apply(changes, comment=..., verify=...): one pair transaction (apply_pair, bound).
Apply = Callable[..., PairResult]


@dataclass(eq=False)
class _Request:
    changes: Mapping[str, Change]
    comment: str
    verify: Verifier | None
    subject: Hashable
    woken: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    done: bool = False
    result: PairResult | None = None
    error: BaseException | None = None


def merge(changes: Sequence[Mapping[str, Change]]) -> dict[str, Change]:
    """Per role, one change that loads all of ``changes`` (same routers), in order.

    Their set commands, then their texts, then the policies any of them prunes: a policy is
    pruned only when no term is left in it, so after everything is loaded.
    """
    out: dict[str, Change] = {}
    for role in ROLES:
        parts = [c[role] for c in changes]
        prune: dict[str, None] = {}
        for part in parts:
            prune.update(dict.fromkeys(part.prune_policies))
        out[role] = Change(
            router=parts[0].router,
            commands="".join(
                p.commands if p.commands.endswith("\n") else p.commands + "\n"
                for p in parts
                if p.commands.strip()
            ),
            text="\n".join(p.text for p in parts if p.text.strip()),
            prune_policies=tuple(prune),
        )
    return out


class Coalescer:
    """Runs pair transactions, one per pair at a time, each with every change that waited for it.

    See the module. ``apply`` runs one transaction.
    """

    def __init__(
        self,
        apply: Apply,
        *,
        max_batch: int = DEFAULT_BATCH,
        busy_for: float = 15.0,
        turn: Callable[[Hashable], AbstractContextManager[object]] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch {max_batch} must be at least 1")
        self.apply = apply
        self.turn = turn
        self.max_batch = max_batch
        self.busy_for = busy_for
        self._guard = threading.Lock()
        # Per pair: the changes waiting for a transaction; a pair is running while a
        # thread runs its transaction (no running pair has waiting changes unattended).
        self._queues: dict[Hashable, deque[_Request]] = {}
        self._running: set[Hashable] = set()
        self.transactions = 0  # tries of transactions, for the benchmark and the tests

    def submit(
        self,
        key: Hashable,
        changes: Mapping[str, Change],
        *,
        comment: str,
        verify: Verifier | None = None,
        subject: Hashable = None,
    ) -> PairResult:
        """Apply ``changes`` to the pair ``key`` in the next transaction it fits in.

        Returns its result, or raises its error (a PairError, as ``apply_pair`` raises).
        """
        request = _Request(changes, comment, verify, object() if subject is None else subject)
        with self._guard:
            self._queues.setdefault(key, deque()).append(request)
            if key not in self._running:
                self._running.add(key)
                request.lead = True
        while not request.done:
            if request.lead:
                request.lead = False
                self._run_next(key)
            else:
                request.woken.wait()
                request.woken.clear()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def waiting(self) -> int:
        """How many changes wait for a transaction, on every pair, not counting those in one."""
        with self._guard:
            return sum(len(queue) for queue in self._queues.values())

    def _run_next(self, key: Hashable) -> None:
        """Run the pair's next transaction, then hand the pair to the oldest waiting change.

        With no change waiting, the pair is left idle.
        """
        try:
            with contextlib.ExitStack() as stack:
                try:
                    if self.turn is not None:
                        stack.enter_context(self.turn(key))
                except BaseException as exc:  # no turn (etcd down): the changes' jobs retry
                    with self._guard:
                        batch = self._take(key)
                    self._finish(batch, error=exc)
                    return
                # Taken once the pair's turn came: what arrived meanwhile goes too.
                with self._guard:
                    batch = self._take(key)
                self._settle(key, batch)
        finally:
            with self._guard:
                queue = self._queues.get(key)
                if queue:
                    queue[0].lead = True
                    queue[0].woken.set()
                else:
                    self._queues.pop(key, None)
                    self._running.discard(key)

    def _take(
        self, key: Hashable, room: int | None = None, subjects: set[Hashable] | None = None
    ) -> list[_Request]:
        """The oldest waiting changes, at most ``room`` (``max_batch``).

        They hold one change per subject, and none of ``subjects``.
        """
        queue = self._queues[key]
        room = self.max_batch if room is None else room
        taken = set() if subjects is None else set(subjects)
        batch: list[_Request] = []
        later: list[_Request] = []
        while queue and len(batch) < room:
            request = queue.popleft()
            if request.subject in taken:
                later.append(request)
            else:
                taken.add(request.subject)
                batch.append(request)
        queue.extendleft(reversed(later))
        return batch

    def _settle(self, key: Hashable, batch: list[_Request]) -> None:
        """Give every change of ``batch`` its outcome, splitting what a router refused."""
        parts = [batch]
        whole = True
        while parts:
            part = parts.pop(0)
            try:
                result = self._transaction(part, key if whole else None)
            except PairError as exc:
                if isinstance(exc, PermanentError) and exc.clean and len(part) > 1:
                    half = len(part) // 2
                    log.info(
                        "a transaction of %d changes was refused (%s); trying %d and %d apart",
                        len(part),
                        exc,
                        half,
                        len(part) - half,
                    )
                    parts[:0] = [part[:half], part[half:]]
                    whole = False
                    continue
                self._finish(part, error=exc)
            except BaseException as exc:  # every change gets an outcome, never a hang
                self._finish(part, error=exc)
            else:
                self._finish(part, result=result)

    def _transaction(self, part: list[_Request], key: Hashable = None) -> PairResult:
        """One transaction of ``part``, tried again while another session locks the routers.

        It is tried for up to ``busy_for`` seconds. Meanwhile ``part`` takes in the changes that
        arrive for the pair ``key`` (when given; not for the halves of a refused batch, which must
        stay as they are).
        """
        deadline = time.monotonic() + self.busy_for
        wait = 0.05
        while True:
            changes = part[0].changes if len(part) == 1 else merge([r.changes for r in part])
            comment = " ".join(r.comment for r in part)
            with self._guard:
                self.transactions += 1
            began = time.monotonic()
            try:
                result = self.apply(
                    changes, comment=comment, verify=combine([r.verify for r in part])
                )
                log.info(
                    "pair %s: a transaction of %d change(s) in %.2f s",
                    "/".join(str(changes[role].router.get("name")) for role in ROLES),
                    len(part),
                    time.monotonic() - began,
                )
                return replace(result, batched=len(part))
            except PairError as exc:
                if not isinstance(exc.cause, DeviceBusyError) or time.monotonic() >= deadline:
                    raise
                log.info("%s; the transaction of %d changes waits for it", exc.cause, len(part))
            # Jittered: two processes waiting for the same pair do not retry in step.
            time.sleep(random.uniform(wait / 2, wait))
            wait = min(wait * 2, 1.0)
            if key is not None and len(part) < self.max_batch:
                with self._guard:
                    part += self._take(key, self.max_batch - len(part), {r.subject for r in part})

    @staticmethod
    def _finish(
        part: list[_Request],
        *,
        result: PairResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        for request in part:
            request.result, request.error, request.done = result, error, True
            request.woken.set()
