"""Writing desired state: resources in, validated, versioned, ``/config`` out.

Every front door (CLI ``apply``, the HTTP API, NetBox) goes through :func:`apply`. A batch
is all or nothing: every body is validated first (a reference may point at another
resource of the same batch), then every change is written in ONE transaction that also
checks nothing changed meanwhile. A new resource gets version 1 and ``PENDING_CREATE``, a
changed one version + 1 and ``PENDING_UPDATE``, an unchanged one nothing.

:func:`delete` is the first step of the contract's two-step delete (CONTRACT section 5):
``/config`` keeps the body, gets version + 1, ``marked_for_deletion`` and
``PENDING_DELETE``; the job manager takes it from there and removes every key of the
resource once it is ``DELETE_COMPLETED``.

No secret is written: a router's ``password`` goes to ``/config`` as a reference
(``{"ref": "env:NAME"}``, :mod:`nornir_esi.contract.secrets`) that the worker resolves; a plain
one is refused unless the compatibility switch is on (``plaintext_secrets=True`` or
``ESI_PLAINTEXT_SECRETS=1``), which writes it as the original did.

Both take ``requested_by``, the :class:`Requester` the front door vouches for (the API
token's name, the OS user, the NetBox user and request id); each version written then gets
its audit record (``keys.audit_request``) in the same transaction, so a version never
exists without it.

Input files are YAML or JSON: a list of ``{type, body}``, or a map of ``/config`` keys to
records (what ``nornir-esi get /config/`` prints).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from nornir_esi.contract import family, keys, secrets
from nornir_esi.contract.config import ConfigLookup, configs_of
from nornir_esi.contract.records import AUDIT_VIAS, AuditRequest, ConfigRecord, utc_now
from nornir_esi.contract.resources import (
    RESOURCE_TYPES,
    object_name,
    referrers,
    secret_fields,
    validate,
)
from nornir_esi.exceptions import ConflictError, TemporaryError, ValidationError
from nornir_esi.store.base import Compare, Entry, Op, Store, get_many

__all__ = ["Change", "Requester", "apply", "delete", "load_file", "parse_items", "validate_batch"]

# `status` is the API's view of progress, not desired state: a body that differs only in
# it is unchanged.
_VOLATILE = frozenset({"status"})


@dataclass(frozen=True)
class Change:
    """What :func:`apply` or :func:`delete` did to one resource."""

    resource_type: str
    resource_id: str
    outcome: Literal["created", "updated", "unchanged", "deleting"]
    version: int


@dataclass(frozen=True)
class Requester:
    """Who asks for a change, and through which front door (``api``, ``cli``, ``netbox``).

    ``principal``: the API token's name, the OS user, the NetBox user; ``request_id``: the
    door's id of the request, ``""`` when it has none.
    """

    via: str
    principal: str
    request_id: str = ""

    def __post_init__(self) -> None:
        if self.via not in AUDIT_VIAS:
            raise ValidationError("requester", "via", f"{self.via!r} is not one of {AUDIT_VIAS}")

    def record(self, change: str) -> AuditRequest:
        """The audit record of a version this requester asked for, stamped now."""
        return AuditRequest(self.via, self.principal, self.request_id, change, utc_now())


def _audited(ops: list[Op], requested_by: Requester | None, change: Change) -> None:
    if requested_by is not None:
        key = keys.audit_request(change.resource_type, change.resource_id, change.version)
        ops.append(Op.put(key, requested_by.record(change.outcome).to_json()))


def load_file(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """``(type, body)`` pairs from a YAML or JSON file."""
    source = f"file {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(source, "", f"cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(source, "", f"is not YAML or JSON: {exc}") from exc
    return parse_items(data, source)


def parse_items(data: object, source: str = "input") -> list[tuple[str, dict[str, Any]]]:
    """``(type, body)`` pairs from a list of ``{type, body}`` or a map of ``/config`` keys.

    A map is what ``nornir-esi get /config/`` prints; its heat-template records
    (``/config/v2.0/heat_templates/``) are skipped: they are no resources, and ``run``
    writes the shipped ones itself.
    """
    items: list[tuple[str, dict[str, Any]]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).startswith(keys.HEAT_TEMPLATES_PREFIX):
                continue
            parsed = keys.parse_config_key(str(key))
            if parsed is None:
                raise ValidationError(
                    source, str(key), f"is not a {keys.CONFIG_PREFIX}<plural>/<id> key"
                )
            items.append((parsed[0], ConfigRecord.from_value(value).body))
        return items
    if not isinstance(data, list):
        raise ValidationError(source, "", "must be a list of {type, body} or a map of keys")
    for n, item in enumerate(data, 1):
        if not isinstance(item, Mapping) or "type" not in item or "body" not in item:
            raise ValidationError(source, f"item {n}", "needs `type` and `body`")
        body = item["body"]
        if not isinstance(body, Mapping):
            raise ValidationError(f"{source} item {n}", "body", "must be an object")
        items.append((str(item["type"]), dict(body)))
    return items


def _desired_part(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _VOLATILE}


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return _desired_part(a) == _desired_part(b)


def validate_batch(
    store: Store, items: Iterable[tuple[str, Mapping[str, Any]]]
) -> tuple[list[tuple[str, dict[str, Any]]], ConfigLookup]:
    """Every body of ``items`` validated, and a lookup that sees the batch over ``/config``.

    A reference may point at another resource of the same batch. Nothing is written.
    """
    batch = list(items)
    pending: dict[tuple[str, str], Mapping[str, Any]] = {}
    for resource_type, body in batch:
        # A body that is not an object is validate()'s to refuse, with a ValidationError.
        rid = body.get("id", "?") if isinstance(body, Mapping) else "?"
        if resource_type not in RESOURCE_TYPES:
            raise ValidationError(
                f"resource {rid}",
                "type",
                f"{resource_type!r} is not one of {', '.join(sorted(RESOURCE_TYPES))}",
            )
        if isinstance(body, Mapping) and isinstance(rid, str):
            pending[(resource_type, rid)] = body

    # Each resource read once per batch (a hundred gateways share their routers and
    # options): the writer's transaction requires that none changed since anyway. One
    # being deleted is not there: a new reference to it would dangle once it is gone.
    lookup = ConfigLookup(store, pending=pending, live_only=True)

    clean = [
        (t, validate(t, dict(body) if isinstance(body, Mapping) else body, lookup))
        for t, body in batch
    ]
    # The family's rules across bodies, and what the service fills in (a public IP's block
    # and its pool's new state, a route's public IP).
    return family.complete(clean, lookup), lookup


def apply(
    store: Store,
    items: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    requested_by: Requester | None = None,
    plaintext_secrets: bool | None = None,
    expected: Mapping[tuple[str, str], int] | None = None,
    written_since: Mapping[str, int] | None = None,
) -> list[Change]:
    """Validate ``items`` and write what changed, all in one transaction.

    The transaction also writes the audit record of each new version, when ``requested_by``
    says who asked.

    ``expected`` maps ``(type, id)`` to the ``/config`` key's etcd revision the caller
    based its change on (0: the resource must not exist): a resource found otherwise is a
    ConflictError and nothing is written, so a create never overwrites what another
    request created meanwhile, nor an update what another changed.

    ``written_since`` maps a resource type to a revision: the transaction fails (a
    TemporaryError, nothing written) when a ``/config`` key of that type was written after
    it, so what the caller chose from that revision (a gateway's free VLAN) is still free.

    A secret field (a router's ``password``) to be written as a plain string is refused
    (ValidationError naming the object and the field; nothing is written) unless the
    compatibility switch is on: ``plaintext_secrets``, else ``$ESI_PLAINTEXT_SECRETS``
    (:func:`nornir_esi.contract.secrets.plaintext_allowed`). An unchanged resource is not written,
    so data the original stored stays readable either way.
    """
    items = list(items)
    # A batch that allocates public IP blocks races other allocations on the same pool: the
    # transaction that lost (its pool changed since it was read) is validated again, so
    # blocks are taken afresh, and never twice.
    allocating = any(kind == "public_ip" for kind, _ in items)
    for attempt in range(_ALLOCATION_ATTEMPTS if allocating else 1):
        try:
            return _apply_once(
                store,
                items,
                requested_by=requested_by,
                plaintext_secrets=plaintext_secrets,
                expected=expected,
                written_since=written_since,
            )
        except TemporaryError:
            if attempt + 1 >= (_ALLOCATION_ATTEMPTS if allocating else 1):
                raise
            # Back off, randomly, so the racing batches stop meeting at the same revision.
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")  # pragma: no cover


# How often a batch that allocates public IP blocks is tried against concurrent ones.
_ALLOCATION_ATTEMPTS = 20


def _apply_once(
    store: Store,
    items: list[tuple[str, Mapping[str, Any]]],
    *,
    requested_by: Requester | None,
    plaintext_secrets: bool | None,
    expected: Mapping[tuple[str, str], int] | None,
    written_since: Mapping[str, int] | None = None,
) -> list[Change]:
    validated_at = store.revision()
    batch, _ = validate_batch(store, items)
    plaintext_ok = secrets.plaintext_allowed(plaintext_secrets)
    # A resource the batch references, marked for deletion after it was validated
    # (another request), fails the transaction: no key of the referenced types written
    # since.
    referenced = {t for kind, _ in batch for t in RESOURCE_TYPES[kind].relations.values()}
    compare: list[Compare] = [
        Compare.none_written_since(keys.type_prefix(keys.CONFIG_PREFIX, target), validated_at)
        for target in sorted(referenced)
    ]
    compare.extend(
        Compare.none_written_since(keys.type_prefix(keys.CONFIG_PREFIX, kind), revision)
        for kind, revision in sorted((written_since or {}).items())
    )
    ops: list[Op] = []
    changes: list[Change] = []
    batch_keys = [keys.config(t, str(clean["id"])) for t, clean in batch]
    for (resource_type, clean), key, current_entry in zip(
        batch, batch_keys, get_many(store, batch_keys), strict=True
    ):
        resource_id = str(clean["id"])
        current = None if current_entry is None else ConfigRecord.from_value(current_entry.value)
        if expected is not None and (resource_type, resource_id) in expected:
            _check_expected(
                resource_type, clean, current_entry, expected[(resource_type, resource_id)]
            )
        if current is not None and not current.marked_for_deletion and _same(current.body, clean):
            changes.append(Change(resource_type, resource_id, "unchanged", current.version))
            continue
        if not plaintext_ok:
            _refuse_plaintext(resource_type, clean)
        version = 1 if current is None else current.version + 1
        status = "PENDING_CREATE" if current is None else "PENDING_UPDATE"
        body = {**clean, "status": status} if RESOURCE_TYPES[resource_type].has_status else clean
        record = ConfigRecord(body=body, version=version, marked_for_deletion=False)
        compare.append(
            Compare.absent(key)
            if current_entry is None
            else Compare.unchanged_since(key, current_entry.mod_revision)
        )
        ops.append(Op.put(key, record.to_json()))
        changes.append(
            Change(resource_type, resource_id, "created" if current is None else "updated", version)
        )
        _audited(ops, requested_by, changes[-1])
    if ops and not store.txn(compare, ops).succeeded:
        raise TemporaryError(
            "/config changed while the batch was validated; apply it again", delay=0.1
        )
    return changes


def _check_expected(
    resource_type: str, body: Mapping[str, Any], entry: Entry | None, revision: int
) -> None:
    found = 0 if entry is None else entry.mod_revision
    if found == revision:
        return
    obj = object_name(resource_type, body)
    if revision == 0:
        raise ConflictError(obj, "id", "already exists")
    if entry is None:
        raise ConflictError(obj, "", "was deleted since it was read")
    raise ConflictError(obj, "", "changed since it was read (another request came first)")


def _refuse_plaintext(resource_type: str, body: Mapping[str, Any]) -> None:
    for field in secret_fields(resource_type):
        if isinstance(body.get(field), str):
            raise ValidationError(
                object_name(resource_type, body),
                field,
                "is a plain password, which would be stored in etcd; give "
                '{"ref": "env:NAME"} or {"ref": "file:PATH"} '
                f"(or set {secrets.PLAINTEXT_ENV}=1 to store it as the original did)",
            )


def delete(
    store: Store, items: Iterable[tuple[str, str]], *, requested_by: Requester | None = None
) -> list[Change]:
    """Mark ``(type, id)`` resources for deletion, all in one transaction.

    Each must exist. One still referenced by a resource that is neither in the batch nor
    itself marked for deletion is refused: the batch may hold a resource and everything
    that refers to it, in any order. One already marked is ``unchanged``.
    """
    wanted: list[tuple[str, str]] = []
    for type_name, resource_id in items:
        # An unknown type, or an id that is no key part, is a ValidationError here.
        keys.config(type_name, resource_id)
        if (type_name, resource_id) not in wanted:
            wanted.append((type_name, resource_id))
    batch = set(wanted)

    compare: list[Compare] = []
    ops: list[Op] = []
    changes: list[Change] = []
    marking: list[tuple[str, str]] = []
    for type_name, resource_id in wanted:
        key = keys.config(type_name, resource_id)
        entry = store.get(key)
        if entry is None:
            raise ValidationError(f"{type_name} {resource_id}", "", "does not exist")
        current = ConfigRecord.from_value(entry.value)
        if current.marked_for_deletion:
            changes.append(Change(type_name, resource_id, "unchanged", current.version))
            continue
        body = dict(current.body)
        if RESOURCE_TYPES[type_name].has_status:
            body["status"] = "PENDING_DELETE"
        record = ConfigRecord(body=body, version=current.version + 1, marked_for_deletion=True)
        compare.append(Compare.unchanged_since(key, entry.mod_revision))
        ops.append(Op.put(key, record.to_json()))
        changes.append(Change(type_name, resource_id, "deleting", record.version))
        _audited(ops, requested_by, changes[-1])
        marking.append((type_name, resource_id))

    checked_at = store.revision()
    _refuse_referenced(store, marking, batch)
    family.refuse_delete(ConfigLookup(store, live_only=True), marking, batch)
    # A referrer written after the check (another request) fails the transaction.
    compare += [
        Compare.none_written_since(keys.type_prefix(keys.CONFIG_PREFIX, referrer), checked_at)
        for referrer in sorted(
            {r for t, _ in marking for r, _ in referrers(t)}
            | {family.NEEDED_BY[t] for t, _ in marking if t in family.NEEDED_BY}
        )
    ]
    if ops and not store.txn(compare, ops).succeeded:
        raise TemporaryError(
            "/config changed while the deletion was checked; delete again", delay=0.1
        )
    return changes


def _refuse_referenced(
    store: Store, marking: list[tuple[str, str]], batch: set[tuple[str, str]]
) -> None:
    """Raise if a resource that stays refers to one of ``marking``.

    A referrer written between this read and the delete's transaction fails that
    transaction: it requires that no key of the referring types was written since.
    """
    configs: dict[str, list[tuple[str, ConfigRecord]]] = {}

    def config_of(type_name: str) -> list[tuple[str, ConfigRecord]]:
        if type_name not in configs:
            configs[type_name] = configs_of(store, type_name)
        return configs[type_name]

    for target_type, target_id in marking:
        # Every referrer that stays, so one refusal names all that must go first.
        found: list[str] = []
        first_field = ""
        for referrer_type, field in referrers(target_type):
            for referrer_id, record in config_of(referrer_type):
                # A referrer on its way out (marked, or in this batch) holds nothing up.
                if record.marked_for_deletion or (referrer_type, referrer_id) in batch:
                    continue
                value = record.body.get(field)
                # A list relation (internet_service.downlink_interfaces) counts too.
                if target_id in (value if isinstance(value, list) else [value]):
                    first_field = first_field or field
                    found.append(f"{field} of {referrer_type} {referrer_id}")
        if found:
            others = found[1:_MAX_NAMED]
            more = len(found) - _MAX_NAMED
            reason = found[0].removeprefix(first_field + " ") + " still references it"
            if others:
                reason += f" (and {', '.join(others)}{f' and {more} more' if more > 0 else ''})"
            raise ValidationError(f"{target_type} {target_id}", first_field, reason)


# Enough referrers for a refusal to tell what to delete first, few enough to read.
_MAX_NAMED = 5
