"""The workers' Prometheus metrics, scraped over HTTP while the seed's gateway is created."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from nornir_esi.contract import desired, keys
from nornir_esi.doors.waiting import wait_for_state
from nornir_esi.jobs.queue_metrics import serve_metrics
from nornir_esi.store.base import Store

from .conftest import INVENTORY, ROUTERS


@pytest.fixture
def metrics_url(service_store: Store) -> Iterator[str]:
    server = serve_metrics(0, service_store)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_of_a_gateway_create(service_store: Store, metrics_url: str) -> None:
    store = service_store
    before = _scrape(metrics_url)
    resources = desired.load_file(INVENTORY / "resources.yaml")
    ((gw_type, gateway),) = desired.load_file(INVENTORY / "gateway.yaml")
    desired.apply(store, resources)
    desired.apply(store, [(gw_type, gateway)])
    state = wait_for_state(store, gw_type, gateway["id"], timeout=60)
    assert state is not None and state.worker_state == "CREATE_COMPLETED", state
    after = _scrape(metrics_url)

    finished = "esi_jobs_finished_total"
    done = {"handler": "heat_worker", "action": "create", "outcome": "completed"}
    assert _value(after, finished, **done) == _value(before, finished, **done) + 1
    duration = "esi_job_duration_seconds_count"
    assert _value(after, duration, handler="heat_worker") > _value(
        before, duration, handler="heat_worker"
    )
    for router in ROUTERS.values():
        for step in ("commit confirmed", "confirm"):
            commits = "esi_commit_duration_seconds_count"
            assert _value(after, commits, router=router, step=step) >= 1, (router, step)
        for direction in ("in", "out"):
            key = (
                "esi_gateway_counter_packets",
                tuple(
                    sorted(
                        {"gateway": gateway["id"], "router": router, "direction": direction}.items()
                    )
                ),
            )
            assert key in after, key

    # The queues are read from etcd at each scrape: a job parked in /jobs/waiting shows.
    job_id = keys.job_id("create", "heat_worker", gw_type, gateway["id"], 9, "zzzzz")
    store.put(keys.job_waiting(job_id), "")
    try:
        queued = _scrape(metrics_url)
        assert _value(queued, "esi_jobs", queue="waiting", handler="heat_worker") == 1
        assert _value(queued, "esi_jobs", queue="ready", handler="heat_worker") == 0
    finally:
        store.delete(keys.job_waiting(job_id))
