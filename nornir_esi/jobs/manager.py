"""The job manager: plans workflows from ``/config``, releases and collects jobs.

Exactly one manager is active. Managers campaign for ``/job_manager_id`` with a
create-if-absent transaction bound to a lease (65 s, refreshed every third of it); the
others wait for the key to vanish and try again, so a dead leader is replaced within one
lease period.

While leading, a manager first reconciles from the store (so nothing depends on events
seen by a previous leader), then follows three watches from the revision it read at:

- ``/config/...``: a version newer than its cache (``/esi-worker/config/...``) is planned
  (``planner.plan``) and written in ONE transaction: the cache, every job's ``/jobs/all``
  entry and ``ready``/``waiting`` key, and the job state; a non-workable resource gets its
  ``/state`` instead, and so does a version whose jobs cannot be built (``*_FAILED``).
  The transaction compares the config's and the cache's revisions, so a version is
  planned at most once whatever the manager sees twice;
- ``/jobs/finished/...``: the job is collected (``all`` and ``finished`` removed) and its
  dependents with no other unfinished dependency move from ``waiting`` to ``ready``, in
  one transaction; if it failed its workflow (``on_failure: fail``, the worker wrote a
  ``*_FAILED`` state), its dependents are cancelled instead;
- ``/jobs/working/...`` deletions: a claim that vanished without ``finished`` (its
  worker's lease expired) makes the job ready again, with its attempt count raised.

An error in handling one key is logged and the manager goes on; a store that does not
answer ends the term (what was not handled is not dropped: the next term reconciles).
The reconcile plans, from etcd's history, the versions no manager saw (written while none
led), so each version gets its workflow and its terminal state in order; and it removes
the keys of a resource whose delete completed while the last manager stopped before
removing them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_esi.contract import keys, pools
from nornir_esi.contract.records import (
    AuditJob,
    ConfigRecord,
    HeatTemplate,
    Job,
    JobEntry,
    JobState,
    State,
    WorkerCache,
    utc_now,
)
from nornir_esi.contract.resources import RESOURCE_TYPES, dependency_order
from nornir_esi.exceptions import (
    EsiError,
    PermanentError,
    StoreCompactedError,
    StoreError,
    StoreUnavailableError,
    TemporaryError,
)
from nornir_esi.jobs.planner import Plan, plan, unplannable
from nornir_esi.store.base import (
    Compare,
    Entry,
    Event,
    Lease,
    Op,
    Store,
    Txn,
    TxnResult,
    get_many,
)
from nornir_esi.store.feed import Feed

__all__ = ["JobManager"]

log = logging.getLogger(__name__)


_TYPE_ORDER = {name: n for n, name in enumerate(dependency_order())}
_MOST_EVENTS = 2000  # events handled in one batch at most


def _planning_order(item: Entry | Event) -> tuple[int, int, str]:
    """Revision first; within it, referenced types before referring ones (deletes reversed)."""
    parsed = keys.parse_config_key(item.key)
    if parsed is None:
        return (item.mod_revision, -len(_TYPE_ORDER) - 1, item.key)
    rank = _TYPE_ORDER.get(parsed[0], 0)
    try:
        deleting = ConfigRecord.from_value(item.value).marked_for_deletion
    except EsiError:
        deleting = False  # a broken record is reported when it is planned
    return (item.mod_revision, -rank if deleting else rank, item.key)


def _references(resource_type: str, body: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``(type, id)`` of every resource ``body`` references."""
    out: set[tuple[str, str]] = set()
    for field, target in RESOURCE_TYPES[resource_type].relations.items():
        value = body.get(field)
        ids = value if isinstance(value, list) else [value]
        out.update((target, i) for i in ids if isinstance(i, str) and i)
    return out


# How often removing a deleted public IP is tried while its pool changes under it.
_FORGET_ATTEMPTS = 10

# Orders the references do not give: a static route's next hop resolves over its gateway's
# gw_interface (its address on the segment), so a route waits for that gw_interface's
# router change in flight (its heat job: the address is committed and verified there; its
# monitoring job, which may wait for a VRRP preempt hold-time, is not needed for that), and
# a gw_interface's delete for every job of its gateway's routes.
_FAMILY_ORDER = {("static_route", False): "gw_interface", ("gw_interface", True): "static_route"}


def _family_order(flight: _Flight, resource_type: str, record: ConfigRecord) -> list[str]:
    """Ids of the jobs in flight the workflow of ``record`` must wait for, beyond references."""
    other = _FAMILY_ORDER.get((resource_type, record.marked_for_deletion))
    gateway = record.body.get("internet_gw_id")
    if other is None or not gateway:
        return []
    return [
        job.id
        for job in flight.jobs.values()
        if job.resource_type == other
        and job.resource_input.get("internet_gw_id") == gateway
        and (record.marked_for_deletion or job.handler == "heat_worker")
    ]


def _job_id(key: str) -> str:
    job_id = keys.job_id_of(key)
    if job_id is None:
        raise EsiError(f"{key} is not a job key")
    return job_id


def _compare_unchanged(key: str, entry: Entry | None) -> Compare:
    return (
        Compare.absent(key) if entry is None else Compare.unchanged_since(key, entry.mod_revision)
    )


@dataclass(frozen=True)
class _Planned:
    """A version's workflow, ready to be written in ``txn``."""

    resource_type: str
    resource_id: str
    record: ConfigRecord
    workflow: Plan
    after: list[str]
    txn: Txn


@dataclass(frozen=True)
class _Collected:
    """A finished job's collection, ready to be written in ``txn``.

    It holds the jobs it removes (``gone``), those it makes ready (``released``), and every
    job it depends on the index for (``touched``).
    """

    job: Job
    state: State | None
    gone: set[str]
    released: list[str]
    touched: set[str]
    txn: Txn


def _rounds(
    versions: Sequence[tuple[str, str, Entry]],
) -> Iterator[list[tuple[str, str, Entry]]]:
    """``versions`` in order, cut into rounds where one would wait for an earlier one's jobs.

    A version waits for the jobs of an earlier one in the same round when both are of the same
    resource, or of a resource it references or that references it, or when the family's
    order makes it (:data:`_FAMILY_ORDER`: a static route after its gateway's gw_interface).
    """
    group: list[tuple[str, str, Entry]] = []
    members: set[tuple[str, str]] = set()
    referenced: set[tuple[str, str]] = set()
    # (type, internet_gw_id) of the round's family members.
    family: set[tuple[str, str]] = set()
    for resource_type, resource_id, entry in versions:
        resource = (resource_type, resource_id)
        kin: tuple[str, str] | None = None
        needs: tuple[str, str] | None = None
        try:
            record = ConfigRecord.from_value(entry.value)
            refs = _references(resource_type, record.body)
            gateway = record.body.get("internet_gw_id")
            if isinstance(gateway, str) and gateway:
                kin = (resource_type, gateway)
                other = _FAMILY_ORDER.get((resource_type, record.marked_for_deletion))
                needs = None if other is None else (other, gateway)
        except EsiError:
            refs = set()  # a broken record: refused when it is planned, alone
        if group and (
            resource in members or resource in referenced or refs & members or needs in family
        ):
            yield group
            group, members, referenced, family = [], set(), set(), set()
        group.append((resource_type, resource_id, entry))
        members.add(resource)
        referenced |= refs
        if kin is not None:
            family.add(kin)
    if group:
        yield group


class _Flight:
    """The jobs in flight (``/jobs/all``) and which of them wait, indexed.

    The index serves planning and collecting without reading every job each time.

    Only the leading manager adds and removes jobs (``plan_version``, ``collect``), so
    after :meth:`load` at the start of a term it keeps the index itself, from its own
    transactions that landed. Workers change a job's value (its attempt count), never
    which jobs there are.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.waiting: set[str] = set()
        self._of_resource: dict[tuple[str, str], set[str]] = {}
        self._referencing: dict[tuple[str, str], set[str]] = {}
        self._dependents: dict[str, set[str]] = {}

    def load(self, store: Store) -> None:
        """Read the jobs in flight and the waiting ones from the store, anew."""
        for index in (self.jobs, self.waiting, self._of_resource, self._referencing):
            index.clear()
        self._dependents.clear()
        waiting = {_job_id(e.key) for e in store.get_prefix(keys.JOBS_WAITING)}
        for entry in store.get_prefix(keys.JOBS_ALL):
            job_id = _job_id(entry.key)
            self.add(JobEntry.from_value(entry.value).job, waiting=job_id in waiting)

    def add(self, job: Job, *, waiting: bool) -> None:
        self.jobs[job.id] = job
        if waiting:
            self.waiting.add(job.id)
        self._of_resource.setdefault((job.resource_type, job.resource_id), set()).add(job.id)
        for ref in _references(job.resource_type, job.resource_input):
            self._referencing.setdefault(ref, set()).add(job.id)
        for dependency in job.dependency:
            self._dependents.setdefault(dependency, set()).add(job.id)

    def remove(self, job_id: str) -> None:
        job = self.jobs.pop(job_id, None)
        self.waiting.discard(job_id)
        if job is None:
            return
        _discard(self._of_resource, (job.resource_type, job.resource_id), job_id)
        for ref in _references(job.resource_type, job.resource_input):
            _discard(self._referencing, ref, job_id)
        for dependency in job.dependency:
            _discard(self._dependents, dependency, job_id)

    def of_resource(self, resource: tuple[str, str]) -> list[Job]:
        return [self.jobs[i] for i in sorted(self._of_resource.get(resource, ()))]

    def referencing(self, resource: tuple[str, str]) -> list[str]:
        """Ids of the jobs whose resource references ``resource``."""
        return sorted(self._referencing.get(resource, ()))

    def waiting_on(self, job_id: str) -> list[str]:
        """Ids of the waiting jobs that depend on ``job_id``."""
        return sorted(i for i in self._dependents.get(job_id, ()) if i in self.waiting)


def _discard(index: dict[Any, set[str]], key: Any, job_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(job_id)
        if not ids:
            del index[key]


class JobManager:
    """Plans, releases and collects jobs while it holds ``/job_manager_id``."""

    def __init__(self, store: Store, *, manager_id: str | None = None, lease_ttl: int = 65):
        self.store = store
        self.id = manager_id or f"manager-{uuid.uuid4().hex[:12]}"
        self.lease_ttl = lease_ttl
        self.leading = threading.Event()
        self._templates: dict[str, HeatTemplate] = {}
        self._flight = _Flight()
        # The /config bodies as this manager last saw them: its reconcile's read, then each
        # event it handled (a record that does not parse: its error). Planning looks the
        # resources a version references up here, not in etcd.
        self._bodies: dict[tuple[str, str], dict[str, Any] | EsiError] = {}
        self._bodies_loaded = False

    # -- leadership ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Campaign, lead while elected, campaign again on losing the lease; until ``stop``.

        A store outage ends the term or the campaign, not the manager: it waits and
        campaigns again (and reconciles from etcd if elected).
        """
        while not stop.is_set():
            try:
                self._term(stop)
            except (TemporaryError, StoreError) as exc:
                # StoreError: a lease that expired under it, a watch compacted away... The
                # next term reconciles from the store.
                delay = exc.delay if isinstance(exc, TemporaryError) else 1.0
                log.warning("job manager %s: %s; campaigning again in %.1f s", self.id, exc, delay)
                stop.wait(delay)

    def _term(self, stop: threading.Event) -> None:
        """One campaign and, if elected, one term of leadership."""
        lease = self._campaign(stop)
        if lease is None:
            return
        lost = threading.Event()
        keeper = threading.Thread(
            target=self._keep_alive, args=(lease, lost, stop), name="manager lease", daemon=True
        )
        keeper.start()
        self.leading.set()
        log.info("job manager %s leads", self.id)
        try:
            self._lead(stop, lost)
        finally:
            self.leading.clear()
            lost.set()
            keeper.join()
            self._resign(lease)

    def _campaign(self, stop: threading.Event) -> Lease | None:
        while not stop.is_set():
            lease = self.store.lease(self.lease_ttl)
            result = self.store.txn(
                [Compare.absent(keys.JOB_MANAGER_ID)],
                [Op.put(keys.JOB_MANAGER_ID, self.id, lease=lease.id)],
            )
            if result.succeeded:
                return lease
            lease.revoke()
            # Our own key from a term that ended on an outage: give it up now rather than
            # wait for its old lease to expire.
            if self.store.txn(
                [Compare.value_is(keys.JOB_MANAGER_ID, self.id)], [Op.delete(keys.JOB_MANAGER_ID)]
            ).succeeded:
                continue
            # Wait for the leader's key to go (its lease expired or it resigned).
            with Feed(
                self.store, [keys.JOB_MANAGER_ID], start_revision=result.revision + 1
            ) as feed:
                while not stop.is_set():
                    event = feed.get(timeout=0.5)
                    if event is not None and event.kind == "delete":
                        break
                    if event is None and self.store.get(keys.JOB_MANAGER_ID) is None:
                        break
        return None

    def _keep_alive(self, lease: Lease, lost: threading.Event, stop: threading.Event) -> None:
        interval = max(self.lease_ttl / 3, 0.2)
        while not lost.wait(interval):
            try:
                if lease.refresh() <= 0:
                    log.warning("job manager %s lost its lease", self.id)
                    lost.set()
            except EsiError as exc:
                log.warning("job manager %s: lease refresh failed: %s", self.id, exc)

    def _resign(self, lease: Lease) -> None:
        try:
            self.store.txn(
                [Compare.value_is(keys.JOB_MANAGER_ID, self.id)], [Op.delete(keys.JOB_MANAGER_ID)]
            )
            lease.revoke()
        except EsiError as exc:
            log.warning("job manager %s: resigning failed: %s", self.id, exc)

    # -- leading ---------------------------------------------------------------------------

    def _lead(self, stop: threading.Event, lost: threading.Event) -> None:
        revision = self.store.revision()
        self.reconcile()
        prefixes = [keys.CONFIG_PREFIX, keys.JOBS_FINISHED, keys.JOBS_WORKING]
        with Feed(self.store, prefixes, start_revision=revision + 1) as feed:
            while not stop.is_set() and not lost.is_set():
                event = feed.get(timeout=0.5)
                if event is None:
                    continue
                # What has arrived, in revision order; a batch written in one transaction
                # (one revision) in dependency order, so a gateway waits for the HA
                # interface it uses.
                batch = [event]
                while len(batch) < _MOST_EVENTS and (more := feed.get(timeout=0)) is not None:
                    batch.append(more)
                self._dispatch_all(sorted(batch, key=_planning_order))

    def reconcile(self) -> None:
        """Catch up from the store alone: plan new versions, collect, re-ready orphans."""
        self._load_templates()
        self._flight.load(self.store)
        configs = sorted(self.store.get_prefix(keys.CONFIG_PREFIX), key=_planning_order)
        self._bodies = {}
        for entry in configs:
            self._seen(entry.key, entry)
        self._bodies_loaded = True
        for entry in configs:
            with self._guard(entry.key):
                self._catch_up(entry)
                self._on_config(entry.key, entry)
        for entry in self.store.get_prefix(keys.JOBS_FINISHED):
            with self._guard(entry.key):
                self.collect(_job_id(entry.key))
        for entry in self.store.get_prefix(keys.JOBS_ALL):
            with self._guard(entry.key):
                self._ready_again(_job_id(entry.key))
        for entry in configs:
            with self._guard(entry.key):
                self._finish_delete(entry)

    def _catch_up(self, entry: Entry) -> None:
        """Plan the versions older than ``entry``'s that no manager saw, from etcd's history.

        Those were written while none led, or in a handover. Each version gets its workflow and
        its terminal state, in order, as when they are seen live.
        """
        parsed = keys.parse_config_key(entry.key)
        if parsed is None or entry.key.startswith(keys.HEAT_TEMPLATES_PREFIX):
            return
        current = ConfigRecord.from_value(entry.value).version
        cache_entry = self.store.get(keys.worker_config(*parsed))
        planned = 0 if cache_entry is None else WorkerCache.from_value(cache_entry.value).version
        if current <= planned + 1:
            return
        for old in self._history(entry):
            with self._guard(old.key):
                if planned < ConfigRecord.from_value(old.value).version < current:
                    self.plan_version(*parsed, old)

    def _history(self, entry: Entry) -> list[Entry]:
        """The values ``entry``'s key had before ``entry``, oldest first.

        As far back as etcd keeps them: a compacted history loses the oldest, which the log says.
        """
        start = entry.create_revision
        while True:
            found: list[Entry] = []
            try:
                with Feed(self.store, [entry.key], start_revision=start) as feed:
                    while True:
                        event = feed.get(timeout=10)
                        if event is None:
                            raise StoreUnavailableError(f"etcd: the history of {entry.key} stalled")
                        if event.mod_revision >= entry.mod_revision:
                            return found
                        if event.key == entry.key and event.kind == "put":
                            found.append(Entry(event.key, event.value, event.mod_revision, 0, 0))
            except StoreCompactedError as exc:
                log.warning(
                    "job manager: %s: versions before revision %d are compacted away: not planned",
                    entry.key,
                    exc.compact_revision,
                )
                start = exc.compact_revision

    @contextlib.contextmanager
    def _guard(self, key: str) -> Iterator[None]:
        """An error in handling ``key`` is logged, not the end of the term.

        A store that did not answer is the exception: what was not handled must not be
        dropped, so the term ends and the next one starts with a reconcile.
        """
        try:
            yield
        except TemporaryError:
            raise
        except EsiError as exc:
            log.error("job manager: %s: %s", key, exc)

    def _finish_delete(self, entry: Entry) -> None:
        """Remove the keys of a resource whose delete completed but whose keys were not removed.

        That happens when the manager stopped in between.
        """
        parsed = keys.parse_config_key(entry.key)
        if parsed is None or entry.key.startswith(keys.HEAT_TEMPLATES_PREFIX):
            return
        record = ConfigRecord.from_value(entry.value)
        if not record.marked_for_deletion or self._flight.of_resource(parsed):
            return
        state_entry = self.store.get(keys.state(*parsed))
        if state_entry is None:
            return
        state = State.from_value(state_entry.value)
        if state.version == record.version and state.worker_state == "DELETE_COMPLETED":
            self._forget(*parsed, record.version)

    def _dispatch_all(self, events: Sequence[Event]) -> None:
        """Handle ``events`` in order.

        Consecutive config versions are planned together, consecutive finished jobs collected
        together.
        """
        finished = {
            job_id
            for e in events
            if e.kind == "put"
            and e.key.startswith(keys.JOBS_FINISHED)
            and (job_id := keys.job_id_of(e.key))
        }
        versions: list[tuple[str, str, Entry]] = []
        done: list[str] = []
        for event in events:
            self._seen(event.key, event)
            parsed = keys.parse_config_key(event.key)
            job_id = keys.job_id_of(event.key)
            if event.kind == "put" and parsed is not None:  # not a template's
                # The version this event wrote, even if newer ones followed: each version
                # gets its workflow and its terminal state, in order.
                self._collect_now(done)
                versions.append((*parsed, Entry(event.key, event.value, event.mod_revision, 0, 0)))
                continue
            self.plan_versions(versions)
            versions = []
            if event.kind == "put" and event.key.startswith(keys.JOBS_FINISHED) and job_id:
                done.append(job_id)
            elif event.key.startswith(keys.JOBS_WORKING) and job_id in finished:
                continue  # its claim ended with the job, not with its worker
            else:
                self._collect_now(done)
                self._dispatch(event)
        self.plan_versions(versions)
        self._collect_now(done)

    def _collect_now(self, job_ids: list[str]) -> None:
        """Collect ``job_ids`` (gathered by :meth:`_dispatch_all`), and empty the list."""
        if job_ids:
            try:
                self.collect_all(job_ids)
            finally:
                job_ids.clear()

    def _dispatch(self, event: Event) -> None:
        if event.key.startswith(keys.CONFIG_PREFIX):
            if event.kind == "put":
                # The version this event wrote, even if newer ones followed: each version
                # gets its workflow and its terminal state, in order.
                entry = Entry(event.key, event.value, event.mod_revision, 0, 0)
                with self._guard(event.key):
                    self._on_config(event.key, entry)
        elif event.key.startswith(keys.JOBS_FINISHED):
            if event.kind == "put":
                with self._guard(event.key):
                    self.collect(_job_id(event.key))
        elif event.key.startswith(keys.JOBS_WORKING) and event.kind == "delete":
            with self._guard(event.key):
                self._ready_again(_job_id(event.key))

    def _load_templates(self) -> None:
        self._templates = {}
        for entry in self.store.get_prefix(keys.HEAT_TEMPLATES_PREFIX):
            template = HeatTemplate.from_value(ConfigRecord.from_value(entry.value).body)
            self._templates[template.id] = template

    def _lookup(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """A resource's body as this manager last saw it (see ``_bodies``).

        Before the manager has read them all, it is read from etcd.
        """
        key = (resource_type, resource_id)
        if key not in self._bodies:
            if self._bodies_loaded:
                return None
            self._seen(keys.config(resource_type, resource_id), self.store.get(keys.config(*key)))
        body = self._bodies.get(key)
        if isinstance(body, EsiError):
            raise body
        return body

    def _seen(self, key: str, entry: Entry | Event | None) -> None:
        """Keep ``_bodies`` up to date with ``key``'s value (None, or a delete: gone)."""
        parsed = keys.parse_config_key(key)
        if parsed is None:
            return
        if entry is None or (isinstance(entry, Event) and entry.kind == "delete"):
            self._bodies.pop(parsed, None)
            return
        try:
            self._bodies[parsed] = ConfigRecord.from_value(entry.value).body
        except EsiError as exc:
            self._bodies[parsed] = exc

    # -- planning --------------------------------------------------------------------------

    def _on_config(self, key: str, entry: Entry | None) -> None:
        if entry is None:
            return
        if key.startswith(keys.HEAT_TEMPLATES_PREFIX):
            self._load_templates()
            return
        parsed = keys.parse_config_key(key)
        if parsed is None:
            return
        self.plan_version(*parsed, entry)

    def plan_version(self, resource_type: str, resource_id: str, entry: Entry) -> bool:
        """Plan the config version in ``entry`` unless it was planned; True when written.

        The workflow's first job waits for every job in flight of the same resource (an
        older version finishes first) and of the resources it references (a gateway waits
        for its HA interface); a delete waits for the resources that reference it.
        """
        cache_entry = self.store.get(keys.worker_config(resource_type, resource_id))
        planned = self._prepare(resource_type, resource_id, entry, cache_entry)
        if planned is None:
            return False
        written = self.store.txn(planned.txn.compare, planned.txn.success).succeeded
        if written:
            self._landed(planned)
        return written

    def plan_versions(self, versions: Sequence[tuple[str, str, Entry]]) -> None:
        """Plan the config versions of a batch of events, in order, in few round trips.

        A burst (a hundred gateways applied at once) is planned a round at a time: each
        round's caches read at once, its transactions sent at once (each version's still
        its own, as in :meth:`plan_version`). A round holds no two versions of which one
        waits for the other's jobs (the same resource, or one referencing the other): a
        version's dependencies are those in flight when it is planned.
        """
        for group in _rounds(versions):
            try:
                self._plan_round(group)
            except TemporaryError:
                raise
            except EsiError as exc:
                # The round as a whole was refused: each version on its own, as usual.
                log.warning("job manager: planning %d versions at once: %s", len(group), exc)
                for resource_type, resource_id, entry in group:
                    with self._guard(entry.key):
                        self.plan_version(resource_type, resource_id, entry)

    def _plan_round(self, group: Sequence[tuple[str, str, Entry]]) -> None:
        cache_keys = [keys.worker_config(t, i) for t, i, _ in group]
        prepared: list[_Planned] = []
        for (resource_type, resource_id, entry), cache_entry in zip(
            group, get_many(self.store, cache_keys), strict=True
        ):
            with self._guard(entry.key):
                planned = self._prepare(resource_type, resource_id, entry, cache_entry)
                if planned is not None:
                    prepared.append(planned)
        results = self.store.txns([p.txn for p in prepared])
        for planned, result in zip(prepared, results, strict=True):
            if result.succeeded:
                with self._guard(keys.config(planned.resource_type, planned.resource_id)):
                    self._landed(planned)

    def _prepare(
        self, resource_type: str, resource_id: str, entry: Entry, cache_entry: Entry | None
    ) -> _Planned | None:
        """The transaction that plans ``entry``'s version; None when it was planned.

        ``cache_entry`` is the worker cache as read.
        """
        record = ConfigRecord.from_value(entry.value)
        cache_key = keys.worker_config(resource_type, resource_id)
        cached = None if cache_entry is None else WorkerCache.from_value(cache_entry.value)
        if cached is not None and cached.version >= record.version:
            return None
        try:
            workflow = plan(
                resource_type, resource_id, record, cached, self._templates, self._lookup
            )
        except PermanentError as exc:
            # Its terminal state says why; waiting would not help, and the next version
            # (a fix) is planned as usual.
            log.error("%s %s version %d: %s", resource_type, resource_id, record.version, exc)
            workflow = unplannable(record, cached, f"not planned: {exc}")
        mine = self._flight.of_resource((resource_type, resource_id))
        # The newest version in flight already waits for the older ones: waiting for its
        # jobs is enough, and keeps dependency lists short when updates queue up.
        newest = max((job.version for job in mine), default=None)
        own = [job.id for job in mine if job.version == newest]
        if record.marked_for_deletion:
            others = self._flight.referencing((resource_type, resource_id))
        else:
            others = [
                job.id
                for used in _references(resource_type, record.body)
                for job in self._flight.of_resource(used)
            ]
        others += _family_order(self._flight, resource_type, record)
        after = sorted(set(own) | set(others))
        # The cache decides what was planned: unchanged since read, or another manager
        # (or this one, for a duplicate event) planned this version first.
        compare = [_compare_unchanged(cache_key, cache_entry)]
        cache = WorkerCache(
            body=record.body, deleted=record.marked_for_deletion, version=record.version
        )
        ops = [Op.put(cache_key, cache.to_json())]
        if workflow.state is not None:
            state_key = keys.state(resource_type, resource_id)
            state_entry = self.store.get(state_key)
            if state_entry is None or State.from_value(state_entry.value).version < record.version:
                compare.append(_compare_unchanged(state_key, state_entry))
                ops.append(Op.put(state_key, workflow.state.to_json()))
        else:
            if not own:
                # A workflow in flight owns the job state until its last job removes it.
                ops.append(Op.put(keys.job_state(resource_type, resource_id), JobState().to_json()))
            planned_at = utc_now()
            for job in workflow.jobs:
                if job.is_first:
                    job.dependency = [*job.dependency, *after]
                ops.append(Op.put(keys.job_all(job.id), JobEntry(job.handler, job, 0).to_json()))
                # Ours: when it was planned (the contract's job records carry no time).
                ops.append(
                    Op.put(
                        keys.audit_job(job.id),
                        AuditJob.planned_at(job.handler, job.action, planned_at).to_json(),
                    )
                )
                queue_key = keys.job_waiting(job.id) if job.dependency else keys.job_ready(job.id)
                ops.append(Op.put(queue_key, job.handler))
        return _Planned(resource_type, resource_id, record, workflow, after, Txn(compare, ops))

    def _landed(self, planned: _Planned) -> None:
        """After ``planned``'s transaction succeeded."""
        workflow, record = planned.workflow, planned.record
        for job in workflow.jobs:
            self._flight.add(job, waiting=bool(job.dependency))
        log.info(
            "planned %s %s version %d: %s%s",
            planned.resource_type,
            planned.resource_id,
            record.version,
            [j.id for j in workflow.jobs] or workflow.state,
            f" after {planned.after}" if planned.after and workflow.jobs else "",
        )
        if workflow.state is not None and workflow.state.worker_state == "DELETE_COMPLETED":
            self._forget(planned.resource_type, planned.resource_id, record.version)

    def _forget(self, resource_type: str, resource_id: str, version: int) -> None:
        """After ``DELETE_COMPLETED``: remove all the resource's keys, in one transaction.

        Nothing is removed when a newer version was written meanwhile.
        """
        config_key = keys.config(resource_type, resource_id)
        config = self.store.get(config_key)
        if config is not None:
            record = ConfigRecord.from_value(config.value)
            if record.version != version or not record.marked_for_deletion:
                return
        for _ in range(_FORGET_ATTEMPTS):
            compare = [_compare_unchanged(config_key, config)]
            ops = [
                Op.delete(key(resource_type, resource_id))
                for key in (
                    keys.config,
                    keys.state,
                    keys.monitoring,
                    keys.worker_config,
                    keys.heat_stack,
                    keys.applied,
                    keys.job_state,
                )
            ]
            if config is not None and resource_type == "public_ip":
                # Its block goes back to its pool with it (the pool's next version).
                pool_compare, pool_ops = pools.release(
                    self.store, ConfigRecord.from_value(config.value).body
                )
                compare += pool_compare
                ops += pool_ops
            if self.store.txn(compare, ops).succeeded:
                log.info("%s %s deleted: its keys are gone", resource_type, resource_id)
                return
            if self.store.get(config_key) != config:
                return  # a newer version came: not deleted after all

    # -- collection ------------------------------------------------------------------------

    def collect(self, job_id: str) -> None:
        """Remove a finished job and release its dependents, in one transaction.

        If it failed its workflow (``on_failure: fail``; the worker wrote a ``*_FAILED``
        state), the workflow's later jobs are cancelled; jobs of other workflows that waited
        for them are released. After a delete's last job, the resource's keys go.
        """
        self.collect_all([job_id])

    def collect_all(self, job_ids: Sequence[str]) -> None:
        """:meth:`collect` each of ``job_ids``, in order, in few round trips.

        Their records are read at once, their transactions sent together a round at a time. A
        round holds no two jobs whose collection touches the same job (one that both release,
        say): the later one is prepared again once the earlier landed.
        """
        flight = self._flight
        wanted: list[tuple[str, str]] = []
        for job_id in job_ids:
            known = flight.jobs.get(job_id)
            state_key = "" if known is None else keys.state(known.resource_type, known.resource_id)
            wanted.append((keys.job_all(job_id), state_key))
        read = get_many(self.store, [k for pair in wanted for k in pair if k])
        found = {k: e for k, e in zip([k for pair in wanted for k in pair if k], read, strict=True)}
        round_: list[_Collected] = []
        touched: set[str] = set()
        for job_id, (all_key, state_key) in zip(job_ids, wanted, strict=True):
            with self._guard(keys.job_finished(job_id)):
                all_entry = found.get(all_key)
                if all_entry is None:
                    self.store.delete(keys.job_finished(job_id))
                    flight.remove(job_id)
                    continue
                # A job's record never changes once planned (a retry counts its tries
                # beside it): the one this manager planned or loaded is the one read.
                job = flight.jobs.get(job_id) or JobEntry.from_value(all_entry.value).job
                state_entry = (
                    found.get(state_key)
                    if state_key == keys.state(job.resource_type, job.resource_id)
                    else self.store.get(keys.state(job.resource_type, job.resource_id))
                )
                collected = self._prepare_collect(job, all_entry, state_entry)
                if collected.touched & touched:
                    self._send_collects(round_)
                    round_, touched = [], set()
                    collected = self._prepare_collect(job, all_entry, state_entry)
                round_.append(collected)
                touched |= collected.touched
        self._send_collects(round_)

    def _prepare_collect(self, job: Job, all_entry: Entry, state_entry: Entry | None) -> _Collected:
        finished_key = keys.job_finished(job.id)
        state = None if state_entry is None else State.from_value(state_entry.value)
        failed = (
            job.on_failure == "fail"
            and state is not None
            and state.version == job.version
            and state.worker_state.endswith("_FAILED")
        )
        compare = [
            Compare.present(finished_key),
            Compare.unchanged_since(all_entry.key, all_entry.mod_revision),
        ]
        ops = [Op.delete(all_entry.key), Op.delete(finished_key)]
        flight = self._flight
        gone = {job.id}
        if failed:
            for other in flight.of_resource((job.resource_type, job.resource_id)):
                if other.id in flight.waiting and other.job_name == job.job_name:
                    gone.add(other.id)
                    # Still waiting, so not claimed meanwhile (nor cancelled by another).
                    compare.append(Compare.present(keys.job_waiting(other.id)))
                    ops += [
                        Op.delete(keys.job_all(other.id)),
                        Op.delete(keys.job_waiting(other.id)),
                    ]
        released: list[str] = []
        dependents = {d for g in gone for d in flight.waiting_on(g)} - gone
        for other_id in sorted(dependents):
            other = flight.jobs[other_id]
            pending = [d for d in other.dependency if d not in gone and d in flight.jobs]
            if not pending:
                released.append(other_id)
                compare.append(Compare.present(keys.job_waiting(other_id)))
                ops += [
                    Op.delete(keys.job_waiting(other_id)),
                    Op.put(keys.job_ready(other_id), other.handler),
                ]
        return _Collected(job, state, gone, released, gone | dependents, Txn(compare, ops))

    def _send_collects(self, round_: Sequence[_Collected]) -> None:
        results: list[TxnResult] = []
        with self._guard(f"collecting {len(round_)} jobs"):
            # Refused whole: left finished, collected again at the next term's reconcile.
            results = self.store.txns([c.txn for c in round_])
        for collected, result in zip(round_, results, strict=False):
            job, state = collected.job, collected.state
            with self._guard(keys.job_finished(job.id)):
                if not result.succeeded:
                    log.info(
                        "collecting %s raced with another change; retried on the next event",
                        job.id,
                    )
                    continue
                for gone_id in collected.gone:
                    self._flight.remove(gone_id)
                for other_id in collected.released:
                    self._flight.waiting.discard(other_id)
                if (
                    job.is_last
                    and job.action == "logical_delete"
                    and state is not None
                    and state.version == job.version
                    and state.worker_state == "DELETE_COMPLETED"
                ):
                    self._forget(job.resource_type, job.resource_id, job.version)

    def _ready_again(self, job_id: str) -> None:
        """A job claimed by a worker that died (no working, no finished) becomes ready again."""
        if job_id not in self._flight.jobs:
            return  # collected (the index is this manager's own): not in /jobs/all
        all_entry = self.store.get(keys.job_all(job_id))
        if all_entry is None:
            return
        entry = JobEntry.from_value(all_entry.value)
        queue_keys = [keys.job_ready, keys.job_waiting, keys.job_working, keys.job_finished]
        compare = [Compare.unchanged_since(all_entry.key, all_entry.mod_revision)]
        compare += [Compare.absent(k(job_id)) for k in queue_keys]
        retried = JobEntry(entry.handler, entry.job, entry.attempts + 1)
        ops = [
            Op.put(all_entry.key, retried.to_json()),
            Op.put(keys.job_ready(job_id), entry.handler),
        ]
        if self.store.txn(compare, ops).succeeded:
            log.warning(
                "job %s lost its worker; ready again (attempt %d)", job_id, retried.attempts
            )
