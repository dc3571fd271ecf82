"""Prometheus metrics of the workers (prometheus_client), served by ``run --metrics-port``.

The server is :func:`~nornir_esi.jobs.queue_metrics.serve_metrics`, which also adds
``esi_jobs``.

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

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "COMMIT_SECONDS",
    "GATEWAY_BYTES",
    "GATEWAY_PACKETS",
    "JOBS_FINISHED",
    "JOB_RETRIES",
    "JOB_SECONDS",
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
