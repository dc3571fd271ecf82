"""NetBox -> ``/config``: the routers, interfaces, pairs and HA interfaces NetBox holds.

They are written as ``/config`` versions through :func:`nornir_esi.contract.desired.apply`.

Idempotent: an object NetBox did not change writes nothing. Fields NetBox has no place
for are kept from the current ``/config`` body (a router's login and password, the
counters of pairs and HA interfaces), or taken from :class:`SyncOptions` for a new
resource: a new router's password is written as a secret reference (``{"ref":
"env:ESI_ROUTER_PASSWORD"}``, resolved by the workers), its value only with the
compatibility switch. What a sync wrote is remembered under ``/esi-worker/netbox/v2.0/`` (our
extension of the contract): a resource NetBox no longer holds is deleted (the contract's
two-step delete) only when a sync created it, so resources applied from files are never
touched. A deletion still referenced (a router whose pair still exists) is refused for
that resource and reported; the rest of the sync goes on.

Reads are one paginated list per NetBox model (never one request per device), so a
sync of a thousand routers is a handful of requests.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornir_esi.contract import desired, keys
from nornir_esi.contract.config import configs_of
from nornir_esi.contract.resources import dependency_order
from nornir_esi.exceptions import ValidationError
from nornir_esi.netbox.schema import DEFAULT_NETCONF_PORT, EDGE_ROUTER_ROLE, NETCONF_SERVICE
from nornir_esi.store.base import Op, Store

__all__ = [
    "NETBOX_PREFIX",
    "SyncOptions",
    "SyncReport",
    "read_graph",
    "resource_id",
    "service_port",
    "sync",
]

log = logging.getLogger(__name__)

# Our extension of the contract: which /config resources a NetBox sync wrote (spelled in
# ``keys``; named here too for the callers that read what a sync remembers).
NETBOX_PREFIX = keys.NETBOX_PREFIX
# Ids derived from NetBox ids: uuid5 of "<model>:<pk>" in this namespace.
_NAMESPACE = uuid.UUID("6f1c1b0e-7d1e-4c55-9a53-2b7f0e5d9a41")
# etcd refuses transactions of more than 128 operations by default; each change is two
# (its /config version and that version's audit record).
_CHUNK = 60
_IDS_PER_REQUEST = 200
_ALL_VLANS = (0, 4094)
_MAPPED_TYPES = ("edge_router", "er_physical_interface", "ha_router", "ha_interface")


@dataclass(frozen=True)
class SyncOptions:
    """What NetBox does not hold, for resources it creates: NETCONF login, counters' defaults.

    The routers' NETCONF login (secrets never live in NetBox) and the defaults of counters.

    ``password`` is a secret reference (``{"ref": "env:ESI_ROUTER_PASSWORD"}``: the workers
    resolve it) or, with ``plaintext_secrets`` (the compatibility switch, see
    :func:`nornir_esi.contract.desired.apply`), the password itself, written as the original did.
    """

    login: str = "esi"
    password: str | Mapping[str, str] = ""
    maximum_bandwidth: int = 500
    plaintext_secrets: bool | None = None


@dataclass
class SyncReport:
    """What a sync did, resource by resource (``"<type> <id>"``), by outcome.

    ``created``, ``updated``, ``unchanged``: what the writes did; ``deleting``: marked for
    deletion, NetBox no longer holding them; ``refused``: a deletion refused, with the
    reason (the resource still referenced).
    """

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleting: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        """The lists by name, for JSON."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleting": self.deleting,
            "refused": self.refused,
        }


def provenance_key(resource_type: str, resource_id: str) -> str:
    return keys.netbox_synced(resource_type, resource_id)


def resource_id(model: str, record: Any) -> str:
    """The resource id of a NetBox object: its ``esi_id`` custom field, else derived."""
    custom = _custom(record).get("esi_id")
    if custom:
        return str(custom)
    return str(uuid.uuid5(_NAMESPACE, f"{model}:{record.id}"))


def _custom(record: Any) -> dict[str, Any]:
    return dict(getattr(record, "custom_fields", None) or {})


def _ref_id(value: Any) -> int | None:
    """The NetBox id of a nested object, an object custom field, or None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return int(value["id"])
    if isinstance(value, int):
        return value
    return int(value.id)


def service_port(service: Any) -> int | None:
    """The TCP port of a NetBox service: its first ``tcp/N`` port mapping, else ``ports``.

    Port mappings are NetBox 4.7+; the legacy ``ports`` are deprecated in 4.7, gone from the
    API in 5.0.
    """
    for mapping in getattr(service, "port_mappings", None) or []:
        protocol, _, port = str(mapping).partition("/")
        if protocol.lower() == "tcp" and port.isdigit():
            return int(port)
    ports = getattr(service, "ports", None) or []
    return int(ports[0]) if ports else None


def _address(value: Any) -> str:
    return str(value).split("/")[0]


def _complement(ranges: Iterable[Sequence[int]]) -> str:
    """The VLAN ids outside ``ranges`` (inclusive pairs), within 0-4094, as ``a-b,c``."""
    allowed = sorted((int(lo), int(hi)) for lo, hi in ranges)
    out: list[str] = []
    nxt = _ALL_VLANS[0]
    for lo, hi in allowed:
        if lo > nxt:
            out.append(f"{nxt}-{lo - 1}" if lo - 1 > nxt else str(nxt))
        nxt = max(nxt, hi + 1)
    if nxt <= _ALL_VLANS[1]:
        out.append(f"{nxt}-{_ALL_VLANS[1]}" if _ALL_VLANS[1] > nxt else str(nxt))
    return ",".join(out)


def _vid_ranges(group: Any) -> list[tuple[int, int]]:
    ranges = getattr(group, "vid_ranges", None) or []
    out = []
    for r in ranges:
        lo, hi = (r[0], r[1]) if isinstance(r, list | tuple) else (r["lower"], r["upper"] - 1)
        out.append((int(lo), int(hi)))
    return out or [(1, 4094)]


class _Graph:
    """The NetBox objects of the mapping, read with one list request per model."""

    def __init__(self, nb: Any) -> None:
        self.devices = {d.id: d for d in nb.dcim.devices.filter(role=EDGE_ROUTER_ROLE)}
        self.tenants = {t.id: t for t in nb.tenancy.tenants.all()}
        self.netconf_ports: dict[int, int] = {}
        for service in nb.ipam.services.filter(name=NETCONF_SERVICE):
            parent = _ref_id(getattr(service, "parent", None) or getattr(service, "device", None))
            port = service_port(service)
            if parent is not None and port is not None:
                self.netconf_ports[parent] = port
        self.site_asns: dict[int, str] = {}
        for asn in nb.ipam.asns.all():
            for site in getattr(asn, "sites", None) or []:
                self.site_asns.setdefault(_ref_id(site) or 0, str(asn.asn))
        self.chassis = {c.id: c for c in nb.dcim.virtual_chassis.all()}
        self.groups = [
            g for g in nb.ipam.vlan_groups.all() if _custom(g).get("esi_primary_interface")
        ]
        # Interface id -> the VLAN group and field naming it (for errors that say where).
        self.named_by: dict[int, tuple[Any, str]] = {}
        for group in self.groups:
            for name in ("esi_primary_interface", "esi_secondary_interface"):
                ref = _ref_id(_custom(group).get(name))
                if ref is not None:
                    self.named_by.setdefault(ref, (group, name))
        # By id, in chunks: a thousand ids in one query string outgrow a request line.
        wanted = sorted(self.named_by)
        self.interfaces = {
            i.id: i
            for start in range(0, len(wanted), _IDS_PER_REQUEST)
            for i in nb.dcim.interfaces.filter(id=wanted[start : start + _IDS_PER_REQUEST])
        }

    def tenant_id(self, what: str, record: Any) -> str:
        ref = _ref_id(getattr(record, "tenant", None))
        tenant = self.tenants.get(ref) if ref is not None else None
        if tenant is None:
            raise ValidationError(what, "tenant", "is not set in NetBox")
        return str(_custom(tenant).get("esi_tenant_id") or tenant.slug)


def _named(kind: str, record: Any) -> str:
    return f"NetBox {kind} {getattr(record, 'name', None) or record.id} (id {record.id})"


def read_graph(
    nb: Any,
    current: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    options: SyncOptions | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The resources NetBox holds, as ``(type, body)`` in dependency order.

    ``current`` (the bodies in ``/config``) supplies the fields NetBox has no place for.
    Raises ValidationError naming the NetBox object and field when one cannot be mapped.
    """
    current = current or {}
    options = options or SyncOptions()
    g = _Graph(nb)
    items: list[tuple[str, dict[str, Any]]] = []

    def kept(resource_type: str, rid: str, *names: str) -> dict[str, Any]:
        body = current.get((resource_type, rid)) or {}
        return {n: body[n] for n in names if n in body}

    router_ids: dict[int, str] = {}
    for device in g.devices.values():
        what = _named("device", device)
        rid = resource_id("dcim.device", device)
        router_ids[device.id] = rid
        if device.primary_ip4 is None:
            raise ValidationError(what, "primary_ip4", "is not set: the router's address")
        body: dict[str, Any] = {
            "id": rid,
            "name": device.name,
            "tenant_id": g.tenant_id(what, device),
            "description": device.description or "",
            "ip": _address(device.primary_ip4.address),
            "ssh_port": g.netconf_ports.get(device.id, DEFAULT_NETCONF_PORT),
            "login": options.login,
            "password": dict(options.password)
            if isinstance(options.password, Mapping)
            else options.password,
            **kept("edge_router", rid, "login", "password"),
        }
        site = _ref_id(getattr(device, "site", None))
        if site in g.site_asns:
            body["autonomous_system"] = g.site_asns[site]
        if not body["password"]:
            raise ValidationError(what, "password", "no NETCONF password given for a new router")
        items.append(("edge_router", body))

    interface_ids: dict[int, str] = {}
    for interface in g.interfaces.values():
        what = _named("interface", interface)
        device_ref = _ref_id(interface.device)
        if device_ref not in router_ids:
            group, field_name = g.named_by[interface.id]
            device = getattr(interface.device, "name", device_ref)
            raise ValidationError(
                _named("VLAN group", group),
                field_name,
                f"is interface {interface.name} of device {device}, which is not an edge router"
                f" (role {EDGE_ROUTER_ROLE})",
            )
        rid = resource_id("dcim.interface", interface)
        interface_ids[interface.id] = rid
        body = {
            "id": rid,
            "name": interface.name,
            "tenant_id": g.tenant_id(what, g.devices[device_ref]),
            "description": interface.description or "",
            "device_id": router_ids[device_ref],
        }
        port = _custom(interface).get("esi_connected_port_id")
        if port:
            body["connected_ese_port_id"] = str(port)
        items.append(("er_physical_interface", body))

    pair_of_device: dict[int, str] = {}
    for chassis in g.chassis.values():
        what = _named("virtual chassis", chassis)
        members = [d for d in g.devices.values() if _ref_id(d.virtual_chassis) == chassis.id]
        if not members:
            continue  # not a pair of edge routers
        master = _ref_id(chassis.master)
        primary = [d for d in members if d.id == master]
        others = [d for d in members if d.id != master]
        if len(members) != 2 or len(primary) != 1:
            raise ValidationError(
                what, "members", "must be two edge routers, the master being the primary"
            )
        rid = resource_id("dcim.virtualchassis", chassis)
        for device in members:
            pair_of_device[device.id] = rid
        maximum = int(_custom(chassis).get("esi_maximum_gateways") or 500)
        body = {
            "id": rid,
            "name": chassis.name,
            "tenant_id": g.tenant_id(what, primary[0]),
            "description": chassis.description or "",
            "primary_router_id": router_ids[primary[0].id],
            "secondary_router_id": router_ids[others[0].id],
            "maximum_gateways": maximum,
            "available_gateways": maximum,
            **kept("ha_router", rid, "available_gateways"),
        }
        items.append(("ha_router", body))

    for group in g.groups:
        what = _named("VLAN group", group)
        cf = _custom(group)
        ends = {}
        for role in ("primary", "secondary"):
            ref = _ref_id(cf.get(f"esi_{role}_interface"))
            if ref not in interface_ids:
                raise ValidationError(what, f"esi_{role}_interface", "is not an edge router's")
            ends[role] = g.interfaces[ref]
        pairs = {pair_of_device.get(_ref_id(i.device) or 0) for i in ends.values()}
        if len(pairs) != 1 or None in pairs:
            raise ValidationError(
                what, "esi_secondary_interface", "is not on the same router pair as the primary"
            )
        rid = resource_id("ipam.vlangroup", group)
        counters = (
            "admin_state_up",
            "gateway_instances_count",
            "vlan_ids_available",
            "vlan_pool_state",
            "available_be_bandwidth",
            "available_ga_bandwidth",
        )
        ranges = _vid_ranges(group)
        body = {
            "id": rid,
            "name": group.name,
            "tenant_id": g.tenant_id(what, g.devices[_ref_id(ends["primary"].device) or 0]),
            "description": group.description or "",
            "ha_router_id": pairs.pop(),
            "primary_interface_id": interface_ids[ends["primary"].id],
            "secondary_interface_id": interface_ids[ends["secondary"].id],
            "link_type": str(cf.get("esi_link_type") or "downlink"),
            "restricted_vlans": _complement(ranges),
            "admin_state_up": True,
            "gateway_instances_count": 0,
            "vlan_ids_available": sum(hi - lo + 1 for lo, hi in ranges),
            "maximum_be_bandwidth": options.maximum_bandwidth,
            "available_be_bandwidth": options.maximum_bandwidth,
            "maximum_ga_bandwidth": options.maximum_bandwidth,
            "available_ga_bandwidth": options.maximum_bandwidth,
            **kept("ha_interface", rid, *counters),
        }
        items.append(("ha_interface", body))
    return items


def _current(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for resource_type in _MAPPED_TYPES:
        for resource_id, record in configs_of(store, resource_type):
            if not record.marked_for_deletion:
                out[(resource_type, resource_id)] = record.body
    return out


def sync(
    nb: Any,
    store: Store,
    options: SyncOptions | None = None,
    *,
    requested_by: desired.Requester | None = None,
) -> SyncReport:
    """Bring ``/config`` in line with NetBox; see the module's docstring.

    ``requested_by`` (the NetBox users and request ids whose events led here, or who ran it)
    goes into the audit trail of every version written.
    """
    options = options or SyncOptions()
    items = read_graph(nb, _current(store), options)
    # All of it valid before any of it is written: bad data in NetBox changes nothing.
    desired.validate_batch(store, items)
    report = SyncReport()
    known = {entry.key for entry in store.get_prefix(NETBOX_PREFIX)}
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for resource_type, body in items:
        by_type.setdefault(resource_type, []).append((resource_type, body))
    # Whole types in dependency order, in chunks etcd accepts: a chunk's references are
    # to earlier chunks, which are written by then.
    for resource_type in _MAPPED_TYPES:
        batch = by_type.get(resource_type, [])
        for start in range(0, len(batch), _CHUNK):
            chunk = batch[start : start + _CHUNK]
            changes = desired.apply(
                store,
                chunk,
                requested_by=requested_by,
                plaintext_secrets=options.plaintext_secrets,
            )
            for change in changes:
                name = f"{change.resource_type} {change.resource_id}"
                getattr(report, change.outcome).append(name)
            marks = [provenance_key(t, str(b["id"])) for t, b in chunk]
            if missing := [Op.put(key, "netbox") for key in marks if key not in known]:
                store.txn([], missing)
    _delete_gone(store, {(t, str(b["id"])) for t, b in items}, report, requested_by)
    log.info(
        "netbox sync: %d created, %d updated, %d unchanged, %d deleting, %d refused",
        len(report.created),
        len(report.updated),
        len(report.unchanged),
        len(report.deleting),
        len(report.refused),
    )
    return report


def _delete_gone(
    store: Store,
    present: set[tuple[str, str]],
    report: SyncReport,
    requested_by: desired.Requester | None = None,
) -> None:
    """Delete what a sync created and NetBox no longer holds, referrers first."""
    gone: list[tuple[str, str]] = []
    for entry in store.get_prefix(NETBOX_PREFIX):
        plural, _, rid = entry.key[len(NETBOX_PREFIX) :].partition("/")
        resource_type = keys.singular(plural)
        if (resource_type, rid) not in present:
            gone.append((resource_type, rid))
    order = {name: n for n, name in enumerate(dependency_order())}
    for resource_type, rid in sorted(gone, key=lambda item: -order[item[0]]):
        name = f"{resource_type} {rid}"
        if store.get(keys.config(resource_type, rid)) is None:
            store.delete(provenance_key(resource_type, rid))
            continue
        try:
            desired.delete(store, [(resource_type, rid)], requested_by=requested_by)
        except ValidationError as exc:
            report.refused.append(f"{name}: {exc}")
            continue
        store.delete(provenance_key(resource_type, rid))
        report.deleting.append(name)
