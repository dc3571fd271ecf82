"""The audit trail's bound: versions per resource and age, kept by a sweep on a real etcd."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from nornir_esi.contract import keys
from nornir_esi.contract.records import AuditRequest, ConfigRecord
from nornir_esi.exceptions import ValidationError
from nornir_esi.jobs.retention import AuditSweeper, Retention, sweep
from nornir_esi.store.base import Store
from tests.store.helpers import eventually

GW = "internet_gateway"
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
DAY = 86400.0


def _version(store: Store, rid: str, version: int, days_ago: float | None) -> None:
    """One audit version: its request (unless ``days_ago`` is None), a job and a stack."""
    if days_ago is not None:
        at = (NOW - timedelta(days=days_ago)).isoformat()
        request = AuditRequest("api", "alice", "r-1", "updated", at)
        store.put(keys.audit_request(GW, rid, version), request.to_json())
    store.put(
        keys.audit_jobs(GW, rid, version) + f"create:heat_worker:{GW}:{rid}:{version}:x", "{}"
    )
    store.put(keys.audit_stack(GW, rid, version), "{}")


def _versions(store: Store, rid: str) -> list[int]:
    found = {
        parsed.version
        for entry in store.get_prefix(keys.audit_prefix(GW, rid))
        if (parsed := keys.parse_audit_key(entry.key)) is not None
    }
    return sorted(found)


def _live(store: Store, rid: str) -> None:
    record = ConfigRecord(body={"id": rid}, version=1, marked_for_deletion=False)
    store.put(keys.config(GW, rid), record.to_json())


def test_each_resource_keeps_its_newest_versions(store: Store) -> None:
    rid = str(uuid.uuid4())
    for version in range(1, 26):
        _version(store, rid, version, days_ago=1)
    report = sweep(store, Retention(versions=20, max_age=0), NOW)
    assert _versions(store, rid) == list(range(6, 26))
    assert (report.versions_seen, report.versions_removed, report.keys_removed) == (25, 5, 15)
    # Whole versions go: no job or stack of a removed version is left.
    assert not store.get_prefix(keys.audit_prefix(GW, rid) + "5/")


def test_old_versions_go_but_a_live_resources_newest(store: Store) -> None:
    gone, live = str(uuid.uuid4()), str(uuid.uuid4())
    for rid in (gone, live):
        _version(store, rid, 1, days_ago=200)
        _version(store, rid, 2, days_ago=120)
        _version(store, rid, 3, days_ago=10)
    _live(store, live)
    late = str(uuid.uuid4())
    _version(store, late, 1, days_ago=150)
    _version(store, late, 2, days_ago=100)
    _live(store, late)
    sweep(store, Retention(versions=0, max_age=90 * DAY), NOW)
    assert _versions(store, gone) == [3]
    assert _versions(store, live) == [3]
    # Its newest is older than the bound, but the resource lives: its trail is kept.
    assert _versions(store, late) == [2]
    assert store.get(keys.config(GW, live)) is not None  # nothing else is touched


def test_a_version_without_a_request_is_bounded_by_count_only(store: Store) -> None:
    rid = str(uuid.uuid4())
    for version in range(1, 4):
        _version(store, rid, version, days_ago=None)
    sweep(store, Retention(versions=0, max_age=1.0), NOW)
    assert _versions(store, rid) == [1, 2, 3]
    sweep(store, Retention(versions=1, max_age=1.0), NOW)
    assert _versions(store, rid) == [3]


def test_a_large_sweep_spans_transactions(store: Store) -> None:
    rids = [str(uuid.uuid4()) for _ in range(150)]
    for rid in rids:
        _version(store, rid, 1, days_ago=365)
        _version(store, rid, 2, days_ago=365)
    # Read seven keys at a time: pages end inside a version and inside a resource.
    report = sweep(store, Retention(versions=20, max_age=30 * DAY), NOW, page=7)
    assert (report.versions_seen, report.versions_removed) == (300, 300)
    assert store.get_prefix(keys.AUDIT_PREFIX) == []


def test_bounds_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match="versions must be 0 or more"):
        Retention(versions=-1)


def test_the_sweeper_sweeps_once_leading(store: Store) -> None:
    rid = str(uuid.uuid4())
    for version in range(1, 4):
        _version(store, rid, version, days_ago=1)
    leading, stop = threading.Event(), threading.Event()
    sweeper = AuditSweeper(store, Retention(versions=1, max_age=0), 0.05, leading)
    thread = threading.Thread(target=sweeper.run, args=(stop,))
    thread.start()
    try:
        leading.set()
        eventually(lambda: sweeper.rounds > 0, timeout=10, what="a sweep")
        assert _versions(store, rid) == [3]
        assert sweeper.last is not None and sweeper.last.versions_removed == 2
    finally:
        stop.set()
        thread.join(timeout=10)
