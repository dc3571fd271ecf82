"""Prometheus metrics of the workers (prometheus_client), served by ``run --metrics-port``.

=====================================  ==================================================
metric                                 what
=====================================  ==================================================
``esi_jobs{queue,handler}``            jobs waiting, ready and working now (read from etcd
                                       at each scrape, so every process shows the fleet's)
``esi_jobs_finished_total{handler,     jobs this process ended, by outcome
action,outcome}``                      (``completed``/``failed``)
``esi_job_duration_seconds{handler}``  from claim to end, retries included
``esi_job_retries_total{handler}``     temporary errors retried (a router's lock, etcd
                                       away)
``esi_commit_duration_seconds          each ``commit confirmed`` and confirming commit of
{router,step}``                        the pair transaction
``esi_gateway_counter_packets/bytes    the gateway's firewall counters as the monitoring
{gateway,router,direction}``           worker last read them
=====================================  ==================================================
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from nornir_esi import keys
from nornir_esi.exceptions import EsiError
from nornir_esi.store.base import Store

__all__ = [
    "COMMIT_SECONDS",
    "GATEWAY_BYTES",
    "GATEWAY_PACKETS",
    "JOBS_FINISHED",
    "JOB_RETRIES",
    "JOB_SECONDS",
    "QUEUES",
    "QueueCollector",
    "serve_metrics",
]

JOBS_FINISHED = Counter(
    "esi_jobs_finished", "Jobs this process ended", ["handler", "action", "outcome"]
)
JOB_SECONDS = Histogram(
    "esi_job_duration_seconds",
    "Seconds from claim to end of a job, retries included",
    ["handler"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
JOB_RETRIES = Counter("esi_job_retries", "Temporary errors retried in place", ["handler"])
COMMIT_SECONDS = Histogram(
    "esi_commit_duration_seconds",
    "Seconds of one commit of the pair transaction on one router",
    ["router", "step"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GATEWAY_PACKETS = Gauge(
    "esi_gateway_counter_packets",
    "A gateway's firewall counter (packets), as last read",
    ["gateway", "router", "direction"],
)
GATEWAY_BYTES = Gauge(
    "esi_gateway_counter_bytes",
    "A gateway's firewall counter (bytes), as last read",
    ["gateway", "router", "direction"],
)

_QUEUES = {"waiting": keys.JOBS_WAITING, "ready": keys.JOBS_READY, "working": keys.JOBS_WORKING}


class QueueCollector(Collector):
    """``esi_jobs{queue,handler}`` from etcd at scrape time (none before a store is set)."""

    def __init__(self) -> None:
        self.store: Store | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
    """Serve ``/metrics`` on ``host:port`` (0: a free port), the queues read from ``store``;
    returns the HTTP server (``server_address``, ``shutdown()``)."""
    with _lock:
        QUEUES.store = store
        server, _thread = start_http_server(port, addr=host)
        return server
