"""The running system: template bootstrap, a job manager and workers, in threads.

``nornir-esi run``, the demo and the end-to-end tests start the same thing::

    with Service(store, inventory="inventory/hosts.yaml", workers=1) as service:
        ...
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from nornir_esi.contract import keys
from nornir_esi.contract.records import shipped_heat_templates
from nornir_esi.handlers import HANDLERS
from nornir_esi.handlers.common import Services
from nornir_esi.heat.base import Heat
from nornir_esi.heat.embedded import EmbeddedHeat
from nornir_esi.jobs.manager import JobManager
from nornir_esi.jobs.retention import DEFAULT_RETENTION, AuditSweeper, Retention
from nornir_esi.jobs.worker import Worker
from nornir_esi.pair.coalesce import DEFAULT_BATCH
from nornir_esi.pair.devices import NornirDevices
from nornir_esi.services.rounds import DriftChecker
from nornir_esi.store.base import Compare, Op, Store
from nornir_esi.store.mutex import EtcdMutex

__all__ = ["Service", "ensure_heat_templates"]

log = logging.getLogger(__name__)


def ensure_heat_templates(store: Store) -> list[str]:
    """Write the shipped template records that ``/config/v2.0/heat_templates/`` lacks."""
    written = []
    for template_id, record in shipped_heat_templates().items():
        key = keys.heat_template(template_id)
        if store.txn([Compare.absent(key)], [Op.put(key, record.to_json())]).succeeded:
            written.append(template_id)
    return written


class Service:
    """A job manager and ``workers`` workers (each with its own lease), in threads."""

    def __init__(
        self,
        store: Store,
        *,
        inventory: str | None = None,
        workers: int = 1,
        slots: int = 64,
        batch: int = DEFAULT_BATCH,
        manager: bool = True,
        heat: Heat | None = None,
        manager_lease_ttl: int = 65,
        worker_lease_ttl: int = 60,
        drift_interval: float | None = None,
        retries: int | None = None,
        audit_retention: Retention = DEFAULT_RETENTION,
        audit_interval: float | None = None,
    ) -> None:
        self.store = store
        devices = NornirDevices(overrides=inventory, max_batch=batch, turns=EtcdMutex(store))
        heat = heat or EmbeddedHeat()
        services = Services(devices=devices, heat=heat)
        self.manager = JobManager(store, lease_ttl=manager_lease_ttl) if manager else None
        self.drift = (
            DriftChecker(store, devices, drift_interval, self.manager.leading, heat)
            if drift_interval and self.manager is not None
            else None
        )
        # The audit trail's bound, kept by the leading manager's process (jobs/retention).
        self.audit = (
            AuditSweeper(store, audit_retention, audit_interval, self.manager.leading)
            if audit_interval and self.manager is not None
            else None
        )
        self.workers = [
            Worker(
                store,
                HANDLERS,
                slots=slots,
                lease_ttl=worker_lease_ttl,
                services=services,
                retries=retries,
            )
            for _ in range(workers)
        ]
        # Set by stop(), or when a runner ended on an error (then ``error`` says which).
        self.stop_event = threading.Event()
        self.error: str | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Write any missing Heat template records, then start each runner in its own thread.

        The job manager (when there is one) first, then the workers and the drift checker (when
        there is one). A runner that stops on an error stops the service: see ``error``.
        """
        ensure_heat_templates(self.store)
        runners: list[tuple[str, Any]] = [(w.id, w) for w in self.workers]
        if self.manager is not None:
            runners.insert(0, (self.manager.id, self.manager))
        if self.drift is not None:
            runners.append(("drift checker", self.drift))
        if self.audit is not None:
            runners.append(("audit sweeper", self.audit))
        for name, runner in runners:
            thread = threading.Thread(target=self._run, args=(runner,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, runner: JobManager | Worker | DriftChecker | AuditSweeper) -> None:
        # The runners ride out store outages and errors of single jobs themselves; what
        # still ends one is a bug. The whole service stops then, rather than run on with a
        # part missing (a process without its worker looks healthy and does nothing): the
        # process exits, its supervisor restarts it, and crash-resume takes over.
        try:
            runner.run(self.stop_event)
        except Exception as exc:
            name = getattr(runner, "id", runner)
            log.exception("%s stopped on an error; stopping the service", name)
            self.error = f"{name} stopped on an error: {type(exc).__name__}: {exc}"
            self.stop_event.set()

    def alive(self) -> bool:
        """Whether the manager and every worker are still running."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Tell every runner to stop, and wait up to 30 seconds for each thread to end."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
