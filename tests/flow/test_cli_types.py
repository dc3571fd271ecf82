"""``nornir-esi`` for every resource type and every error class a user can hit, on real etcd.

The issue's acceptance asks that the API and CLI tests cover every resource type and error
class; ``tests/test_api.py`` does it for the API, this file completes the CLI side. Every
test here runs the command line in-process (click's runner) without a job manager: states
stay pending, so what is asserted is ``/config`` (and the whole keyspace, before and after,
for a refusal).

Which file covers what of the command line:

- ``tests/flow/test_cli.py``: ``apply``/``get``/``run``/``wait`` end to end as subprocesses
  with a running service; ``apply`` of bad files (an edge_router's ip, a gateway's vlan_id
  out of range or not digits, a body that is no object, no YAML, a scalar): exit 2,
  nothing written; no etcd endpoints: exit 2; an unreachable etcd for ``get``: exit 3;
  ``plan``/``check``/``repair``; ``status``/``jobs`` with a finished and a failed workflow.
- ``tests/flow/test_delete.py``: ``delete`` refusals (an ha_interface the gateway uses, an
  unknown id, TYPE ID pairs, ``--file`` with ids), ``delete --file``.
- ``tests/flow/test_secrets.py``: a plain password on create refused (exit 2), and the
  ``--plaintext-secrets`` switch.
- ``tests/flow/test_gateway_cli.py``, ``tests/flow/test_audit.py``: ``gateway ...``, ``audit``.
- this file, per resource type (parametrized over ``resources.RESOURCE_TYPES``): ``apply``
  creates, ``get`` shows, ``apply`` again is unchanged, a changed field is updated (version
  2), ``status TYPE --json`` lists it, ``wait`` reports no state, ``delete`` marks it;
  refusals naming the object and the field with nothing written: a bad value, an unknown
  field, a missing field, a wrong JSON kind, an id that is no lowercase UUID, an unknown
  reference and one to a resource of another type; deleting a referenced resource (the
  referrer named). Across types: an unknown type (``apply``, ``delete``, ``status``,
  ``wait``), an id that is no key part, a plain password on update and a malformed secret
  reference, a reference to a resource being deleted, a concurrent writer (exit 3, nothing
  of the batch written), an unreachable etcd for every command that reads or writes it
  (exit 3), ``wait`` not reaching the state (exit 1), usage errors (exit 2).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from nornir_esi.cli import main
from nornir_esi.contract import desired, keys, resources
from nornir_esi.contract.records import AuditRequest, ConfigRecord, State
from nornir_esi.service import ensure_heat_templates
from nornir_esi.store import EtcdStore
from nornir_esi.store.base import Entry, Store
from nornir_esi.testing.etcd import EtcdServer

from .conftest import INVENTORY

RESOURCES_FILE = INVENTORY / "resources.yaml"
GATEWAY_FILE = INVENTORY / "gateway.yaml"
ITEMS = (
    desired.load_file(RESOURCES_FILE)
    + desired.load_file(GATEWAY_FILE)
    + desired.load_file(INVENTORY / "family.yaml")
)
TYPES = sorted(resources.RESOURCE_TYPES)
GW = "internet_gateway"
GATEWAY = desired.load_file(GATEWAY_FILE)[0][1]
UNREACHABLE = "http://127.0.0.1:9"  # discard: nothing listens there in the test environment

# Per type, a field whose change is valid on its own (not just `description`).
CHANGES: dict[str, tuple[str, Any]] = {
    "edge_router": ("ssh_port", 22),
    "er_physical_interface": ("name", "ae1"),
    "ha_router": ("maximum_gateways", 1000),
    "ha_interface": ("restricted_vlans", "0-999,4094"),
    "internet_service": ("zone", "jp1-zone2"),
    "qos_option": ("bandwidth", "20"),
    "internet_gateway": ("maximum_static_routes", 16),
    # The family's functional fields are create-only (the origin's schemas): names change.
    "public_ip_pool": ("description", "the second block"),
    "public_ip": ("name", "renamed"),
    "network": ("admin_state_up", False),
    "subnet": ("gateway_ip", "172.16.101.254"),
    "gw_interface": ("name", "renamed"),
    "static_route": ("name", "renamed"),
}

# Per type, a bad value of one of its own fields and the reason it is refused.
BAD_VALUES: dict[str, tuple[str, Any, str]] = {
    "edge_router": ("ssh_port", 70000, "70000 is outside 1-65535"),
    "er_physical_interface": (
        "name",
        "ge-0/0",
        "'ge-0/0' is not a Junos physical interface name (ae0, ge-0/0/0, ...)",
    ),
    "ha_router": ("maximum_gateways", 0, "0 is below 1"),
    "ha_interface": ("link_type", "sideways", "'sideways' is not one of uplink|downlink"),
    "internet_service": (
        "inet_in_filter",
        "INET IN",
        "'INET IN' is not a Junos name ([A-Za-z0-9] then [A-Za-z0-9_.-/:])",
    ),
    "qos_option": ("bandwidth", "10M", "'10M' is not a string of digits"),
    "internet_gateway": (
        "vrf_name",
        "vrf.gw",
        "'vrf.gw' is not a routing-instance name ([A-Za-z0-9] then [A-Za-z0-9_-])",
    ),
    "public_ip_pool": ("submask_length", 40, "40 is outside 8-32"),
    "public_ip": ("submask_length", -1, "-1 is outside 0-128"),
    "network": ("plane", "control", "'control' is not one of storage|data"),
    "subnet": (
        "cidr",
        "172.16.101.1/24",
        "'172.16.101.1/24' has host bits set: the network is 172.16.101.0/24",
    ),
    "gw_interface": ("vrid", 0, "0 is outside 1-255"),
    "static_route": ("nexthop", "172.16.101", "'172.16.101' is not an IPv4 address"),
}


def _as_desired(type_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without what the service fills in (a public IP's block, a pool's state, ...)."""
    rtype = resources.RESOURCE_TYPES[type_name]
    filled = {f.name for f in rtype.fields.values() if f.computed}
    if type_name == "public_ip":
        filled.add("cidr")
    return {k: v for k, v in body.items() if k not in filled}


def _item(type_name: str) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
    """What a resource of ``type_name`` needs (every item before it) and its body."""
    n = next(i for i, (t, _) in enumerate(ITEMS) if t == type_name)
    return ITEMS[:n], dict(ITEMS[n][1])


def _after(type_name: str) -> list[tuple[str, dict[str, Any]]]:
    """The items after the first of ``type_name`` (what may refer to it)."""
    n = next(i for i, (t, _) in enumerate(ITEMS) if t == type_name)
    return ITEMS[n + 1 :]


def cli(etcd: EtcdServer | str | None, *args: str | Path) -> Result:
    """The command line in-process; ``--etcd`` appended unless ``etcd`` is None."""
    argv = [str(a) for a in args]
    if etcd is not None:
        argv += ["--etcd", etcd if isinstance(etcd, str) else etcd.endpoints]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def _write(path: Path, items: list[tuple[str, dict[str, Any]]]) -> Path:
    path.write_text(yaml.safe_dump([{"type": t, "body": b} for t, b in items]))
    return path


def _keyspace(store: Store) -> tuple[int, list[Entry]]:
    return store.revision(), store.get_prefix("")


def _shown(etcd: EtcdServer, type_name: str, rid: str) -> ConfigRecord:
    """The resource's record as ``nornir-esi get`` prints it."""
    result = cli(etcd, "get", keys.config(type_name, rid))
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert list(shown) == [keys.config(type_name, rid)]
    return ConfigRecord.from_value(shown[keys.config(type_name, rid)])


def _status_row(etcd: EtcdServer, type_name: str, rid: str) -> dict[str, Any]:
    result = cli(etcd, "status", type_name, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["type"] for r in rows} == {type_name}
    (row,) = [r for r in rows if r["id"] == rid]
    return dict(row)


def _refused(result: Result, code: int = 2) -> str:
    """The refusal's stderr, once checked: ``code``, nothing on stdout."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    return result.stderr


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No compatibility switch and no endpoints from the environment: only what we pass."""
    monkeypatch.delenv("ESI_PLAINTEXT_SECRETS", raising=False)
    monkeypatch.delenv("ESI_ETCD_ENDPOINTS", raising=False)
    yield


def test_the_tables_and_the_samples_cover_every_type() -> None:
    assert {t for t, _ in ITEMS} == set(resources.RESOURCE_TYPES)
    assert set(CHANGES) == set(resources.RESOURCE_TYPES) == set(BAD_VALUES)


# --- every type: create, show, unchanged, update, status, wait, delete ----------------------


@pytest.mark.parametrize("type_name", TYPES)
def test_apply_get_update_status_delete(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None, type_name: str
) -> None:
    needs, body = _item(type_name)
    desired.apply(store, needs)
    rid = body["id"]
    rtype = resources.RESOURCE_TYPES[type_name]

    def expected(version_body: dict[str, Any], status: str) -> dict[str, Any]:
        return {**version_body, "status": status} if rtype.has_status else version_body

    created = cli(etcd_server, "apply", _write(tmp_path / "v1.yaml", [(type_name, body)]))
    assert created.exit_code == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].split() == ["created", type_name, rid, "version", "1"]
    # A public IP's block is taken from its pool in the same transaction.
    pool = [f"updated public_ip_pool {_item('public_ip_pool')[1]['id']} version 2"]
    assert [" ".join(line.split()) for line in lines[1:]] == (
        pool if type_name == "public_ip" else []
    )
    record = _shown(etcd_server, type_name, rid)
    assert (record.version, record.marked_for_deletion) == (1, False)
    assert _as_desired(type_name, record.body) == expected(body, "PENDING_CREATE")

    revision = store.revision()
    again = cli(etcd_server, "apply", tmp_path / "v1.yaml")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.split() == ["unchanged", type_name, rid, "version", "1"]
    assert store.revision() == revision

    field, value = CHANGES[type_name]
    assert body.get(field) != value
    changed = {**body, field: value}
    updated = cli(etcd_server, "apply", _write(tmp_path / "v2.yaml", [(type_name, changed)]))
    assert updated.exit_code == 0, updated.stderr
    assert updated.stdout.split() == ["updated", type_name, rid, "version", "2"]
    record = _shown(etcd_server, type_name, rid)
    assert (record.version, record.marked_for_deletion) == (2, False)
    assert _as_desired(type_name, record.body) == expected(changed, "PENDING_UPDATE")

    row = _status_row(etcd_server, type_name, rid)
    assert (row["version"], row["deleting"], row["name"]) == (2, False, changed.get("name", ""))
    assert (row["worker_state"], row["state_version"], row["error"]) == ("", None, "")

    # No service runs here: no terminal state, exit 1 (--timeout 0: nothing is waited out).
    waited = cli(etcd_server, "wait", type_name, rid, "--until", "CREATE_COMPLETED", "--timeout", 0)
    assert waited.exit_code == 1
    assert waited.stderr == f"{type_name} {rid}: no terminal state within 0 s\n"

    deleted = cli(etcd_server, "delete", type_name, rid)
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.stdout == f"deleting {type_name} {rid} version 3\n"
    record = _shown(etcd_server, type_name, rid)
    assert (record.version, record.marked_for_deletion) == (3, True)
    assert _as_desired(type_name, record.body) == expected(changed, "PENDING_DELETE")
    row = _status_row(etcd_server, type_name, rid)
    assert (row["version"], row["deleting"]) == (3, True)

    # Each version written through the CLI says who asked, and how.
    for version, change in ((1, "created"), (2, "updated"), (3, "deleting")):
        entry = store.get(keys.audit_request(type_name, rid, version))
        assert entry is not None, version
        request = AuditRequest.from_value(entry.value)
        assert (request.via, request.change) == ("cli", change)


# --- ValidationError per type: the object, the field, nothing written -----------------------


def _bad_body_cases() -> list[Any]:
    cases = []
    for t in TYPES:
        body = _item(t)[1]
        rid = body["id"]
        field, value, reason = BAD_VALUES[t]
        obj = f"{t} {rid}"
        # The first required field past the common ones (the family's names are optional).
        fields = resources.RESOURCE_TYPES[t].fields.values()
        required = (
            "name"
            if resources.RESOURCE_TYPES[t].fields["name"].required
            else next(
                (f.name for f in fields if f.required and f.name not in ("id", "tenant_id")),
                "tenant_id",  # a network requires nothing else
            )
        )
        cases += [
            pytest.param(t, {field: value}, obj, field, reason, id=f"{t}-bad-{field}"),
            pytest.param(
                t, {"nmae": "x"}, obj, "nmae", f"is not a field of {t}", id=f"{t}-unknown-field"
            ),
            pytest.param(t, {required: None}, obj, required, "is missing", id=f"{t}-no-{required}"),
            pytest.param(
                t,
                {"tenant_id": 5},
                obj,
                "tenant_id",
                "must be a string, not integer",
                id=f"{t}-tenant-integer",
            ),
            # Without a valid id, the error names the resource by its name.
            pytest.param(
                t,
                {"id": rid.upper()},
                f"{t} {body['name']}" if body.get("name") else f"{t} (no id)",
                "id",
                f"{rid.upper()!r} is not a lowercase UUID",
                id=f"{t}-id-uppercase",
            ),
        ]
    return cases


def _reference_cases() -> list[Any]:
    cases = []
    for t in TYPES:
        rtype = resources.RESOURCE_TYPES[t]
        spec = next((f for f in rtype.fields.values() if f.target is not None), None)
        if spec is None:
            continue
        target = spec.target
        assert target is not None
        field = f"{spec.name}[0]" if spec.many else spec.name
        absent = str(uuid.uuid4())
        other = "ha_router" if target == "edge_router" else "edge_router"
        other_id = _item(other)[1]["id"]
        for kind, rid, reason in (
            ("absent", absent, f"references {target} {absent}, which does not exist"),
            ("other-type", other_id, f"{other_id} is of type {other}, not {target}"),
        ):
            value = [rid] if spec.many else rid
            cases.append(
                pytest.param(t, {spec.name: value}, field, reason, id=f"{t}-{spec.name}-{kind}")
            )
    return cases


def _apply_refused(
    store: Store, etcd: EtcdServer, tmp_path: Path, type_name: str, change: dict[str, Any]
) -> str:
    """Apply a bad ``type_name`` body, then what may refer to it (good), on its needs.

    Asserts exit 2 and that no key changed; returns stderr.
    """
    needs, body = _item(type_name)
    desired.apply(store, needs)
    bad = {k: v for k, v in {**body, **change}.items() if v is not None}
    path = _write(tmp_path / "bad.yaml", [(type_name, bad), *_after(type_name)])
    before = _keyspace(store)
    stderr = _refused(cli(etcd, "apply", path))
    assert _keyspace(store) == before
    assert store.get(keys.config(type_name, body["id"])) is None
    return stderr


@pytest.mark.parametrize(("type_name", "change", "obj", "field", "reason"), _bad_body_cases())
def test_a_bad_body_exits_2_naming_object_and_field(
    store: Store,
    etcd_server: EtcdServer,
    tmp_path: Path,
    quiet: None,
    type_name: str,
    change: dict[str, Any],
    obj: str,
    field: str,
    reason: str,
) -> None:
    stderr = _apply_refused(store, etcd_server, tmp_path, type_name, change)
    assert stderr == f"nornir-esi: {obj}: {field} {reason}\n"


def test_every_type_with_a_reference_has_reference_cases() -> None:
    with_refs = {t for t, rtype in resources.RESOURCE_TYPES.items() if rtype.relations}
    assert {p.values[0] for p in _reference_cases()} == with_refs


@pytest.mark.parametrize(("type_name", "change", "field", "reason"), _reference_cases())
def test_an_unknown_reference_exits_2_naming_the_field(
    store: Store,
    etcd_server: EtcdServer,
    tmp_path: Path,
    quiet: None,
    type_name: str,
    change: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    stderr = _apply_refused(store, etcd_server, tmp_path, type_name, change)
    assert stderr == f"nornir-esi: {type_name} {_item(type_name)[1]['id']}: {field} {reason}\n"


def test_a_reference_to_a_resource_being_deleted_exits_2(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None
) -> None:
    needs, body = _item(GW)
    desired.apply(store, needs)
    qos = _item("qos_option")[1]["id"]
    desired.delete(store, [("qos_option", qos)])
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, "apply", GATEWAY_FILE))
    assert stderr == (
        f"nornir-esi: {GW} {body['id']}: qos_option_id references qos_option {qos}, "
        "which does not exist\n"
    )
    assert _keyspace(store) == before


@pytest.mark.parametrize(
    "args",
    [
        ["delete", "edge_routers", GATEWAY["id"]],
        ["status", "edge_routers"],
        ["wait", "edge_routers", GATEWAY["id"], "--until", "CREATE_COMPLETED"],
    ],
    ids=["delete", "status", "wait"],
)
def test_an_unknown_type_exits_2(
    store: Store, etcd_server: EtcdServer, quiet: None, args: list[str]
) -> None:
    desired.apply(store, ITEMS)
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, *args))
    assert stderr == "nornir-esi: resource type 'edge_routers': is not a known resource type\n"
    assert _keyspace(store) == before


def test_an_unknown_type_in_a_file_exits_2(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None
) -> None:
    # A good batch, then one item of a type that does not exist: nothing of it is written.
    router = _item("edge_router")[1]
    path = tmp_path / "typo.yaml"
    path.write_text(
        yaml.safe_dump(
            [{"type": t, "body": b} for t, b in ITEMS] + [{"type": "edge_routers", "body": router}]
        )
    )
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, "apply", path))
    assert stderr.startswith(
        f"nornir-esi: resource {router['id']}: type 'edge_routers' is not one of "
    )
    assert "edge_router, er_physical_interface" in stderr
    assert _keyspace(store) == before


@pytest.mark.parametrize("command", ["delete", "wait"])
def test_an_id_that_is_no_key_part_exits_2(
    store: Store, etcd_server: EtcdServer, quiet: None, command: str
) -> None:
    desired.apply(store, ITEMS)
    before = _keyspace(store)
    extra = ["--until", "CREATE_COMPLETED"] if command == "wait" else []
    stderr = _refused(cli(etcd_server, command, "edge_router", "a/b", *extra))
    assert stderr == "nornir-esi: edge_router 'a/b': id is not a valid key part\n"
    assert _keyspace(store) == before


# --- secrets ---------------------------------------------------------------------------------


def test_a_plain_password_on_update_exits_2(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None
) -> None:
    """A router already in etcd with its reference, changed to a plain password in a batch
    whose other change (the HA router's description) is valid: nothing is written."""
    resources_only = ITEMS[:-1]
    desired.apply(store, resources_only)
    by_type = dict(reversed(resources_only))  # the first of each type
    ha_router = {**by_type["ha_router"], "description": "changed"}
    router = {**by_type["edge_router"], "password": "s3cret-Value"}
    path = _write(tmp_path / "plain.yaml", [("ha_router", ha_router), ("edge_router", router)])
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, "apply", path))
    assert stderr.startswith(
        f"nornir-esi: edge_router {router['id']}: password is a plain password, which would "
        "be stored in etcd"
    )
    assert "s3cret-Value" not in stderr
    assert _keyspace(store) == before


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ({"ref": "vault:mx"}, "unknown scheme 'vault'"),
        ({"ref": "env"}, "is not <scheme>:<name>"),
        ({"ref": "env:X", "value": "s3cret-Value"}, "a reference has exactly one key"),
    ],
    ids=["unknown-scheme", "no-name", "extra-key"],
)
def test_a_malformed_secret_reference_exits_2(
    store: Store,
    etcd_server: EtcdServer,
    tmp_path: Path,
    quiet: None,
    ref: dict[str, str],
    reason: str,
) -> None:
    stderr = _apply_refused(store, etcd_server, tmp_path, "edge_router", {"password": ref})
    rid = _item("edge_router")[1]["id"]
    assert stderr.startswith(f"nornir-esi: edge_router {rid}: password ")
    assert reason in stderr
    assert "s3cret-Value" not in stderr


# --- conflict: deleting what is still referenced ---------------------------------------------


def _referrers_in_items(type_name: str, rid: str) -> list[tuple[str, str, str]]:
    """``(field, referrer type, referrer id)`` of the sample items that refer to ``rid``,
    in the order the refusal names them (relation, then id)."""
    found = []
    for referrer_type, field in resources.referrers(type_name):
        for t, body in sorted(ITEMS, key=lambda item: item[1]["id"]):
            value = body.get(field)
            if t == referrer_type and rid in (value if isinstance(value, list) else [value]):
                found.append((field, t, body["id"]))
    return found


REFERENCED = [t for t in TYPES if _referrers_in_items(t, _item(t)[1]["id"])]


def test_every_type_that_can_be_referenced_is_referenced_in_the_samples() -> None:
    # References the service fills in (a public IP's pool, a route's public IP) are not in
    # the samples' bodies; tests/test_family_input.py deletes around them.
    given = {
        t
        for t in TYPES
        for referrer, field in resources.referrers(t)
        if not resources.RESOURCE_TYPES[referrer].fields[field].computed
    }
    assert set(REFERENCED) == given


@pytest.mark.parametrize("type_name", REFERENCED)
def test_deleting_a_referenced_resource_exits_2_naming_the_referrer(
    store: Store, etcd_server: EtcdServer, quiet: None, type_name: str
) -> None:
    desired.apply(store, ITEMS)
    rid = _item(type_name)[1]["id"]
    found = _referrers_in_items(type_name, rid)
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, "delete", type_name, rid))
    field, referrer_type, referrer_id = found[0]
    assert stderr.startswith(
        f"nornir-esi: {type_name} {rid}: {field} of {referrer_type} {referrer_id} "
        "still references it"
    )
    for field, referrer_type, referrer_id in found[1:]:
        assert f"{field} of {referrer_type} {referrer_id}" in stderr
    assert _keyspace(store) == before

    # Deleting whatever may refer to it (every later item) in the same command is accepted.
    rest = [part for t, body in _after(type_name) for part in (t, body["id"])]
    accepted = cli(etcd_server, "delete", type_name, rid, *rest)
    assert accepted.exit_code == 0, accepted.stderr
    assert accepted.stdout.splitlines()[0] == f"deleting {type_name} {rid} version 2"


# --- a concurrent writer: exit 3 (temporary), nothing of the command written -----------------


@pytest.fixture
def racing(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[Entry]:
    """Another writer puts a new version of the edge router between the command's reads and
    its write (once); the entries it wrote are listed."""
    router = _item("edge_router")[1]
    key = keys.config("edge_router", router["id"])
    real_txn = EtcdStore.txn
    written: list[Entry] = []

    def txn(self: EtcdStore, *args: Any, **kwargs: Any) -> Any:
        # The command's write (a read of several keys is a transaction too).
        success = kwargs.get("success", args[1] if len(args) > 1 else ())
        writes = any(op.kind != "get" for op in success)
        if self is not store and writes and not written:
            current = store.get(key)
            version = 1 if current is None else ConfigRecord.from_value(current.value).version + 1
            other = ConfigRecord(body={**router, "description": "theirs"}, version=version)
            store.put(key, other.to_json())
            entry = store.get(key)
            assert entry is not None
            written.append(entry)
        return real_txn(self, *args, **kwargs)

    monkeypatch.setattr(EtcdStore, "txn", txn)
    return written


def test_apply_racing_another_writer_exits_3(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None, racing: list[Entry]
) -> None:
    path = _write(tmp_path / "routers.yaml", ITEMS[:2])
    stderr = _refused(cli(etcd_server, "apply", path), code=3)
    assert stderr == ("nornir-esi: /config changed while the batch was validated; apply it again\n")
    # Only the other writer's version: neither router of the batch, no audit record.
    assert store.get_prefix("") == racing


def test_delete_racing_another_writer_exits_3(
    store: Store, etcd_server: EtcdServer, quiet: None, racing: list[Entry]
) -> None:
    router = _item("edge_router")[1]
    store.put(
        keys.config("edge_router", router["id"]), ConfigRecord(body=router, version=1).to_json()
    )
    stderr = _refused(cli(etcd_server, "delete", "edge_router", router["id"]), code=3)
    assert stderr == "nornir-esi: /config changed while the deletion was checked; delete again\n"
    assert store.get_prefix("") == racing
    assert not ConfigRecord.from_value(racing[0].value).marked_for_deletion


# --- etcd unreachable: exit 3 for every command that reads or writes it ----------------------


@pytest.mark.parametrize(
    "args",
    [
        ["apply", str(RESOURCES_FILE)],
        ["delete", GW, GATEWAY["id"]],
        ["delete", "--file", str(GATEWAY_FILE)],
        ["status"],
        ["status", GW, "--json"],
        ["jobs", "--json"],
        ["wait", GW, GATEWAY["id"], "--until", "CREATE_COMPLETED", "--timeout", "1"],
        ["gateway", "show", GATEWAY["id"]],
        ["gateway", "list", "--json"],
        ["gateway", "create", "-f", str(GATEWAY_FILE), "--no-wait"],
        ["gateway", "delete", GATEWAY["id"], "--no-wait"],
        ["audit", GW, GATEWAY["id"], "--no-routers"],
    ],
    ids=lambda args: "-".join(a for a in args[:3] if not a.startswith("/")),
)
def test_an_unreachable_etcd_exits_3(store: Store, quiet: None, args: list[str]) -> None:
    result = cli(UNREACHABLE, *args)
    stderr = _refused(result, code=3)
    assert stderr.startswith("nornir-esi: etcd: ")
    assert UNREACHABLE in stderr
    assert "Traceback" not in stderr


# --- wait: the state not reached, exit 1 -----------------------------------------------------


def test_wait_exits_1_unless_the_state_of_the_version_is_reached(
    store: Store, etcd_server: EtcdServer, quiet: None
) -> None:
    desired.apply(store, ITEMS)
    rid = GATEWAY["id"]
    until = ("--until", "CREATE_COMPLETED", "--timeout", "0")

    store.put(
        keys.state(GW, rid),
        State(worker_state="CREATE_FAILED", version=1, error="router said no").to_json(),
    )
    failed = cli(etcd_server, "wait", GW, rid, *until)
    assert failed.exit_code == 1
    assert failed.stdout == ""
    assert failed.stderr == f"{GW} {rid} version 1: CREATE_FAILED: router said no\n"

    store.put(keys.state(GW, rid), State(worker_state="CREATE_COMPLETED", version=1).to_json())
    done = cli(etcd_server, "wait", GW, rid, *until)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"{GW} {rid} version 1: CREATE_COMPLETED\n"

    # Version 2 in /config: the state of version 1 does not answer for it...
    desired.apply(store, [(GW, {**GATEWAY, "description": "v2"})])
    stale = cli(etcd_server, "wait", GW, rid, *until)
    assert stale.exit_code == 1
    assert stale.stderr == f"{GW} {rid}: no terminal state within 0 s\n"
    # ... unless version 1 is the one asked for.
    asked = cli(etcd_server, "wait", GW, rid, *until, "--version", "1")
    assert asked.exit_code == 0, asked.stderr


# --- usage errors: exit 2, before anything is read or written --------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply"], "Missing argument 'FILE'"),
        (["apply", "/nonexistent/resources.yaml"], "does not exist"),
        (["apply", str(RESOURCES_FILE), "--force"], "No such option '--force'"),
        (["get"], "Missing argument 'PREFIX'"),
        (["wait", GW, GATEWAY["id"]], "Missing option '--until'"),
        (
            ["wait", GW, GATEWAY["id"], "--until", "X", "--timeout", "soon"],
            "'soon' is not a valid float",
        ),
        (["wait", GW, GATEWAY["id"], "--until", "X", "--version", "two"], "'two' is not a valid"),
        (["status", GW, "extra"], "Got unexpected extra argument (extra)"),
        (["nonsense"], "No such command 'nonsense'"),
        (["plan", "a", "b", "c"], "plan takes FILE, or TYPE ID"),
        (["delete", GW, GATEWAY["id"], "edge_router"], "delete takes TYPE ID pairs"),
    ],
    ids=[
        "apply-no-file",
        "apply-missing-file",
        "apply-unknown-option",
        "get-no-prefix",
        "wait-no-until",
        "wait-bad-timeout",
        "wait-bad-version",
        "status-extra-argument",
        "unknown-command",
        "plan-three-arguments",
        "delete-odd-arguments",
    ],
)
def test_a_usage_error_exits_2(
    store: Store, etcd_server: EtcdServer, quiet: None, args: list[str], message: str
) -> None:
    desired.apply(store, ITEMS)
    before = _keyspace(store)
    stderr = _refused(cli(etcd_server, *args))
    assert message in stderr
    assert "Usage:" in stderr or "Try 'nornir-esi" in stderr or stderr.startswith("Error:")
    assert _keyspace(store) == before


# --- what `get` prints, applied back ---------------------------------------------------------


def _get_then_apply(store: Store, etcd: EtcdServer, tmp_path: Path) -> None:
    """``get /config/ > backup.json; apply backup.json``: every resource unchanged."""
    desired.apply(store, ITEMS)
    printed = cli(etcd, "get", "/config/")
    assert printed.exit_code == 0, printed.stderr
    path = tmp_path / "backup.json"
    path.write_text(printed.stdout)
    revision = store.revision()
    applied = cli(etcd, "apply", path)
    assert applied.exit_code == 0, applied.stderr
    assert [line.split() for line in applied.stdout.splitlines()] == [
        ["unchanged", t, b["id"], "version", "1"] for t, b in sorted(ITEMS, key=_key_order)
    ]
    assert store.revision() == revision


def _key_order(item: tuple[str, dict[str, Any]]) -> str:
    return keys.config(item[0], item[1]["id"])


def test_what_get_config_prints_applies_back_unchanged(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None
) -> None:
    _get_then_apply(store, etcd_server, tmp_path)


def test_what_get_config_prints_applies_back_with_the_heat_templates(
    store: Store, etcd_server: EtcdServer, tmp_path: Path, quiet: None
) -> None:
    ensure_heat_templates(store)  # what `nornir-esi run` writes first
    _get_then_apply(store, etcd_server, tmp_path)
