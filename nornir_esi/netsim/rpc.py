"""NETCONF and Junos RPCs: an ``<rpc>`` in, an ``<rpc-reply>`` out.

Standard operations (RFC 6241) and the Junos RPCs that PyEZ, NAPALM and Ansible send are
handled here; each handler turns the request into calls on :class:`~.device.Router` and
builds the reply the way Junos shapes it, so that clients which parse Junos replies
(PyEZ's ``Config.diff`` reads ``configuration-information/configuration-output``) work.

Errors become ``<rpc-error>`` elements with ``error-type``, ``error-tag``,
``error-severity``, ``error-path``, ``error-message`` and ``error-info``; a failed commit
also carries Junos' closing ``configuration check-out failed``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from copy import deepcopy

from lxml import etree

from nornir_esi.exceptions import ConfigSyntaxError, NetsimRpcError
from nornir_esi.junos import tree
from nornir_esi.junos.diff import diff_text
from nornir_esi.junos.text import parse_set, parse_text, render_set, render_text
from nornir_esi.netsim import protocols
from nornir_esi.netsim.device import (
    JUNOS_VERSION,
    CommitCheckError,
    Router,
    Session,
    SessionDroppedError,
)

__all__ = ["BASE_NS", "JUNOS_NS", "handle_rpc"]

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
JUNOS_NS = "http://xml.juniper.net/junos/21.4R0/junos"
_NSMAP = {None: BASE_NS, "junos": JUNOS_NS}

log = logging.getLogger(__name__)

Handler = Callable[[Session, etree._Element], Awaitable[list[etree._Element]]]
Network = ipaddress.IPv4Network


class CloseSession(Exception):  # noqa: N818 (a request to end the session, not an error)
    """The client asked to end the session; the reply is sent first."""

    def __init__(self, reply: bytes) -> None:
        super().__init__("close-session")
        self.reply = reply


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for sub in el:
        if isinstance(sub.tag, str) and _local(sub) == name:
            return sub
    return None


def _text(el: etree._Element, name: str, default: str = "") -> str:
    sub = _child(el, name)
    return (sub.text or "").strip() if sub is not None else default


def _leaf(tag: str, text: str | None = None) -> etree._Element:
    el = etree.Element(tag)
    if text is not None:
        el.text = text
    return el


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _all_text(el: etree._Element) -> str:
    return "".join(str(part) for part in el.itertext())


def _ok() -> list[etree._Element]:
    return [_leaf("ok")]


def _datastore_name(el: etree._Element | None, default: str) -> str:
    if el is None or len(el) == 0:
        return default
    return _local(el[0])


def _config_payload(el: etree._Element) -> etree._Element:
    """The ``<configuration>`` inside an edit-config ``<config>``, stripped of namespaces."""
    for sub in el.iter():
        if isinstance(sub.tag, str) and _local(sub) == "configuration":
            return tree.strip(sub)
    raise NetsimRpcError(
        "<config> must contain a Junos <configuration>",
        tag="missing-element",
        error_type="protocol",
        bad_element="configuration",
    )


def _syntax_error(exc: ConfigSyntaxError) -> NetsimRpcError:
    return NetsimRpcError(
        f"syntax error: {exc}", tag="invalid-value", error_type="protocol", path=exc.path
    )


def _committed_attrs(router: Router) -> dict[str, str]:
    record = router.history[0]
    return {
        f"{{{JUNOS_NS}}}commit-seconds": str(int(record.seconds)),
        f"{{{JUNOS_NS}}}commit-localtime": time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.seconds)
        ),
        f"{{{JUNOS_NS}}}commit-user": record.user,
    }


def _diff_output(old: etree._Element, new: etree._Element) -> etree._Element:
    info = _leaf("configuration-information")
    # PyEZ's Config.diff() takes "\n" to mean "no difference".
    _sub(info, "configuration-output", diff_text(old, new) or "\n")
    return info


# -- standard NETCONF --------------------------------------------------------------------


async def _get_config(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    config = router.datastore(session, _datastore_name(_child(rpc, "source"), "running"))
    filter_el = _child(rpc, "filter")
    if filter_el is not None and len(filter_el):
        config = tree.subtree_filter(config, filter_el)
    data = _leaf("data")
    out = deepcopy(config)
    for key, value in _committed_attrs(router).items():
        out.set(key, value)
    data.append(out)
    return [data]


async def _get(session: Session, rpc: etree._Element) -> list[etree._Element]:
    return await _get_config(session, rpc)


async def _edit_config(session: Session, rpc: etree._Element) -> list[etree._Element]:
    target = _datastore_name(_child(rpc, "target"), "candidate")
    if target != "candidate":
        raise NetsimRpcError(
            f"edit-config target {target!r} is not supported: use the candidate",
            tag="operation-not-supported",
            error_type="protocol",
        )
    default = _text(rpc, "default-operation", "merge")
    config_el = _child(rpc, "config")
    text_el = _child(rpc, "config-text")
    if config_el is not None:
        payload = _config_payload(config_el)
        session.router.modify_candidate(
            # On a copy of the candidate (modify_candidate), kept only if all of it applies.
            session,
            lambda c: tree.edit_config(c, payload, default_operation=default, atomic=False),
        )
    elif text_el is not None:
        text = _all_text(text_el)
        try:
            payload = parse_text(text)
        except ConfigSyntaxError as exc:
            raise _syntax_error(exc) from exc
        session.router.modify_candidate(session, lambda c: tree.load(c, payload, action="merge"))
    else:
        raise NetsimRpcError(
            "edit-config needs <config> or <config-text>",
            tag="missing-element",
            error_type="protocol",
            bad_element="config",
        )
    return _ok()


async def _copy_config(session: Session, rpc: etree._Element) -> list[etree._Element]:
    target = _datastore_name(_child(rpc, "target"), "candidate")
    source = _datastore_name(_child(rpc, "source"), "running")
    if target != "candidate" or source not in ("running", "candidate"):
        raise NetsimRpcError(
            f"copy-config from {source} to {target} is not supported",
            tag="operation-not-supported",
            error_type="protocol",
        )
    new = deepcopy(session.router.datastore(session, source))
    session.router.modify_candidate(session, lambda _c: new)
    return _ok()


async def _lock(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.lock(session)
    return _ok()


async def _unlock(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.unlock(session)
    return _ok()


async def _validate(session: Session, rpc: etree._Element) -> list[etree._Element]:
    source_el = _child(rpc, "source")
    inline = _child(source_el, "config") if source_el is not None else None
    if inline is not None:
        # RFC 6241 8.6: the source may be a complete configuration to check as it stands.
        session.router.validate(_config_payload(inline))
        return _ok()
    source = _datastore_name(source_el, "candidate")
    session.router.validate(session.router.datastore(session, source))
    return _ok()


async def _commit(session: Session, rpc: etree._Element) -> list[etree._Element]:
    confirmed = _child(rpc, "confirmed") is not None
    timeout = _text(rpc, "confirm-timeout", "600")
    if not timeout.isdigit() or int(timeout) < 1:
        raise NetsimRpcError(
            f"confirm-timeout {timeout!r} is not a positive number of seconds",
            tag="invalid-value",
            error_type="protocol",
            bad_element="confirm-timeout",
        )
    await session.router.commit(
        session, confirmed=confirmed, confirm_seconds=int(timeout), comment=""
    )
    return _ok()


async def _cancel_commit(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.cancel_commit(session)
    return _ok()


async def _discard_changes(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.discard_changes(session)
    return _ok()


async def _kill_session(session: Session, rpc: etree._Element) -> list[etree._Element]:
    raw = _text(rpc, "session-id")
    if not raw.isdigit():
        raise NetsimRpcError(
            "kill-session needs a numeric <session-id>",
            tag="missing-element",
            error_type="protocol",
            bad_element="session-id",
        )
    session.router.kill_session(session, int(raw))
    return _ok()


# -- Junos configuration RPCs ------------------------------------------------------------


async def _load_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    rollback = rpc.get("rollback")
    if rollback is not None:
        if not rollback.isdigit():
            raise NetsimRpcError(
                f"invalid rollback number {rollback!r}", tag="invalid-value", error_type="protocol"
            )
        old = deepcopy(router.rollback_config(int(rollback)))
        router.modify_candidate(session, lambda _c: old)
        return [_load_results()]
    action = rpc.get("action", "merge")
    if action not in ("merge", "replace", "override", "update", "set"):
        raise NetsimRpcError(
            f"invalid load action {action!r}",
            tag="invalid-value",
            error_type="protocol",
            bad_element="action",
        )
    fmt = rpc.get("format", "xml")
    set_el = _child(rpc, "configuration-set")
    text_el = _child(rpc, "configuration-text")
    xml_el = _child(rpc, "configuration")
    try:
        if set_el is not None or action == "set":
            source = set_el if set_el is not None else text_el
            commands = parse_set(_all_text(source) if source is not None else "")

            def apply_set(config: etree._Element) -> None:
                for fragment in commands:
                    tree.edit_config(config, fragment, atomic=False, stripped=True)

            router.modify_candidate(session, apply_set)
        elif text_el is not None or fmt == "text":
            text = _all_text(text_el) if text_el is not None else ""
            payload = parse_text(text)
            router.modify_candidate(session, lambda c: tree.load(c, payload, action=action))
        elif xml_el is not None:
            payload = tree.strip(xml_el)
            router.modify_candidate(session, lambda c: tree.load(c, payload, action=action))
        else:
            raise NetsimRpcError(
                "load-configuration needs <configuration>, <configuration-text> "
                "or <configuration-set>",
                tag="missing-element",
                error_type="protocol",
                bad_element="configuration",
            )
    except ConfigSyntaxError as exc:
        raise _syntax_error(exc) from exc
    return [_load_results()]


def _load_results() -> etree._Element:
    results = _leaf("load-configuration-results")
    _sub(results, "ok")
    return results


async def _commit_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    check = _child(rpc, "check") is not None
    confirmed = _child(rpc, "confirmed") is not None
    minutes = _text(rpc, "confirm-timeout", "10")
    if not minutes.isdigit() or not 1 <= int(minutes) <= 65535:
        raise NetsimRpcError(
            f"confirm-timeout {minutes!r} is outside 1-65535 minutes",
            tag="invalid-value",
            error_type="protocol",
            bad_element="confirm-timeout",
        )
    await router.commit(
        session,
        check_only=check,
        confirmed=confirmed,
        confirm_seconds=int(minutes) * router.settings.minute,
        comment=_text(rpc, "log"),
    )
    results = _leaf("commit-results")
    engine = _sub(results, "routing-engine")
    engine.set(f"{{{JUNOS_NS}}}style", "normal")
    _sub(engine, "name", "re0")
    _sub(engine, "commit-check-success" if check else "commit-success")
    if not check:
        _sub(engine, "commit-revision", str(len(router.history)))
    return [results]


async def _get_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    database = rpc.get("database", "candidate")
    config = router.datastore(session, "running" if database == "committed" else "candidate")
    if rpc.get("compare") == "rollback":
        index = rpc.get("rollback", "0")
        if not index.isdigit():
            raise NetsimRpcError(
                f"invalid rollback number {index!r}", tag="invalid-value", error_type="protocol"
            )
        return [_diff_output(router.rollback_config(int(index)), config)]
    filter_el = _child(rpc, "configuration")
    if filter_el is not None and len(filter_el):
        config = tree.subtree_filter(config, filter_el)
    fmt = rpc.get("format", "xml")
    if fmt == "text":
        return [_leaf("configuration-text", render_text(config))]
    if fmt == "set":
        return [_leaf("configuration-set", render_set(config))]
    out = deepcopy(config)
    for key, value in _committed_attrs(router).items():
        out.set(key, value)
    return [out]


async def _get_rollback_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    index = _text(rpc, "rollback", "0")
    compare = _text(rpc, "compare")
    if not index.isdigit() or (compare and not compare.isdigit()):
        raise NetsimRpcError(
            "rollback and compare must be numbers 0-49", tag="invalid-value", error_type="protocol"
        )
    info = _leaf("rollback-information")
    _sub(info, "ok")
    config = router.rollback_config(int(index))
    if compare:
        info.append(_diff_output(router.rollback_config(int(compare)), config))
    elif _text(rpc, "format") == "text":
        _sub(_sub(info, "configuration-information"), "configuration-output", render_text(config))
    else:
        info.append(deepcopy(config))
    return [info]


async def _get_commit_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    info = _leaf("commit-information")
    for number, record in enumerate(session.router.history):
        entry = _sub(info, "commit-history")
        _sub(entry, "sequence-number", str(number))
        _sub(entry, "user", record.user)
        _sub(entry, "client", record.client)
        stamp = _sub(
            entry, "date-time", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.seconds))
        )
        stamp.set(f"{{{JUNOS_NS}}}seconds", str(int(record.seconds)))
        if record.comment:
            _sub(entry, "log", record.comment)
        if record.confirmed:
            _sub(entry, "confirmed")
    return [info]


async def _lock_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.lock(session)
    return []


async def _unlock_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    session.router.unlock(session)
    return []


async def _open_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    if _child(rpc, "private") is not None:
        session.router.open_private(session)
    elif _child(rpc, "exclusive") is not None:
        session.router.lock(session)
    return []


async def _close_configuration(session: Session, rpc: etree._Element) -> list[etree._Element]:
    if session.holds_lock and session.private is None:
        session.router.unlock(session)
        session.router.discard_changes(session)
    session.router.close_private(session)
    return []


# -- Junos operational RPCs --------------------------------------------------------------


async def _get_software_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    info = _leaf("software-information")
    _sub(info, "host-name", router.running.findtext("system/host-name") or router.name)
    _sub(info, "product-model", router.settings.model)
    _sub(info, "product-name", router.settings.model)
    _sub(info, "junos-version", JUNOS_VERSION)
    package = _sub(info, "package-information")
    _sub(package, "name", "junos")
    _sub(package, "comment", f"JUNOS Software Release [{JUNOS_VERSION}]")
    return [info]


async def _get_interface_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    router = session.router
    wanted = _text(rpc, "interface-name")
    info = _leaf("interface-information")
    info.set(f"{{{JUNOS_NS}}}style", "terse" if _child(rpc, "terse") is not None else "normal")
    for interface in router.running.iterfind("interfaces/interface"):
        name = interface.findtext("name", "")
        if wanted and wanted not in (name,) and not wanted.startswith(name + "."):
            continue
        admin_up = interface.find("disable") is None
        up = router.link_up(name)
        physical = _sub(info, "physical-interface")
        _sub(physical, "name", name)
        _sub(physical, "admin-status", "up" if admin_up else "down")
        _sub(physical, "oper-status", "up" if up else "down")
        if interface.findtext("description"):
            _sub(physical, "description", interface.findtext("description"))
        for unit in interface.iterfind("unit"):
            logical_name = f"{name}.{unit.findtext('name', '')}"
            if wanted and wanted != name and wanted != logical_name:
                continue
            unit_up = unit.find("disable") is None
            logical = _sub(physical, "logical-interface")
            _sub(logical, "name", logical_name)
            _sub(logical, "admin-status", "up" if unit_up else "down")
            _sub(logical, "oper-status", "up" if unit_up and up else "down")
            if unit.findtext("description"):
                _sub(logical, "description", unit.findtext("description"))
    if wanted and len(info) == 0:
        raise NetsimRpcError(
            f"device {wanted} not found", tag="invalid-value", error_type="protocol"
        )
    return [info]


def _filter_information(router: Router, filter_name: str, counter_name: str = "") -> etree._Element:
    info = _leaf("firewall-information")
    for name, counters in router.counters().items():
        if filter_name and name != filter_name:
            continue
        filter_el = _sub(info, "filter-information")
        _sub(filter_el, "filter-name", name)
        for counter, packets, octets in counters:
            if counter_name and counter != counter_name:
                continue
            entry = _sub(filter_el, "counter")
            _sub(entry, "counter-name", counter)
            _sub(entry, "packet-count", str(packets))
            _sub(entry, "byte-count", str(octets))
    return info


async def _get_firewall_filter_information(
    session: Session, rpc: etree._Element
) -> list[etree._Element]:
    return [_filter_information(session.router, _text(rpc, "filtername"))]


async def _get_firewall_counter_information(
    session: Session, rpc: etree._Element
) -> list[etree._Element]:
    filter_name = _text(rpc, "filter")
    counter = _text(rpc, "countername")
    info = _filter_information(session.router, filter_name, counter)
    if (filter_name or counter) and info.find("filter-information/counter") is None:
        raise NetsimRpcError(
            f"counter {counter or '*'} of filter {filter_name or '*'} does not exist",
            tag="invalid-value",
            error_type="protocol",
        )
    return [info]


async def _get_vrrp_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    info = _leaf("vrrp-information")
    for group in protocols.vrrp_groups(session.router, _text(rpc, "interface")):
        entry = _sub(info, "vrrp-interface")
        _sub(entry, "interface", group.interface)
        _sub(entry, "interface-state", "up" if group.up else "down")
        _sub(entry, "group", str(group.vrid))
        _sub(entry, "vrrp-state", group.state)
        _sub(entry, "vrrp-mode", "Active")
        _sub(entry, "local-interface-address", group.address)
        for virtual in group.virtual:
            _sub(entry, "virtual-ip-address", virtual)
    return [info]


def _destination_filter(raw: str, exact: bool) -> Callable[[protocols.Table], list[Network]]:
    """The destinations ``show route DEST`` lists of a table.

    The routes inside DEST (DEST itself among them), or else the longest one holding it;
    with ``exact``, DEST alone.
    """
    try:
        wanted = ipaddress.IPv4Network(raw, strict=False)
    except ValueError as exc:
        raise NetsimRpcError(
            f"invalid destination: {raw}", tag="invalid-value", error_type="protocol"
        ) from exc

    def pick(table: protocols.Table) -> list[Network]:
        prefixes = table.destinations
        if exact:
            return [p for p in prefixes if p == wanted]
        inside = [p for p in prefixes if p.subnet_of(wanted)]
        if inside:
            return inside
        holding = [p for p in prefixes if wanted.subnet_of(p)]
        return [max(holding, key=lambda p: p.prefixlen)] if holding else []

    return pick


async def _get_route_information(session: Session, rpc: etree._Element) -> list[etree._Element]:
    tables = protocols.route_tables(session.router)
    name = _text(rpc, "table")
    if name:
        tables = [t for t in tables if t.name == name]
        if not tables:
            raise NetsimRpcError(
                f"Invalid routing table name: {name}",
                tag="invalid-value",
                error_type="protocol",
                bad_element=name,
            )
    destination = _text(rpc, "destination")
    pick = (
        _destination_filter(destination, _child(rpc, "exact") is not None) if destination else None
    )
    # `show route hidden` lists the hidden routes alone; `show route`, every other one.
    hidden = _child(rpc, "hidden") is not None
    info = _leaf("route-information")
    for table in tables:
        shown = set(pick(table) if pick is not None else table.destinations)
        if pick is not None and not shown:
            continue  # `show route DEST` prints only the tables that hold a route for it
        routes = table.routes
        element = _sub(info, "route-table")
        _sub(element, "table-name", table.name)
        _sub(element, "destination-count", str(len(table.destinations)))
        _sub(element, "total-route-count", str(len(routes)))
        _sub(element, "active-route-count", str(sum(r.active for r in routes)))
        _sub(element, "holddown-route-count", "0")
        _sub(element, "hidden-route-count", str(sum(r.hidden for r in routes)))
        for prefix in table.destinations:
            entries = [r for r in routes if r.prefix == prefix and r.hidden == hidden]
            if prefix not in shown or not entries:
                continue
            rt = _sub(element, "rt")
            _sub(rt, "rt-destination", str(prefix))
            for route in entries:
                _route_entry(rt, route)
    return [info]


def _route_entry(rt: etree._Element, route: protocols.Route) -> None:
    entry = _sub(rt, "rt-entry")
    if route.active:
        _sub(entry, "active-tag", "*")
        _sub(entry, "current-active")
        _sub(entry, "last-active")
    _sub(entry, "protocol-name", route.protocol)
    _sub(entry, "preference", str(route.preference))
    if route.protocol == "Local":
        _sub(entry, "nh-type", "Local")
        _sub(_sub(entry, "nh"), "nh-local-interface", route.via)
    elif route.discard:
        _sub(entry, "nh-type", "Discard")
    elif route.hidden:
        _sub(entry, "nh-type", "Unusable")  # no up unit of the instance reaches the next hop
        if route.to:
            _sub(_sub(entry, "nh"), "to", route.to)
    else:
        nh = _sub(entry, "nh")
        _sub(nh, "selected-next-hop")
        if route.to:
            _sub(nh, "to", route.to)
        _sub(nh, "via", route.via)


async def _get_bgp_neighbor_information(
    session: Session, rpc: etree._Element
) -> list[etree._Element]:
    instance = _text(rpc, "instance")
    address = _text(rpc, "neighbor-address").split("+")[0]
    info = _leaf("bgp-information")
    for peer in protocols.bgp_peers(session.router):
        if (instance and peer.instance != instance) or (address and peer.address != address):
            continue
        established = peer.state == "Established"
        entry = _sub(info, "bgp-peer")
        # Ports are shown once there is a TCP connection.
        _sub(
            entry,
            "peer-address",
            f"{peer.address}+{protocols.BGP_PORT}" if established else peer.address,
        )
        if peer.peer_as:
            _sub(entry, "peer-as", peer.peer_as)
        if peer.local_address:
            local = peer.local_address
            _sub(entry, "local-address", f"{local}+{peer.local_port}" if established else local)
        _sub(entry, "local-as", peer.local_as)
        _sub(entry, "peer-group", peer.group)
        _sub(entry, "peer-cfg-rti", peer.instance)
        _sub(entry, "peer-type", "Internal" if peer.internal else "External")
        _sub(entry, "peer-state", peer.state)
    return [info]


HANDLERS: dict[str, Handler] = {
    "get": _get,
    "get-config": _get_config,
    "edit-config": _edit_config,
    "copy-config": _copy_config,
    "lock": _lock,
    "unlock": _unlock,
    "validate": _validate,
    "commit": _commit,
    "cancel-commit": _cancel_commit,
    "discard-changes": _discard_changes,
    "kill-session": _kill_session,
    "load-configuration": _load_configuration,
    "commit-configuration": _commit_configuration,
    "get-configuration": _get_configuration,
    "get-rollback-information": _get_rollback_information,
    "get-commit-information": _get_commit_information,
    "lock-configuration": _lock_configuration,
    "unlock-configuration": _unlock_configuration,
    "open-configuration": _open_configuration,
    "close-configuration": _close_configuration,
    "get-software-information": _get_software_information,
    "get-interface-information": _get_interface_information,
    "get-firewall-filter-information": _get_firewall_filter_information,
    "get-firewall-counter-information": _get_firewall_counter_information,
    "get-vrrp-information": _get_vrrp_information,
    "get-route-information": _get_route_information,
    "get-bgp-neighbor-information": _get_bgp_neighbor_information,
}


def _error_element(err: NetsimRpcError) -> etree._Element:
    el = _leaf("rpc-error")
    _sub(el, "error-type", err.error_type)
    _sub(el, "error-tag", err.tag)
    _sub(el, "error-severity", err.severity)
    if err.path:
        _sub(el, "error-path", err.path)
    _sub(el, "error-message", err.message)
    if err.bad_element or err.info:
        info = _sub(el, "error-info")
        if err.bad_element:
            _sub(info, "bad-element", err.bad_element)
        for key, value in err.info.items():
            _sub(info, key, value)
    return el


def _reply(rpc: etree._Element | None, body: list[etree._Element]) -> bytes:
    reply = etree.Element(f"{{{BASE_NS}}}rpc-reply", nsmap=_NSMAP)  # type: ignore[arg-type]
    if rpc is not None:
        for key, value in rpc.attrib.items():
            reply.set(key, value)
    for el in body:
        reply.append(el)
    _qualify(reply)
    return etree.tostring(reply)


def _qualify(reply: etree._Element) -> None:
    """Put unqualified reply elements in the NETCONF namespace, as Junos' default xmlns does."""
    for el in reply.iter():
        if isinstance(el.tag, str) and not el.tag.startswith("{"):
            el.tag = f"{{{BASE_NS}}}{el.tag}"


async def handle_rpc(session: Session, rpc: etree._Element) -> bytes:
    """Run one ``<rpc>`` and return the serialised ``<rpc-reply>``.

    Raises :class:`CloseSession` (carrying the reply) for ``close-session``.
    """
    operation = next((sub for sub in rpc if isinstance(sub.tag, str)), None)
    if _local(rpc) != "rpc" or operation is None:
        err = NetsimRpcError(
            "syntax error, expecting <rpc> with one operation",
            tag="malformed-message",
            error_type="rpc",
        )
        return _reply(rpc if _local(rpc) == "rpc" else None, [_error_element(err)])
    name = _local(operation)
    if name == "close-session":
        raise CloseSession(_reply(rpc, _ok()))
    handler = HANDLERS.get(name)
    try:
        if handler is None:
            raise NetsimRpcError(
                f"syntax error: unknown RPC <{name}>",
                tag="operation-not-supported",
                error_type="protocol",
                bad_element=name,
            )
        body = await handler(session, operation)
    except CommitCheckError as exc:
        errors = [_error_element(e) for e in exc.errors]
        errors.append(_error_element(NetsimRpcError("configuration check-out failed")))
        if name == "commit-configuration":
            results = _leaf("commit-results")
            results.extend(errors)
            return _reply(rpc, [results])
        return _reply(rpc, errors)
    except NetsimRpcError as exc:
        return _reply(rpc, [_error_element(exc)])
    except (CloseSession, SessionDroppedError):
        raise
    except Exception as exc:  # a bug of ours must not hang the client: answer, log, go on
        log.exception("router %s: <%s> failed", session.router.name, name)
        err = NetsimRpcError(f"internal error: {exc!r}", error_type="application")
        return _reply(rpc, [_error_element(err)])
    if not body:
        body = _ok()
    return _reply(rpc, body)
