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
  ``/state`` instead. The transaction compares the config's and the cache's revisions,
  so a version is planned at most once whatever the manager sees twice;
- ``/jobs/finished/...``: the job is collected (``all`` and ``finished`` removed) and its
  dependents with no other unfinished dependency move from ``waiting`` to ``ready``, in
  one transaction; if it failed its workflow (``on_failure: fail``, the worker wrote a
  ``*_FAILED`` state), its dependents are cancelled instead;
- ``/jobs/working/...`` deletions: a claim that vanished without ``finished`` (its
  worker's lease expired) makes the job ready again, with its attempt count raised.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from nornir_esi import keys
from nornir_esi.exceptions import EsiError, TemporaryError
from nornir_esi.planner import plan
from nornir_esi.records import (
    ConfigRecord,
    HeatTemplate,
    JobEntry,
    JobState,
    State,
    WorkerCache,
)
from nornir_esi.store.base import Compare, Entry, Event, Lease, Op, Store
from nornir_esi.store.feed import Feed

__all__ = ["JobManager"]

log = logging.getLogger(__name__)


def _job_id(key: str) -> str:
    job_id = keys.job_id_of(key)
    if job_id is None:
        raise EsiError(f"{key} is not a job key")
    return job_id


def _compare_unchanged(key: str, entry: Entry | None) -> Compare:
    return (
        Compare.absent(key) if entry is None else Compare.unchanged_since(key, entry.mod_revision)
    )


class JobManager:
    """Plans, releases and collects jobs while it holds ``/job_manager_id``."""

    def __init__(self, store: Store, *, manager_id: str | None = None, lease_ttl: int = 65):
        self.store = store
        self.id = manager_id or f"manager-{uuid.uuid4().hex[:12]}"
        self.lease_ttl = lease_ttl
        self.leading = threading.Event()
        self._templates: dict[str, HeatTemplate] = {}

    # -- leadership ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Campaign, lead while elected, campaign again on losing the lease; until ``stop``.

        A store outage ends the term or the campaign, not the manager: it waits and
        campaigns again (and reconciles from etcd if elected).
        """
        while not stop.is_set():
            try:
                self._term(stop)
            except TemporaryError as exc:
                log.warning(
                    "job manager %s: %s; campaigning again in %.1f s", self.id, exc, exc.delay
                )
                stop.wait(exc.delay)

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
                if event is not None:
                    self._dispatch(event)

    def reconcile(self) -> None:
        """Catch up from the store alone: plan new versions, collect, re-ready orphans."""
        self._load_templates()
        for entry in self.store.get_prefix(keys.CONFIG_PREFIX):
            self._on_config(entry.key, entry)
        for entry in self.store.get_prefix(keys.JOBS_FINISHED):
            self.collect(_job_id(entry.key))
        for entry in self.store.get_prefix(keys.JOBS_ALL):
            self._ready_again(_job_id(entry.key))

    def _dispatch(self, event: Event) -> None:
        try:
            if event.key.startswith(keys.CONFIG_PREFIX):
                if event.kind == "put":
                    self._on_config(event.key, self.store.get(event.key))
            elif event.key.startswith(keys.JOBS_FINISHED):
                if event.kind == "put":
                    self.collect(_job_id(event.key))
            elif event.key.startswith(keys.JOBS_WORKING) and event.kind == "delete":
                self._ready_again(_job_id(event.key))
        except EsiError as exc:
            log.error("job manager: %s: %s", event.key, exc)

    def _load_templates(self) -> None:
        self._templates = {}
        for entry in self.store.get_prefix(keys.HEAT_TEMPLATES_PREFIX):
            template = HeatTemplate.from_value(ConfigRecord.from_value(entry.value).body)
            self._templates[template.id] = template

    def _lookup(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        entry = self.store.get(keys.config(resource_type, resource_id))
        return None if entry is None else ConfigRecord.from_value(entry.value).body

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
        """Plan the config version in ``entry`` unless it was planned; True when written."""
        record = ConfigRecord.from_value(entry.value)
        cache_key = keys.worker_config(resource_type, resource_id)
        cache_entry = self.store.get(cache_key)
        cached = None if cache_entry is None else WorkerCache.from_value(cache_entry.value)
        if cached is not None and cached.version >= record.version:
            return False
        workflow = plan(resource_type, resource_id, record, cached, self._templates, self._lookup)
        compare = [
            Compare.unchanged_since(entry.key, entry.mod_revision),
            _compare_unchanged(cache_key, cache_entry),
        ]
        cache = WorkerCache(body=record.body, deleted=False, version=record.version)
        ops = [Op.put(cache_key, cache.to_json())]
        if workflow.state is not None:
            state_key = keys.state(resource_type, resource_id)
            state_entry = self.store.get(state_key)
            if state_entry is None or State.from_value(state_entry.value).version < record.version:
                compare.append(_compare_unchanged(state_key, state_entry))
                ops.append(Op.put(state_key, workflow.state.to_json()))
        else:
            ops.append(Op.put(keys.job_state(resource_type, resource_id), JobState().to_json()))
            for job in workflow.jobs:
                ops.append(Op.put(keys.job_all(job.id), JobEntry(job.handler, job, 0).to_json()))
                queue_key = keys.job_waiting(job.id) if job.dependency else keys.job_ready(job.id)
                ops.append(Op.put(queue_key, job.handler))
        written = self.store.txn(compare, ops).succeeded
        if written:
            log.info(
                "planned %s %s version %d: %s",
                resource_type,
                resource_id,
                record.version,
                [j.id for j in workflow.jobs] or workflow.state,
            )
        return written

    # -- collection ------------------------------------------------------------------------

    def collect(self, job_id: str) -> None:
        """Remove a finished job and release (or cancel) its dependents, in one transaction."""
        finished_key = keys.job_finished(job_id)
        all_entry = self.store.get(keys.job_all(job_id))
        if all_entry is None:
            self.store.delete(finished_key)
            return
        job = JobEntry.from_value(all_entry.value).job
        failed = False
        if job.on_failure == "fail":
            state_entry = self.store.get(keys.state(job.resource_type, job.resource_id))
            if state_entry is not None:
                state = State.from_value(state_entry.value)
                failed = state.version == job.version and state.worker_state.endswith("_FAILED")
        compare = [
            Compare.present(finished_key),
            Compare.unchanged_since(all_entry.key, all_entry.mod_revision),
        ]
        ops = [Op.delete(all_entry.key), Op.delete(finished_key)]
        waiting = {_job_id(e.key): e for e in self.store.get_prefix(keys.JOBS_WAITING)}
        gone = {job_id}
        for other_id in waiting:
            other_entry = self.store.get(keys.job_all(other_id))
            if other_entry is None:
                continue
            other = JobEntry.from_value(other_entry.value).job
            if job_id not in other.dependency:
                continue
            compare.append(Compare.unchanged_since(other_entry.key, other_entry.mod_revision))
            if failed:
                # The workflow ended; its later jobs never run.
                ops += [Op.delete(other_entry.key), Op.delete(keys.job_waiting(other_id))]
                gone.add(other_id)
                continue
            pending = [
                d
                for d in other.dependency
                if d not in gone and self.store.get(keys.job_all(d)) is not None
            ]
            if not pending:
                ops += [
                    Op.delete(keys.job_waiting(other_id)),
                    Op.put(keys.job_ready(other_id), other.handler),
                ]
        if not self.store.txn(compare, ops).succeeded:
            log.info(
                "collecting %s raced with another change; it is retried on the next event", job_id
            )

    def _ready_again(self, job_id: str) -> None:
        """A job claimed by a worker that died (no working, no finished) becomes ready again."""
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
