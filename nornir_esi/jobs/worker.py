"""The worker loop: claim ready jobs of its handlers, run them, finish them.

A worker holds one lease (60 s, refreshed every third of it). It claims a job with one
transaction: ``/jobs/working/<id>`` created only if absent and ``/jobs/ready/<id>`` still
there, bound to the lease, and ``ready`` removed. If the worker dies, the lease expires,
the claim vanishes and the job manager makes the job ready again, so handlers must be
idempotent.

A handler's temporary error (a router's lock held by another job, a dropped session) is
retried in place with exponential backoff and full jitter, for up to ``retry_for``
seconds (5 minutes); any other error, or a temporary one past that, fails the job.

A store error on the claim leaves its outcome unknown: the claim may have landed with its
answer lost. The worker settles such claims as soon as etcd answers again, running the
job when the claim is its own (nobody else would: the worker's lease keeps it alive).

It runs up to ``slots`` jobs at once. When a job ends, one transaction writes
``/jobs/finished/<id>`` and removes the claim (only if the claim is still this worker's),
and, for the workflow's last job, ``/state`` from the job state (which it deletes), or,
when a job with ``on_failure: fail`` failed, ``/state`` with ``<ACTION>_FAILED`` and the
reason. ``/state`` is never written over a version as new or newer. The same transaction
records the job in the audit trail (``keys.audit_job``: worker, attempts, outcome, times),
so the record names the worker whose claim held when the job ended. A store error on that
transaction is retried until it lands (or the claim is found gone): a job left claimed
under a live lease would wait forever.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nornir_esi.contract import keys
from nornir_esi.contract.records import AuditJob, Job, JobEntry, JobState, State, utc_now
from nornir_esi.exceptions import (
    ClaimLostError,
    EsiError,
    LeaseExpiredError,
    StoreError,
    TemporaryError,
    ValidationError,
)
from nornir_esi.metrics import JOB_RETRIES, JOB_SECONDS, JOBS_FINISHED
from nornir_esi.store.base import Compare, Entry, Lease, Op, Store, Txn, get_many
from nornir_esi.store.feed import Feed
from nornir_esi.store.grouped import GroupedGets, GroupedTxns

__all__ = ["Handler", "JobContext", "Worker", "terminal_state"]

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.1  # seconds before the first retry, at most; doubled each time
IDLE_RESCAN = 5.0  # seconds without a queue event before the worker looks at the queue anyway
CLAIMS_AT_ONCE = 100  # ready jobs claimed in one round trip at most
_COMPLETED = {
    "create": "CREATE_COMPLETED",
    "modify": "MODIFY_COMPLETED",
    "logical_delete": "DELETE_COMPLETED",
    "delete": "DELETE_COMPLETED",
}
_FAILED = {
    "create": "CREATE_FAILED",
    "modify": "MODIFY_FAILED",
    "logical_delete": "DELETE_FAILED",
    "delete": "DELETE_FAILED",
}


S = TypeVar("S")


@dataclass
class JobContext(Generic[S]):
    """What a handler gets: the job, the store, and the services the worker was given.

    ``services`` is whatever the composition root handed the worker, typed by the handlers
    that use it (:class:`~nornir_esi.handlers.common.Services`: ``JobContext[Services]``);
    the engine itself never looks inside.
    """

    job: Job
    store: Store
    worker_id: str
    services: S

    @property
    def params(self) -> dict[str, Any]:
        """The job's params by name."""
        return {p.param: p.value for p in self.job.params}


# A handler may return writes that must land with the job's end, in the same transaction
# as ``/jobs/finished`` and ``/state`` (the monitoring worker's ``/monitoring`` record).
Handler = Callable[[JobContext[Any]], Sequence[Op] | None]


def _planned_of(value: str) -> str:
    """The planning time in an audit record's value, ``""`` if it cannot be read."""
    try:
        return AuditJob.from_value(value).planned
    except EsiError:
        return ""


def terminal_state(job: Job) -> str:
    """``worker_state`` when ``job`` ends its workflow well: the workflow's kind decides.

    An update's last job is ``create:monitoring_worker``, but the workflow modified the
    resource: ``MODIFY_COMPLETED``. An update is a workflow with a ``modify`` job, or,
    for a type with monitoring only, one that first deleted the old version's monitoring.
    """
    # Only this workflow's jobs: a first job may also wait for other versions' jobs.
    own = [keys.parse_job_id(d) for d in job.dependency]
    actions = {
        d.action
        for d in own
        if (d.resource_type, d.resource_id, d.version)
        == (job.resource_type, job.resource_id, job.version)
    }
    if actions & {"modify", "delete"}:
        return "MODIFY_COMPLETED"
    return _COMPLETED[job.action]


class Worker:
    """Claims and runs jobs of ``handlers`` (handler name -> function)."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        slots: int = 8,
        lease_ttl: int = 60,
        worker_id: str | None = None,
        services: object = None,
        retries: int | None = None,
        retry_for: float = 300.0,
        backoff_cap: float = 5.0,
    ) -> None:
        self.store = store
        # The handlers' store: their reads, many at once, share round trips.
        self.handler_store = GroupedGets(store)
        # The slots' finishing transactions, many at once, share round trips too.
        self._finishes = GroupedTxns(store)
        self.handlers = dict(handlers)
        self.slots = slots
        self.lease_ttl = lease_ttl
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.services = services
        self._free = threading.Semaphore(slots)
        self._rescan = threading.Event()
        self._feed: Feed | None = None
        self._unsettled: set[str] = set()  # claims sent whose answer was lost
        self._lease: Lease | None = None
        self._stopping = threading.Event()
        self.retries = retries
        self.retry_for = retry_for
        self.backoff_cap = backoff_cap
        self.completed = 0

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop``; jobs already running are finished first.

        Store outages and errors do not end the loop: it waits, re-reads what is ready
        and follows the queue again (a lease that expired meanwhile is replaced).
        """
        self._stopping = stop
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_alive, args=(done,), daemon=True, name=f"{self.id} lease"
        )
        pool = ThreadPoolExecutor(self.slots, thread_name_prefix=self.id)
        try:
            while not stop.is_set():
                try:
                    if self._lease is None:
                        self._lease = self.store.lease(self.lease_ttl)
                        if not keeper.is_alive():
                            keeper.start()
                    self._follow(pool, stop)
                except LeaseExpiredError as exc:
                    # Claimed with a lease that expired before the keeper noticed: its
                    # claims are gone (ready again); new ones need a new lease.
                    log.error("worker %s: %s; taking a new lease", self.id, exc)
                    self._lease = None
                except (TemporaryError, StoreError) as exc:
                    # StoreError: a watch compacted away, a refused request... The next
                    # round re-reads what is ready.
                    delay = exc.delay if isinstance(exc, TemporaryError) else 1.0
                    log.warning("worker %s: %s; resuming in %.1f s", self.id, exc, delay)
                    stop.wait(delay)
        finally:
            pool.shutdown(wait=True)
            done.set()
            if keeper.is_alive():
                keeper.join()
            if self._lease is not None:
                try:
                    self._lease.revoke()
                except EsiError as exc:
                    log.warning("worker %s: revoking its lease failed: %s", self.id, exc)

    def _follow(self, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        revision = self.store.revision()
        self._scan(pool)
        quiet_since = time.monotonic()
        with Feed(self.store, [keys.JOBS_READY], start_revision=revision + 1) as feed:
            self._feed = feed
            while not stop.is_set():
                event = feed.get(timeout=0.5)
                if event is not None:
                    # Every job made ready meanwhile, claimed in one round trip.
                    events = [event]
                    while len(events) < CLAIMS_AT_ONCE and (more := feed.get(timeout=0)):
                        events.append(more)
                    ready = [
                        (job_id, e.value)
                        for e in events
                        if e.kind == "put" and (job_id := keys.job_id_of(e.key))
                    ]
                    self._try_claims(ready, pool)
                if event is not None:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > IDLE_RESCAN:
                    # Nothing heard for a while: look anyway. A watch that is down (its
                    # etcd member gone, reconnecting) must not leave ready jobs unclaimed.
                    quiet_since = time.monotonic()
                    self._rescan.set()
                if self._rescan.is_set():
                    self._rescan.clear()
                    self._scan(pool)

    def _keep_alive(self, done: threading.Event) -> None:
        while not done.wait(max(self.lease_ttl / 3, 0.2)):
            lease = self._lease
            if lease is None:
                continue
            try:
                if lease.refresh() <= 0:
                    # Its claims are gone (the manager makes those jobs ready again); new
                    # claims need a live lease.
                    log.error("worker %s lost its lease; taking a new one", self.id)
                    self._lease = self.store.lease(self.lease_ttl)
            except EsiError as exc:
                log.warning("worker %s: lease refresh failed: %s", self.id, exc)

    def _scan(self, pool: ThreadPoolExecutor) -> None:
        """Claim what is ready now (at start, and after a slot frees while events passed)."""
        if not self._settle(pool):
            return
        # A page at a time, each of what one round of claims takes: with thousands ready,
        # a freed slot costs one short read, not a read of every ready job.
        after, size = "", min(CLAIMS_AT_ONCE, 2 * self.slots)
        while True:
            page = self.store.get_prefix(keys.JOBS_READY, after=after, limit=size)
            ready = [(job_id, e.value) for e in page if (job_id := keys.job_id_of(e.key))]
            if not self._try_claims(ready, pool) or len(page) < size:
                return
            after = page[-1].key

    def _try_claims(self, ready: Sequence[tuple[str, str]], pool: ThreadPoolExecutor) -> bool:
        """Claim and start the jobs of ``ready`` this worker runs, as many as it has free slots for.

        ``ready`` holds ``(job id, handler)`` pairs. Each claim is its own transaction, but all of
        them go in one round trip. False when some were left for want of a slot (a rescan
        follows).
        """
        claims: list[tuple[str, Txn]] = []
        for job_id, handler in ready:
            if handler not in self.handlers:
                continue
            if not self._free.acquire(blocking=False):
                break
            claims.append((job_id, self._claim(job_id)))
        if not claims:
            return not any(handler in self.handlers for _, handler in ready)
        try:
            results = self.store.txns([txn for _, txn in claims])
        except BaseException:
            for job_id, _ in claims:
                self._free.release()
                self._unsettled.add(job_id)
            raise
        for _claimed, result in zip(claims, results, strict=True):
            if not result.succeeded or not result.gets or not result.gets[0]:
                self._free.release()
                continue
            job = JobEntry.from_value(result.gets[0][0].value).job
            audit = result.gets[1] if len(result.gets) > 1 else []
            planned = _planned_of(audit[0].value) if audit else ""
            pool.submit(self._execute, job, planned)
        wanted = sum(handler in self.handlers for _, handler in ready)
        return len(claims) == wanted

    def _claim(self, job_id: str) -> Txn:
        """The claim of ``job_id``: ``working`` created, ``ready`` gone, the job read."""
        assert self._lease is not None
        working = keys.job_working(job_id)
        ops = [
            Op.put(working, self.id, lease=self._lease.id),
            Op.delete(keys.job_ready(job_id)),
            Op.get(keys.job_all(job_id)),
        ]
        # The job's audit record too (when it was planned), in the same round trip.
        with contextlib.suppress(ValidationError):
            ops.append(Op.get(keys.audit_job(job_id)))
        return Txn([Compare.absent(working), Compare.present(keys.job_ready(job_id))], ops)

    def _settle(self, pool: ThreadPoolExecutor) -> bool:
        """Run the jobs whose claim landed though its answer was lost.

        False while one of them waits for a free slot.
        """
        for job_id in sorted(self._unsettled):
            claim = self.store.get(keys.job_working(job_id))
            entry = self.store.get(keys.job_all(job_id)) if claim is not None else None
            if claim is None or claim.value != self.id or entry is None:
                self._unsettled.discard(job_id)  # not ours: it stays ready, or another's
                continue
            if not self._free.acquire(blocking=False):
                return False
            self._unsettled.discard(job_id)
            log.info("%s: its claim of %s landed after all; running it", self.id, job_id)
            pool.submit(self._execute, JobEntry.from_value(entry.value).job)
        return True

    def _run_handler(self, job: Job) -> tuple[Sequence[Op], str, int]:
        """Run the job's handler; retry temporary errors with backoff; (writes, error, tries).

        Temporary errors (a router's lock held by another job, a dropped session, etcd
        unavailable) are retried until ``retry_for`` seconds have passed (and at most
        ``retries`` times when set): under a burst, jobs on one router pair wait for each
        other's locks, which is no reason to fail.
        """
        context = JobContext(job, self.handler_store, self.id, self.services)
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            attempt += 1
            try:
                log.info("%s runs %s (try %d)", self.id, job.id, attempt)
                return self.handlers[job.handler](context) or (), "", attempt
            except TemporaryError as exc:
                out_of_tries = self.retries is not None and attempt > self.retries
                if out_of_tries or time.monotonic() >= deadline or self._stopping.is_set():
                    return (), f"{exc} (gave up after {attempt} tries)", attempt
                self._count_attempt(job)
                JOB_RETRIES.labels(job.handler).inc()
                # Full jitter: workers that collided (on a router's lock) spread out.
                ceiling = min(self.backoff_cap, exc.delay, BACKOFF_BASE * 2 ** (attempt - 1))
                delay = random.uniform(0, ceiling)
                log.info("%s: %s: %s; trying again in %.2f s", self.id, job.id, exc, delay)
                self._stopping.wait(delay)
            except Exception as exc:  # every failure ends the job with a reason, never a hang
                reason = str(exc) if isinstance(exc, EsiError) else f"{type(exc).__name__}: {exc}"
                return (), reason, attempt

    def _count_attempt(self, job: Job) -> None:
        """Raise the attempt count, the third element of ``/jobs/all/<id>``."""
        key = keys.job_all(job.id)
        try:
            entry = self.store.get(key)
            if entry is None:
                return
            current = JobEntry.from_value(entry.value)
            counted = JobEntry(current.handler, current.job, current.attempts + 1)
            self.store.txn(
                [Compare.unchanged_since(key, entry.mod_revision)], [Op.put(key, counted.to_json())]
            )
        except EsiError as exc:  # the count is for people; the retry matters more
            log.warning("%s: counting an attempt of %s failed: %s", self.id, job.id, exc)

    def _execute(self, job: Job, planned: str | None = None) -> None:
        """Run ``job`` and finish it; ``planned``: when it was planned, if the claim read it."""
        planned, started = self._planned(job) if planned is None else planned, utc_now()
        with JOB_SECONDS.labels(job.handler).time():
            extra, error, attempts = self._run_handler(job)
        JOBS_FINISHED.labels(job.handler, job.action, "failed" if error else "completed").inc()
        if error:
            log.warning("%s: %s failed: %s", self.id, job.id, error)
        try:
            audit = self._audit(job, error, attempts, started, planned)
            self._finish_until_landed(job, error, extra, audit)
        except Exception:
            log.exception(
                "%s: finishing %s failed; the lease will expire and it is retried", self.id, job.id
            )
        finally:
            self.completed += 1
            self._free.release()
            self._rescan.set()
            # A slot is free: look at the ready queue now, not at the next event.
            feed = self._feed
            if feed is not None:
                feed.wake()

    def _planned(self, job: Job) -> str:
        """When the manager planned ``job`` (its audit record), ``""`` if unknown."""
        try:
            entry = self.store.get(keys.audit_job(job.id))
            return "" if entry is None else AuditJob.from_value(entry.value).planned
        except EsiError as exc:  # the time is a nicety: the job runs without it
            log.warning("%s: %s: planning time not read: %s", self.id, job.id, exc)
            return ""

    def _audit(self, job: Job, error: str, attempts: int, started: str, planned: str) -> Op | None:
        """The audit record's write; None (said in the log) if the job id is no key."""
        record = AuditJob(
            handler=job.handler,
            action=job.action,
            worker=self.id,
            attempts=attempts,
            outcome="failed" if error else "finished",
            error=error,
            started=started,
            ended=utc_now(),
            planned=planned,
        )
        try:
            return Op.put(keys.audit_job(job.id), record.to_json())
        except ValidationError as exc:  # a job must end even when its trail cannot be kept
            log.warning("%s: %s: no audit record: %s", self.id, job.id, exc)
            return None

    def _finish_until_landed(
        self, job: Job, error: str, extra: Sequence[Op], audit: Op | None = None
    ) -> None:
        """:meth:`_finish`, again after store errors, until it lands or the worker stops.

        A retry after a lost answer may find the claim gone because the first try landed:
        that is the end of the job, not an error.
        """
        delay = BACKOFF_BASE
        unsure = False
        while True:
            try:
                self._finish(job, error, extra, audit)
                return
            except TemporaryError as exc:
                if self._stopping.is_set():
                    raise
                log.warning("%s: finishing %s: %s; trying again", self.id, job.id, exc)
                unsure = True
            except ClaimLostError:
                if not unsure:
                    raise
                log.info("%s: %s: finished by the try whose answer was lost", self.id, job.id)
                return
            self._stopping.wait(random.uniform(0, delay))
            delay = min(delay * 2, self.backoff_cap)

    def _finish(
        self, job: Job, error: str, extra: Sequence[Op] = (), audit: Op | None = None
    ) -> None:
        working = keys.job_working(job.id)
        compare = [Compare.value_is(working, self.id)]
        ops = [Op.put(keys.job_finished(job.id), ""), Op.delete(working)]
        if audit is not None:
            ops.append(audit)
        if not error:
            ops += extra
        state_key = keys.state(job.resource_type, job.resource_id)
        job_state_key = keys.job_state(job.resource_type, job.resource_id)
        if error and job.on_failure == "fail":
            state = State(worker_state=_FAILED[job.action], version=job.version, error=error)
            compare, ops = self._with_state(
                compare, ops, state_key, self.store.get(state_key), state, job.version
            )
            ops.append(Op.delete(job_state_key))
        elif job.is_last and not error:
            job_state_entry, state_entry = get_many(self.store, [job_state_key, state_key])
            job_state = (
                JobState()
                if job_state_entry is None
                else JobState.from_value(job_state_entry.value)
            )
            state = State.from_job_state(terminal_state(job), job.version, job_state)
            compare, ops = self._with_state(
                compare, ops, state_key, state_entry, state, job.version
            )
            if job_state_entry is not None:
                compare.append(Compare.unchanged_since(job_state_key, job_state_entry.mod_revision))
                ops.append(Op.delete(job_state_key))
        if not self._finishes.txn(compare, ops).succeeded:
            raise ClaimLostError(
                f"job {job.id}: the claim or the job state changed under the worker"
            )

    @staticmethod
    def _with_state(
        compare: list[Compare],
        ops: list[Op],
        key: str,
        current: Entry | None,
        state: State,
        version: int,
    ) -> tuple[list[Compare], list[Op]]:
        """``state`` written at ``key`` unless ``current`` (as read) is as new or newer."""
        if current is not None and State.from_value(current.value).version >= version:
            return compare, ops  # a newer version's state stays
        guard = (
            Compare.absent(key)
            if current is None
            else Compare.unchanged_since(key, current.mod_revision)
        )
        return [*compare, guard], [*ops, Op.put(key, state.to_json())]
