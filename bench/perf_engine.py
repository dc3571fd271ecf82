"""``bench.perf`` section engine: jobs claimed and finished per second by one worker process.

Local etcd (``EtcdServer``, as the tests run it). ``jobs`` synthetic jobs are written to
``/jobs`` as the job manager writes them (``/jobs/all/<id>`` with the job entry, the
job's audit record with its planning time, ``/jobs/ready/<id>`` with the handler name;
no dependencies, not the last job of a workflow, so no ``/state`` write), then one
``Worker`` (``nornir_esi.jobs.worker``) starts in a process of its own, with one handler,
``noop``, that returns no writes. Per job the worker does what it does for a real one: the
claim transaction, the read of the planning time, the finish transaction
(``/jobs/finished``, the claim removed, the audit record).

Measured from the moment the worker process starts its loop (its clock, sent on stdout)
until the last ``/jobs/finished/<id>`` event reaches this process (a watch). The figure
is with ``--slots`` (8, ``nornir-esi run``'s default); the baseline is the same worker
with one slot (a worker that runs one job at a time), in the same run, on 40 jobs: with
every slot busy, a worker takes the next ready job only at the next event on
``/jobs/ready`` or after its feed's 0.5 s timeout (``Worker._follow``), not when a slot
frees, so one slot runs about 2 jobs/s (with 8 slots its own claims' events keep waking
it).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

from bench.perf_common import Figure, Section
from nornir_esi.contract import keys
from nornir_esi.contract.records import AuditJob, Job, JobEntry, utc_now
from nornir_esi.jobs.worker import JobContext, Worker
from nornir_esi.store.base import Op, Store
from nornir_esi.store.etcd import EtcdStore
from nornir_esi.store.feed import Feed
from nornir_esi.testing.etcd import EtcdServer

__all__ = ["engine_section", "worker_main"]

HANDLER = "noop"
BASELINE_JOBS = 40
JOBS_PER_TXN = 40  # 3 writes each: under etcd's 128 operations per transaction


def _noop(ctx: JobContext) -> list[Op]:
    return []


def worker_main() -> None:
    """The worker process, which runs until SIGTERM.

    Started as ``python -c 'from bench.perf_engine import worker_main; worker_main()'
    ENDPOINTS SLOTS``.
    """
    endpoints, slots = sys.argv[1], int(sys.argv[2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    store = EtcdStore(endpoints)
    worker = Worker(store, {HANDLER: _noop}, slots=slots)
    print(json.dumps({"started": time.time()}), flush=True)
    worker.run(stop)
    store.close()


def _write_jobs(store: Store, count: int) -> None:
    audit = AuditJob.planned_at(HANDLER, "create", utc_now()).to_json()
    ops: list[Op] = []
    for _ in range(count):
        resource_id = str(uuid.uuid4())
        job = Job(
            id=keys.job_id("create", HANDLER, "internet_gateway", resource_id, 1),
            action="create",
            handler=HANDLER,
            resource_type="internet_gateway",
            resource_id=resource_id,
            version=1,
            job_name=keys.job_name("internet_gateway", resource_id, 1),
            is_first=True,
            is_last=False,
            on_failure="fail",
            dependency=[],
            resource_input={},
            params=[],
        )
        ops += [
            Op.put(keys.job_all(job.id), JobEntry(HANDLER, job, 0).to_json()),
            Op.put(keys.audit_job(job.id), audit),
            Op.put(keys.job_ready(job.id), HANDLER),
        ]
        if len(ops) >= JOBS_PER_TXN * 3:
            store.txn([], ops)
            ops = []
    if ops:
        store.txn([], ops)


def _rate(etcd: EtcdServer, store: Store, jobs: int, slots: int, timeout: float) -> float | None:
    """Jobs per second of one worker process with ``slots``; None if it did not finish."""
    store.delete(keys.JOBS_PREFIX, prefix=True)
    _write_jobs(store, jobs)
    revision = store.revision()
    code = "from bench.perf_engine import worker_main; worker_main()"
    with Feed(store, [keys.JOBS_FINISHED], start_revision=revision + 1) as feed:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, etcd.endpoints, str(slots)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            started = json.loads(proc.stdout.readline())["started"]
            finished: set[str] = set()
            deadline = time.monotonic() + timeout
            last = started
            while len(finished) < jobs and time.monotonic() < deadline:
                event = feed.get(timeout=1.0)
                if event is not None and event.kind == "put":
                    finished.add(event.key)
                    last = time.time()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return jobs / (last - started) if len(finished) == jobs else None


def engine_section(*, jobs: int, slots: int, timeout: float) -> Section:
    """The engine figure: jobs/s of one worker process with ``slots`` slots, beside one slot.

    A warm-up of up to 100 jobs first; the baseline runs :data:`BASELINE_JOBS` jobs. A job
    not finished within ``timeout`` is a problem.
    """
    out = Section()
    with EtcdServer("perf-engine") as etcd:
        store = etcd.client()
        try:
            _rate(etcd, store, min(jobs, 100), slots, timeout)  # warm: etcd, the page cache
            rate = _rate(etcd, store, jobs, slots, timeout)
            # One slot runs about 2 jobs/s (see the module docstring): fewer jobs do.
            base = _rate(etcd, store, BASELINE_JOBS, 1, timeout)
        finally:
            store.close()
    if rate is None or base is None:
        out.problems.append(f"engine: not all {jobs} jobs finished within {timeout:.0f} s")
    out.notes = {
        "jobs": jobs,
        "slots": slots,
        "baseline": f"the same worker with slots=1, {BASELINE_JOBS} jobs",
    }
    out.figures.append(
        Figure("engine", f"jobs/s, 1 worker process, {slots} slots, no-op handler", rate, "/s",
               goal=(">=", 2000.0), baseline=base, baseline_name="slots=1",
               ratio=None if rate is None or base is None else rate / base,
               ratio_means="value/baseline", extra={"jobs": jobs})
    )  # fmt: skip
    return out
