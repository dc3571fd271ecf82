"""How long the audit trail is kept: a bound per resource and an age, kept by a sweep.

Audit records (``keys.audit_*``) stay after their resource is deleted, by design: who asked
for what is still wanted once the gateway is gone. Without a bound they grow for ever, so a
sweep, run by the leading job manager's process every ``interval`` seconds
(:class:`AuditSweeper`), removes whole versions (the request, the jobs and the stack of a
version go together):

- of each resource, all but the newest ``versions`` (:attr:`Retention.versions`, 20 by
  default; 0: no bound);
- every version requested more than ``max_age`` seconds ago (:attr:`Retention.max_age`, 90
  days; 0: no bound), except the newest version of a resource still in ``/config``: the
  trail of what is live now is never cut away.

A version's age is its request's ``at``; a version without a request record (written before
the audit trail kept them) has no age and only the count bounds it. etcd keeps what a
delete frees in its history until it is compacted: the sweep bounds the keys, an operator's
``etcdctl compact`` and ``etcdctl defrag`` (or etcd's ``--auto-compaction-retention``) give
the space back.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from nornir_esi.contract import keys
from nornir_esi.contract.records import AuditRequest
from nornir_esi.exceptions import EsiError, ValidationError
from nornir_esi.store.base import Entry, Op, Store, Txn

__all__ = ["DEFAULT_RETENTION", "AuditSweeper", "Retention", "SweepReport", "sweep"]

log = logging.getLogger(__name__)

# etcd refuses a transaction of more than 128 operations (--max-txn-ops).
_OPS_PER_TXN: Final = 100


@dataclass(frozen=True)
class Retention:
    """What the sweep keeps: ``versions`` per resource, ``max_age`` seconds (0: no bound)."""

    versions: int = 20
    max_age: float = 90 * 86400.0

    def __post_init__(self) -> None:
        if self.versions < 0:
            raise ValidationError("audit retention", "versions", "must be 0 or more")
        if self.max_age < 0:
            raise ValidationError("audit retention", "max_age", "must be 0 or more")


DEFAULT_RETENTION = Retention()


@dataclass(frozen=True)
class SweepReport:
    """What one sweep saw and removed."""

    versions_seen: int
    versions_removed: int
    keys_removed: int


def _age(request_value: str | None, now: datetime) -> float | None:
    if request_value is None:
        return None
    try:
        at = datetime.fromisoformat(AuditRequest.from_value(request_value).at)
    except (ValidationError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (now - at).total_seconds()


def _audit_entries(store: Store, page: int) -> Iterator[Entry]:
    """Every audit record, read ``page`` keys at a time."""
    after = ""
    while True:
        entries = store.get_prefix(keys.AUDIT_PREFIX, after=after, limit=page)
        yield from entries
        if len(entries) < page:
            return
        after = entries[-1].key


def sweep(
    store: Store, retention: Retention, now: datetime | None = None, *, page: int = 5000
) -> SweepReport:
    """Remove the audit versions ``retention`` does not keep (see the module docstring).

    The records are read ``page`` keys at a time.
    """
    now = now or datetime.now(UTC)
    versions: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    requests: dict[tuple[str, str, int], str] = {}
    for entry in _audit_entries(store, page):
        parsed = keys.parse_audit_key(entry.key)
        if parsed is None:
            continue
        resource = (parsed.resource_type, parsed.resource_id)
        counted = versions[resource]
        counted[parsed.version] = counted.get(parsed.version, 0) + 1
        if parsed.kind == "request":
            requests[(*resource, parsed.version)] = entry.value
    live: set[tuple[str, str]] = set()
    for kind in sorted({kind for kind, _ in versions}):
        for entry in store.get_prefix(keys.type_prefix(keys.CONFIG_PREFIX, kind)):
            config_key = keys.parse_config_key(entry.key)
            if config_key is not None:
                live.add((kind, config_key[1]))
    doomed: list[tuple[str, str, int]] = []
    keys_removed = 0
    for (kind, rid), counted in versions.items():
        newest_first = sorted(counted, reverse=True)
        for n, version in enumerate(newest_first):
            protected = n == 0 and (kind, rid) in live
            over_count = retention.versions and n >= retention.versions
            age = _age(requests.get((kind, rid, version)), now)
            too_old = retention.max_age and age is not None and age > retention.max_age
            if not protected and (over_count or too_old):
                doomed.append((kind, rid, version))
                keys_removed += counted[version]
    ops = [
        Op.delete(keys.audit_request(kind, rid, version).removesuffix("request"), prefix=True)
        for kind, rid, version in doomed
    ]
    for start in range(0, len(ops), _OPS_PER_TXN):
        store.txns([Txn([], ops[start : start + _OPS_PER_TXN])])
    return SweepReport(sum(len(c) for c in versions.values()), len(doomed), keys_removed)


class AuditSweeper:
    """Sweeps the audit trail each ``interval`` seconds, while this process leads."""

    def __init__(
        self,
        store: Store,
        retention: Retention,
        interval: float,
        leading: threading.Event,
    ) -> None:
        self.store = store
        self.retention = retention
        self.interval = interval
        self.leading = leading
        self.rounds = 0
        self.last: SweepReport | None = None

    def run(self, stop: threading.Event) -> None:
        """Sweep each ``interval`` seconds while leading, until ``stop``; a failure is logged."""
        while not stop.wait(self.interval):
            if not self.leading.is_set():
                continue
            try:
                self.last = sweep(self.store, self.retention)
            except EsiError as exc:
                log.warning("audit sweep failed: %s", exc)
                continue
            self.rounds += 1
            if self.last.versions_removed:
                log.info(
                    "audit sweep: %d of %d versions removed (%d keys)",
                    self.last.versions_removed,
                    self.last.versions_seen,
                    self.last.keys_removed,
                )
