"""A Nornir inventory of edge routers, built from their ``edge_router`` resource bodies.

Hosts are named by the router's ``name`` and reach it at ``ip:ssh_port`` with its
``login``/``password`` over NETCONF (nornir-netconf's ``netconf`` connection, Junos device
handler). A ``password`` that is a secret reference (``{"ref": "env:NAME"}``) is kept
unresolved in the host's ``data`` (:data:`PASSWORD_REF`) and resolved when the host's
session opens (:func:`resolve_password`, from ``tasks._rpc.connection``), in the worker
(:mod:`nornir_esi.contract.secrets`): building an inventory never fails on secrets, so one router
whose secret is missing fails its own tasks, with the SecretError naming it, the field
and the reference, and not a runbook over the fleet. An overrides file
maps a router's name or IP to other connection fields, for routers reached through a
tunnel, NAT or, in tests, the simulator on 127.0.0.1::

    10.79.5.185: {hostname: 127.0.0.1, port: 40123}
    vMX-router-01: {hostname: 127.0.0.1, port: 40124, username: esi, password: secret}

Registered as the Nornir inventory plugin ``ResourceInventory``;
:func:`nornir_for` builds a ready Nornir without going through the plugin registry.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml
from nornir.core import Nornir
from nornir.core.configuration import Config
from nornir.core.inventory import ConnectionOptions, Defaults, Groups, Host, Hosts, Inventory
from nornir.core.plugins.connections import ConnectionPluginRegister
from nornir.core.plugins.runners import RunnerPlugin
from nornir.core.state import GlobalState
from nornir.plugins.runners import SerialRunner, ThreadedRunner
from yaml import YAMLError

from nornir_esi.contract import secrets
from nornir_esi.device import netconf
from nornir_esi.device.connections import CONNECTION, PooledNetconf
from nornir_esi.device.known_hosts import HostKeyPolicy
from nornir_esi.exceptions import ValidationError

__all__ = [
    "NETCONF_EXTRAS",
    "PASSWORD_REF",
    "ResourceInventory",
    "connection_options",
    "load_overrides",
    "netconf_options",
    "nornir_for",
    "resolve_password",
]

PLATFORM = "junos"
# Passed as ncclient.manager.connect_ssh keyword arguments: nornir-netconf's Netconf.open
# updates its parameters with the connection's `extras`, after setting device_params from
# the platform; naming the handler here too keeps it Junos even if the platform changes.
# The host key is added per host (nornir_esi.device.known_hosts: the recorded key or an error).
NETCONF_EXTRAS: Mapping[str, Any] = {
    # Password authentication only: a worker's agent or ~/.ssh keys must not be offered.
    "allow_agent": False,
    "look_for_keys": False,
    "device_params": {"name": "junos"},
}
_OVERRIDE_FIELDS = frozenset({"hostname", "port", "username", "password"})
# The host data key of a password still to resolve (a reference, never a secret).
PASSWORD_REF = "password_ref"


def load_overrides(path: str | Path) -> dict[str, dict[str, Any]]:
    """The overrides file: ``{router name or ip: {hostname, port, username, password}}``.

    Parsed again only when its text changed: every job's Nornir asks for it.
    """
    obj = f"inventory overrides {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(obj, "", f"cannot be read: {exc}") from exc
    parsed = _parsed_overrides(str(path), text)
    return {key: dict(fields) for key, fields in parsed.items()}


@functools.lru_cache(maxsize=16)
def _parsed_overrides(path: str, text: str) -> dict[str, dict[str, Any]]:
    obj = f"inventory overrides {path}"
    try:
        data = yaml.safe_load(text)
    except YAMLError as exc:
        raise ValidationError(obj, "", f"cannot be read: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(obj, "", "is not a mapping of router name or ip to fields")
    out: dict[str, dict[str, Any]] = {}
    for key, fields in data.items():
        if not isinstance(fields, dict):
            raise ValidationError(obj, str(key), "is not a mapping of connection fields")
        unknown = set(fields) - _OVERRIDE_FIELDS
        if unknown:
            raise ValidationError(obj, str(key), f"has unknown fields {sorted(unknown)}")
        if "port" in fields and not isinstance(fields["port"], int):
            raise ValidationError(obj, f"{key}.port", f"{fields['port']!r} is not a number")
        out[str(key)] = dict(fields)
    return out


class ResourceInventory:
    """Nornir inventory plugin: one host per edge_router body."""

    def __init__(self, routers: Sequence[Mapping[str, Any]], overrides: str | None = None) -> None:
        self.routers = list(routers)
        self.overrides = load_overrides(overrides) if overrides else {}

    def load(self) -> Inventory:
        """The Nornir inventory: one host per router body, its overrides applied by IP, then name.

        A router missing a required field, or named like another, is a ValidationError.
        """
        hosts = Hosts()
        for body in self.routers:
            host = self._host(body)
            if host.name in hosts:
                raise ValidationError(f"edge_router {body.get('id')}", "name", "is not unique")
            hosts[host.name] = host
        return Inventory(hosts=hosts, groups=Groups(), defaults=Defaults())

    def _host(self, body: Mapping[str, Any]) -> Host:
        obj = f"edge_router {body.get('id', '?')}"
        for field in ("id", "name", "ip", "login", "password"):
            if not body.get(field):
                raise ValidationError(obj, field, "is missing")
        try:
            port = int(body.get("ssh_port") or 830)
        except (TypeError, ValueError) as exc:
            raise ValidationError(obj, "ssh_port", f"{body['ssh_port']!r} is not a number") from exc
        name, ip = str(body["name"]), str(body["ip"])
        fields: dict[str, Any] = {
            "hostname": ip,
            "port": port,
            "username": str(body["login"]),
        }
        # The name is more specific than the IP, so it wins when both are listed.
        fields.update(self.overrides.get(ip, {}))
        fields.update(self.overrides.get(name, {}))
        data: dict[str, Any] = {"id": str(body["id"]), "ip": ip}
        if "password" not in fields:
            if isinstance(body["password"], str):
                fields["password"] = body["password"]  # the original's plain data
            else:
                # etcd holds a reference, never the secret: resolved when a session opens.
                data[PASSWORD_REF] = deepcopy(body["password"])
        return Host(
            name=name,
            hostname=fields["hostname"],
            port=fields["port"],
            username=fields["username"],
            password=fields.get("password"),
            platform=PLATFORM,
            data=data,
            connection_options=connection_options(name, fields["hostname"], fields["port"]),
        )


def resolve_password(host: Host) -> None:
    """Set ``host.password`` from the reference :class:`ResourceInventory` kept in its data.

    Only when it has one and no password yet; call it before the host's session opens.

    Raises :class:`~nornir_esi.exceptions.SecretError` naming the router
    (``edge_router <id> (<name>)``), the field and the reference, never the secret: a
    permanent error, as a retry resolves the same way.
    """
    if host.password is None and PASSWORD_REF in host.data:
        obj = f"edge_router {host.data.get('id', '?')} ({host.name})"
        host.password = secrets.resolve(host.data[PASSWORD_REF], obj, "password")


def connection_options(router: str, host: str, port: int) -> dict[str, ConnectionOptions]:
    """A host's connection options, the same for the workers and for nornir-netconf.

    The workers' (:data:`~nornir_esi.device.connections.CONNECTION`, kept sessions) and
    nornir-netconf's ``netconf``, for an operator's own tasks, are alike.
    """
    return {
        CONNECTION: netconf_options(router, host, port),
        "netconf": netconf_options(router, host, port),
    }


def netconf_options(router: str, host: str, port: int) -> ConnectionOptions:
    """The ``netconf`` connection options of a router reached at ``host:port``.

    A fresh copy per host: nornir-netconf hands extras to ncclient, which may keep a
    reference to device_params. The host key the known-hosts file holds for the address is
    the only one accepted (:mod:`nornir_esi.device.known_hosts`).
    """
    extras = dict(deepcopy(NETCONF_EXTRAS))
    extras.update(HostKeyPolicy.from_env().connect_options(router, host, port))
    return ConnectionOptions(extras=extras)


@functools.cache
def _register_plugins() -> None:
    """Ours by name (no installed entry point needed), nornir-netconf's by its entry point.

    Once per process: ``auto_register`` scans every installed distribution's entry points,
    milliseconds of file reads that each job's Nornir would otherwise pay again.
    """
    ConnectionPluginRegister.register(CONNECTION, PooledNetconf)
    ConnectionPluginRegister.auto_register()


def nornir_for(
    routers: Sequence[Mapping[str, Any]],
    overrides: str | None = None,
    *,
    num_workers: int = 20,
) -> Nornir:
    """A Nornir over ``routers`` (edge_router bodies), no logging setup.

    Built directly rather than with InitNornir so it needs no installed entry point and
    leaves the process' logging configuration alone (InitNornir would configure it). One
    router runs in the caller's thread (nornir's serial runner: most of the workers' runs
    are of one router, and a thread pool per run was a thread started and ended per
    read), more on a threaded runner of up to ``num_workers`` threads.
    """
    netconf.tune_ncclient()
    _register_plugins()
    runner: RunnerPlugin
    if len(routers) == 1:
        runner, runner_config = SerialRunner(), {"plugin": "serial", "options": {}}
    else:
        threads = max(1, min(num_workers, len(routers)))
        runner = ThreadedRunner(num_workers=threads)
        runner_config = {"plugin": "threaded", "options": {"num_workers": threads}}
    config = Config.from_dict(
        inventory={"plugin": "ResourceInventory"},
        runner=runner_config,
        logging={"enabled": False},
    )
    return Nornir(
        inventory=ResourceInventory(routers, overrides).load(),
        runner=runner,
        config=config,
        data=GlobalState(dry_run=False),
    )
