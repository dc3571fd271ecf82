"""Following one version of a resource through its workflow, as etcd sees it.

:func:`follow` watches the keyspace (no polling) from the revision before the version was
written, so nothing is missed however fast the workers are, and feeds each event to a
:class:`Progress`. One watch, not one per key: etcd orders the events of one watch by
revision, so the job's ``finished`` is seen before the ``/state`` written with it.

1. the version is in ``/config`` (the caller wrote it);
2. the job manager plans its jobs (``/jobs/all``), each then ``waiting``, ``ready``,
   ``working`` (with the worker holding it) and ``finished``;
3. the heat worker records the stack (``/esi-worker/heat_stacks``);
4. the monitoring worker measures: ``state_monitoring`` in the job state (a gateway's
   downlink and uplink), or ``/monitoring`` (a delete removes it);
5. the last job writes ``/state``; a delete ends when the job manager has removed the
   resource's keys (``/config`` gone after ``DELETE_COMPLETED``).

:func:`render` draws a :class:`Progress` for a rich live display; :meth:`Progress.to_value`
is its machine form.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nornir_esi.contract import keys
from nornir_esi.contract.records import HeatStack, JobState, Monitoring, State
from nornir_esi.exceptions import ValidationError
from nornir_esi.store.base import Event, Store
from nornir_esi.store.feed import Feed

__all__ = ["JobProgress", "Progress", "follow", "render"]

Outcome = Literal["done", "failed"]
_QUEUES = {
    keys.JOBS_WAITING: "waiting",
    keys.JOBS_READY: "ready",
    keys.JOBS_WORKING: "working",
    keys.JOBS_FINISHED: "finished",
}
TICK = 0.5  # seconds between redraws of the clock while nothing happens


@dataclass
class JobProgress:
    """One job of the followed version: its queue, and the worker that holds (held) it."""

    job: str
    handler: str
    action: str
    queue: str = "planned"
    worker: str = ""
    finished_at: float | None = None


@dataclass
class Progress:
    """What is known of one version's workflow so far (``at``: seconds since the start)."""

    resource_type: str
    resource_id: str
    version: int
    deleting: bool = False
    started: float = field(default_factory=time.monotonic)
    jobs: dict[str, JobProgress] = field(default_factory=dict)
    planned_at: float | None = None
    monitoring: dict[str, Any] | None = None
    stack_status: str = ""
    state: State | None = None
    state_at: float | None = None
    gone_at: float | None = None
    timed_out: bool = False

    @property
    def elapsed(self) -> float:
        """Seconds since the start (``started``)."""
        return time.monotonic() - self.started

    @property
    def outcome(self) -> Outcome | None:
        """``done``, ``failed``, or None while the workflow runs."""
        if self.state is not None and self.state.worker_state.endswith("_FAILED"):
            return "failed"
        if self.deleting:
            return "done" if self.gone_at is not None else None
        return "done" if self.state is not None else None

    def feed(self, event: Event) -> bool:
        """Take one event in; True when it concerned this workflow."""
        resource = (self.resource_type, self.resource_id)
        if event.key == keys.state(*resource):
            if event.kind == "put":
                state = State.from_value(event.value)
                if state.version >= self.version:
                    self.state, self.state_at = state, self.elapsed
                    return True
            return False
        if event.key == keys.monitoring(*resource):
            gone = event.kind != "put"
            self.monitoring = {} if gone else Monitoring.from_value(event.value).status
            return True
        if event.key == keys.job_state(*resource):
            measured = None
            if event.kind == "put":
                measured = JobState.from_value(event.value).state_monitoring
            if measured is not None:
                self.monitoring = measured
            return measured is not None
        if event.key == keys.heat_stack(*resource):
            if event.kind == "put":
                self.stack_status = HeatStack.from_value(event.value).stack_status
            return event.kind == "put"
        if event.key == keys.config(*resource):
            if event.kind == "delete" and self.deleting:
                self.gone_at = self.elapsed
                return True
            return False
        return self._feed_job(event)

    def _feed_job(self, event: Event) -> bool:
        job_id = keys.job_id_of(event.key)
        if job_id is None:
            return False
        try:
            parts = keys.parse_job_id(job_id)
        except ValidationError:
            return False
        if (parts.resource_type, parts.resource_id, parts.version) != (
            self.resource_type,
            self.resource_id,
            self.version,
        ):
            return False
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = JobProgress(job_id, parts.handler, parts.action)
            if self.planned_at is None:
                self.planned_at = self.elapsed
        queue = next((q for prefix, q in _QUEUES.items() if event.key.startswith(prefix)), "")
        if event.kind == "put" and queue and job.queue != "finished":
            job.queue = queue
            if queue == "working":
                job.worker = event.value
            if queue == "finished":
                job.finished_at = self.elapsed
        return True

    def to_value(self) -> dict[str, Any]:
        """The machine form: what ``--json`` prints."""
        state = self.state
        return {
            "type": self.resource_type,
            "id": self.resource_id,
            "version": self.version,
            "outcome": self.outcome or ("timeout" if self.timed_out else "running"),
            "worker_state": state.worker_state if state else "",
            "error": state.error if state else "",
            "jobs": [
                {"job": j.job, "handler": j.handler, "action": j.action, "queue": j.queue}
                | {"worker": j.worker}
                for j in self.jobs.values()
            ],
            "stack_status": self.stack_status,
            "monitoring": self.monitoring,
            "gone": self.gone_at is not None,
            "seconds": round(self.elapsed, 3),
        }


def follow(
    store: Store,
    progress: Progress,
    *,
    start_revision: int,
    timeout: float,
    on_change: Callable[[Progress], None] = lambda _: None,
) -> Progress:
    """Feed ``progress`` every event of its workflow from ``start_revision`` on, until it ends.

    It stops when the workflow ends or ``timeout`` seconds pass (``progress.timed_out``);
    ``on_change`` runs after each event that concerned it, and every :data:`TICK` seconds
    while nothing does.
    """
    resource = (progress.resource_type, progress.resource_id)
    deadline = time.monotonic() + timeout
    with Feed(store, ["/"], start_revision=start_revision) as feed:
        # What was there before the watch's first event: a workflow already over (an
        # unchanged version), or a resource already gone.
        current = store.get(keys.state(*resource))
        if current is not None and State.from_value(current.value).version >= progress.version:
            progress.state, progress.state_at = State.from_value(current.value), 0.0
        if progress.deleting and store.get(keys.config(*resource)) is None:
            progress.gone_at = 0.0
        on_change(progress)
        event: Event | None = None
        while progress.outcome is None:
            left = deadline - time.monotonic()
            if left <= 0:
                progress.timed_out = True
                break
            event = feed.get(timeout=min(left, TICK))
            if event is None or progress.feed(event):
                on_change(progress)
        # The rest of the transaction that ended it (delivered with it, if not yet taken).
        while event is not None and (rest := feed.get(timeout=0)) is not None:
            if rest.mod_revision != event.mod_revision:
                break
            progress.feed(rest)
    on_change(progress)
    return progress


# --- drawing ---------------------------------------------------------------------------

_MARKS = {"done": ("✓", "green"), "failed": ("✗", "red"), "pending": ("…", "yellow")}


def _mark(kind: str) -> Text:
    symbol, style = _MARKS[kind]
    return Text(symbol, style=style)


def _at(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.1f} s"


def render(progress: Progress) -> RenderableType:
    """The workflow as a table of steps, for a rich live display."""
    what = "delete" if progress.deleting else ("create" if progress.version == 1 else "update")
    title = Text.assemble(
        (f"{progress.resource_type} {progress.resource_id}", "bold"),
        f"  version {progress.version} ({what})",
    )
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column(no_wrap=True)
    table.add_row(_mark("done"), "config written", f"version {progress.version}", "")
    jobs = list(progress.jobs.values())
    table.add_row(
        _mark("done" if jobs else "pending"),
        "jobs planned",
        f"{len(jobs)} job(s)" if jobs else "waiting for the job manager",
        _at(progress.planned_at),
    )
    failed = progress.outcome == "failed"
    for job in jobs:
        if job.queue == "finished":
            mark = "done"
        elif failed:
            mark = "failed"
        else:
            mark = "pending"
        worker = f" by {job.worker}" if job.worker else ""
        table.add_row(
            "",
            Text.assemble(_mark(mark), f" {job.action} {job.handler}"),
            f"{job.queue}{worker}",
            _at(job.finished_at),
        )
    if progress.stack_status:
        bad = progress.stack_status.endswith("FAILED")
        table.add_row(_mark("failed" if bad else "done"), "stack", progress.stack_status, "")
    if progress.monitoring is not None:
        status = ", ".join(f"{k}={v}" for k, v in sorted(progress.monitoring.items()))
        table.add_row(_mark("done"), "monitoring", status or "removed", "")
    state = progress.state
    if state is None:
        detail = "timed out waiting" if progress.timed_out else "waiting for the last job"
        table.add_row(_mark("pending"), "/state", detail, _at(progress.elapsed))
    else:
        detail = state.worker_state + (f": {state.error}" if state.error else "")
        table.add_row(
            _mark("failed" if failed else "done"), "/state", detail, _at(progress.state_at)
        )
    if progress.deleting and not failed:
        gone = progress.gone_at is not None
        table.add_row(
            _mark("done" if gone else "pending"),
            "keys removed",
            "the resource is gone" if gone else "waiting for the job manager",
            _at(progress.gone_at),
        )
    return Group(title, table)
