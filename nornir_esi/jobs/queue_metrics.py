"""The jobs in each queue (``esi_jobs{queue,handler}``), and the HTTP server of all the metrics.

The queues are read from etcd at each scrape, so every process shows the fleet's; the
metrics are those of :mod:`nornir_esi.metrics`.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from nornir_esi.contract import keys
from nornir_esi.exceptions import EsiError
from nornir_esi.store.base import Store

__all__ = ["QUEUES", "QueueCollector", "serve_metrics"]

_QUEUES = {"waiting": keys.JOBS_WAITING, "ready": keys.JOBS_READY, "working": keys.JOBS_WORKING}


class QueueCollector(Collector):
    """``esi_jobs{queue,handler}`` from etcd at scrape time (none before a store is set)."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One ``esi_jobs`` sample per queue and handler, read from etcd now.

        None before a store is set; a queue whose read fails (etcd away) is left out of this
        scrape.
        """
        family = GaugeMetricFamily(
            "esi_jobs", "Jobs in each queue now", labels=["queue", "handler"]
        )
        if self.store is None:
            yield family
            return
        for queue, prefix in _QUEUES.items():
            try:
                entries = self.store.get_prefix(prefix)
            except EsiError:
                continue  # etcd away: the scrape shows no queue rather than failing
            tally = Tally(
                keys.parse_job_id(job_id).handler
                for e in entries
                if (job_id := keys.job_id_of(e.key))
            )
            for handler, count in sorted(tally.items()):
                family.add_metric([queue, handler], count)
        yield family


QUEUES = QueueCollector()
REGISTRY.register(QUEUES)
_lock = threading.Lock()


def serve_metrics(port: int, store: Store, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` (0: a free port), the queues read from ``store``.

    Returns the HTTP server (``server_address``, ``shutdown()``).
    """
    with _lock:
        QUEUES.store = store
        server, _thread = start_http_server(port, addr=host)
        return server
