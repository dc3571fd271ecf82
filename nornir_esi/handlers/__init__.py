"""What a job does, per handler: ``heat_worker`` and ``monitoring_worker``."""

from __future__ import annotations

from nornir_esi.handlers.heat_worker import heat_worker
from nornir_esi.handlers.monitoring_worker import monitoring_worker
from nornir_esi.jobs.worker import Handler

__all__ = ["HANDLERS", "heat_worker", "monitoring_worker"]

HANDLERS: dict[str, Handler] = {
    "heat_worker": heat_worker,
    "monitoring_worker": monitoring_worker,
}
