"""The ``nornir-esi`` command line.

Exit codes: 0 done; 1 the awaited state was not reached (failed, or timed out); 2 bad
input or usage; 3 the store or a device could not be reached. The ``gateway`` commands,
which follow a workflow, tell a failure (1) from no outcome yet (3: timed out, the
workflow goes on; or the store unreachable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nornir_esi.exceptions import EsiError, TemporaryError, ValidationError
from nornir_esi.netsim.server import RouterSpec, Simulator

if TYPE_CHECKING:
    from nornir_esi.store.etcd import EtcdStore

__all__ = ["main"]


@click.group()
@click.version_option(package_name="nornir-esi")
def main() -> None:
    """Internet gateways on pairs of Juniper edge routers."""


def _user(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise click.BadParameter(f"{value!r} is not USER:PASSWORD", param_hint="--user")
    return user, password


def _authorized_key(value: str) -> tuple[str, str]:
    user, sep, path = value.partition(":")
    if not sep or not user:
        raise click.BadParameter(
            f"{value!r} is not USER:PUBKEY_FILE", param_hint="--authorized-key"
        )
    try:
        return user, Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}", param_hint="--authorized-key") from exc


@main.command()
@click.option(
    "--router",
    "routers",
    multiple=True,
    required=True,
    metavar="NAME=HOST:PORT[,role=primary|secondary][,FAULT=VALUE]",
    help="A router to simulate; repeat for each. Faults: commit-delay, fail-commits, "
    "fail-message, drop-on-commit, refuse-connections, hold-lock, links-down=ae0+ae1.",
)
@click.option("--day0", type=click.Path(exists=True, dir_okay=False), help="Day-0 Junos text.")
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="USER:PASSWORD",
    help="Accounts allowed to log in; without it any account is accepted (lab mode).",
)
@click.option(
    "--authorized-key",
    "keys",
    multiple=True,
    metavar="USER:PUBKEY_FILE",
    help="A public key USER may log in with.",
)
@click.option(
    "--commit-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds each commit takes (a real MX takes 1-5 s).",
)
@click.option(
    "--minute",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds in a Junos minute (commit confirmed timeouts); shorten for tests.",
)
@click.option(
    "--known-hosts",
    envvar="ESI_KNOWN_HOSTS",
    type=click.Path(dir_okay=False),
    help="Record the routers' host keys in this known_hosts file once they listen "
    "(default: $ESI_KNOWN_HOSTS; workers verify against the same file).",
)
def netsim(
    routers: tuple[str, ...],
    day0: str | None,
    users: tuple[str, ...],
    keys: tuple[str, ...],
    commit_delay: float,
    minute: float,
    known_hosts: str | None,
) -> None:
    """Simulate Junos routers over NETCONF/SSH until SIGINT or SIGTERM."""
    try:
        specs = [RouterSpec.parse(spec) for spec in routers]
        authorized: dict[str, list[str]] = {}
        for user, key in map(_authorized_key, keys):
            authorized.setdefault(user, []).append(key)
        sim = Simulator(
            specs,
            day0=Path(day0).read_text(encoding="utf-8") if day0 else None,
            users=dict(map(_user, users)) if users else None,
            authorized_keys=authorized,
            commit_delay=commit_delay,
            minute=minute,
            known_hosts=known_hosts,
        )
        asyncio.run(_serve(sim))
    except EsiError as exc:
        click.echo(f"nornir-esi netsim: {exc}", err=True)
        sys.exit(2)


async def _serve(sim: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        for line in sim.listening_lines():
            click.echo(line)
        sys.stdout.flush()
        await stop.wait()
    click.echo("netsim: stopped")


ETCD_OPTION = click.option(
    "--etcd",
    "endpoints",
    envvar="ESI_ETCD_ENDPOINTS",
    metavar="ENDPOINTS",
    help="Comma-separated etcd URLs, e.g. http://127.0.0.1:2379 (default: $ESI_ETCD_ENDPOINTS).",
)


def _store(endpoints: str | None) -> EtcdStore:
    """The store at ``endpoints``, with TLS and credentials from ``ESI_ETCD_CA``,
    ``ESI_ETCD_CERT``, ``ESI_ETCD_KEY``, ``ESI_ETCD_USER`` and ``ESI_ETCD_PASSWORD``."""
    from nornir_esi.store.etcd import EtcdStore

    if not endpoints or not endpoints.strip():
        raise click.UsageError("no etcd endpoints: pass --etcd or set ESI_ETCD_ENDPOINTS")
    return EtcdStore.from_env({**os.environ, "ESI_ETCD_ENDPOINTS": endpoints})


def _cli_requester() -> Any:
    """The audit trail's requester of a change made here: the OS user."""
    import getpass

    from nornir_esi.desired import Requester

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no name for the uid (a container's arbitrary user)
        user = f"uid {os.getuid()}"
    return Requester("cli", user)


def _fail(exc: EsiError) -> None:
    click.echo(f"nornir-esi: {exc}", err=True)
    sys.exit(3 if isinstance(exc, TemporaryError) else 2)


HEAT_URL_OPTION = click.option(
    "--heat-url",
    envvar="ESI_HEAT_URL",
    help="Heat API (http://host:8004) keeping a real stack per resource; default: etcd "
    "records only.",
)
HEAT_PROJECT_OPTION = click.option(
    "--heat-project", envvar="ESI_HEAT_PROJECT", default="admin", show_default=True
)


@main.command()
@ETCD_OPTION
@click.option(
    "--inventory",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML mapping router name or ip to {hostname, port, username, password}.",
)
@click.option("--workers", type=click.IntRange(0), default=1, show_default=True)
@click.option(
    "--slots",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Jobs each worker runs at once.",
)
@click.option("--no-manager", is_flag=True, help="Run workers only.")
@click.option(
    "--manager-lease-ttl",
    type=click.IntRange(1),
    default=65,
    show_default=True,
    help="Seconds before a dead manager's leadership passes on.",
)
@click.option(
    "--worker-lease-ttl",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Seconds before a dead worker's jobs become claimable again.",
)
@click.option(
    "--drift-interval",
    type=click.FloatRange(0),
    default=600.0,
    show_default=True,
    help="Seconds between drift checks of every gateway, by the leading manager's process "
    "(0: never).",
)
@HEAT_URL_OPTION
@HEAT_PROJECT_OPTION
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (127.0.0.1; see --metrics-host).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
def run(
    endpoints: str | None,
    inventory: str | None,
    workers: int,
    slots: int,
    no_manager: bool,
    manager_lease_ttl: int,
    worker_lease_ttl: int,
    drift_interval: float,
    heat_url: str | None,
    heat_project: str,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Job manager and workers in the foreground until SIGINT or SIGTERM.

    Routers' NETCONF host keys are verified against $ESI_KNOWN_HOSTS (default
    ~/.ssh/known_hosts); a router whose key is not there fails its jobs, unless
    ESI_ACCEPT_UNKNOWN_HOST_KEYS=1.
    """
    from nornir_esi.heat import heat_from
    from nornir_esi.service import Service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
    # ncclient and paramiko log every message at INFO: megabytes an hour of nothing useful.
    for noisy in ("ncclient", "paramiko", "nornir"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Nornir logs a handled task failure (a lock held by another job) as an ERROR with its
    # traceback; the worker reports every failure it does not handle itself.
    logging.getLogger("nornir.core.task").setLevel(logging.CRITICAL)
    try:
        store = _store(endpoints)
        service = Service(
            store,
            inventory=inventory,
            workers=workers,
            slots=slots,
            manager=not no_manager,
            manager_lease_ttl=manager_lease_ttl,
            worker_lease_ttl=worker_lease_ttl,
            drift_interval=drift_interval or None,
            heat=heat_from(heat_url, project=heat_project),
        )
        if metrics_port is not None:
            from nornir_esi.metrics import serve_metrics

            bound = serve_metrics(metrics_port, store, metrics_host).server_address[1]
            click.echo(f"nornir-esi: metrics on http://{metrics_host}:{bound}/metrics", err=True)
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        with service:
            click.echo(
                f"nornir-esi: running {'no manager, ' if no_manager else 'a job manager, '}"
                f"{workers} worker(s) x {slots} slots",
                err=True,
            )
            done.wait()
        store.close()
    except EsiError as exc:
        _fail(exc)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@ETCD_OPTION
@click.option(
    "--plaintext-secrets",
    is_flag=True,
    help="Compatibility: store a plain router password in /config as the original did "
    '(default: refused; give {"ref": "env:NAME"}; also ESI_PLAINTEXT_SECRETS=1).',
)
def apply(file: str, endpoints: str | None, plaintext_secrets: bool) -> None:
    """Validate the resources in FILE (YAML or JSON) and write them to /config."""
    from nornir_esi import desired

    try:
        store = _store(endpoints)
        changes = desired.apply(
            store,
            desired.load_file(file),
            plaintext_secrets=plaintext_secrets or None,
            requested_by=_cli_requester(),
        )
    except EsiError as exc:
        _fail(exc)
    for change in changes:
        click.echo(
            f"{change.outcome:9} {change.resource_type} {change.resource_id} "
            f"version {change.version}"
        )


@main.command()
@click.argument("target", nargs=-1, metavar="[TYPE ID]...")
@click.option(
    "--file",
    type=click.Path(exists=True, dir_okay=False),
    help="Delete the resources of this file (as `apply` takes it) instead.",
)
@ETCD_OPTION
def delete(target: tuple[str, ...], file: str | None, endpoints: str | None) -> None:
    """Mark resources for deletion in one transaction; the job manager removes them.

    A resource something else still references is refused, unless that referrer is
    deleted in the same command; the order of the resources does not matter.
    """
    from nornir_esi import desired

    if file is not None and target:
        raise click.UsageError("delete takes TYPE ID pairs or --file, not both")
    if file is None and (not target or len(target) % 2):
        raise click.UsageError("delete takes TYPE ID pairs (or --file FILE)")
    try:
        store = _store(endpoints)
        if file is not None:
            items = []
            for resource_type, body in desired.load_file(file):
                rid = body.get("id")
                if not isinstance(rid, str):
                    raise ValidationError(
                        f"file {file}", "id", f"is missing ({resource_type} body)"
                    )
                items.append((resource_type, rid))
        else:
            items = list(zip(target[::2], target[1::2], strict=True))
        changes = desired.delete(store, items, requested_by=_cli_requester())
    except EsiError as exc:
        _fail(exc)
    for change in changes:
        click.echo(
            f"{change.outcome} {change.resource_type} {change.resource_id} version {change.version}"
        )


@main.command()
@click.argument("prefix")
@ETCD_OPTION
def get(prefix: str, endpoints: str | None) -> None:
    """The keys under PREFIX as one JSON object {key: value}."""
    try:
        entries = _store(endpoints).get_prefix(prefix)
    except EsiError as exc:
        _fail(exc)
    out: dict[str, Any] = {}
    for entry in entries:
        try:
            out[entry.key] = json.loads(entry.value)
        except ValueError:
            out[entry.key] = entry.value
    click.echo(json.dumps(out, indent=2))


@main.command()
@click.argument("resource_type")
@click.argument("resource_id")
@click.option(
    "--until", "target", required=True, metavar="WORKER_STATE", help="e.g. CREATE_COMPLETED"
)
@click.option("--version", type=int, help="Wait for this config version (default: the latest).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds.")
@ETCD_OPTION
def wait(
    resource_type: str,
    resource_id: str,
    target: str,
    version: int | None,
    timeout: float,
    endpoints: str | None,
) -> None:
    """Exit 0 when /state of the resource reaches WORKER_STATE; 1 with the state otherwise."""
    from nornir_esi.waiting import wait_for_state

    try:
        state = wait_for_state(
            _store(endpoints), resource_type, resource_id, version=version, timeout=timeout
        )
    except EsiError as exc:
        _fail(exc)
    if state is None:
        click.echo(
            f"{resource_type} {resource_id}: no terminal state within {timeout:g} s", err=True
        )
        sys.exit(1)
    line = f"{resource_type} {resource_id} version {state.version}: {state.worker_state}"
    if state.worker_state != target:
        click.echo(f"{line}{': ' + state.error if state.error else ''}", err=True)
        sys.exit(1)
    click.echo(line)


INVENTORY_OPTION = click.option(
    "--inventory",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML mapping router name or ip to {hostname, port, username, password}.",
)


def _devices(inventory: str | None) -> Any:
    from nornir_esi.devices import NornirDevices

    return NornirDevices(overrides=inventory)


def _gateway_only(resource_type: str) -> None:
    if resource_type != "internet_gateway":
        raise click.BadParameter(
            f"{resource_type!r}: only internet_gateway resources change routers",
            param_hint="TYPE",
        )


def _print_diffs(diffs: dict[str, str]) -> None:
    for router, diff in diffs.items():
        click.echo(f"## {router}")
        click.echo(diff.rstrip() if diff.strip() else "(no change)")


@main.command()
@click.argument("target", nargs=-1, required=True, metavar="FILE | TYPE ID")
@ETCD_OPTION
@INVENTORY_OPTION
def plan(target: tuple[str, ...], endpoints: str | None, inventory: str | None) -> None:
    """Dry run: per router, the Junos diff a change would commit. Nothing changes.

    FILE: resources as `apply` takes them, validated, not written. TYPE ID: the resource's
    current /config version (pending or not).
    """
    from nornir_esi import desired, operations

    try:
        store, devices = _store(endpoints), _devices(inventory)
        if len(target) == 1:
            plans = operations.plan_items(store, devices, desired.load_file(target[0]))
            if not plans:
                click.echo("no internet_gateway in the file: no router would change")
            for resource_id, diffs in plans.items():
                click.echo(f"# internet_gateway {resource_id}")
                _print_diffs(diffs)
        elif len(target) == 2:
            _gateway_only(target[0])
            _print_diffs(operations.plan_pending(store, devices, target[1]))
        else:
            raise click.UsageError("plan takes FILE, or TYPE ID")
    except EsiError as exc:
        _fail(exc)


@main.command()
@click.argument("resource_type", metavar="TYPE")
@click.argument("resource_id", metavar="ID")
@ETCD_OPTION
@INVENTORY_OPTION
@HEAT_URL_OPTION
@HEAT_PROJECT_OPTION
def check(
    resource_type: str,
    resource_id: str,
    endpoints: str | None,
    inventory: str | None,
    heat_url: str | None,
    heat_project: str,
) -> None:
    """Drift: what differs on each router, and in the Heat stack's record, from what the
    resource should have (exit 1)."""
    from nornir_esi import operations
    from nornir_esi.heat import heat_from

    _gateway_only(resource_type)
    try:
        drift = operations.check(
            _store(endpoints),
            _devices(inventory),
            resource_id,
            heat_from(heat_url, project=heat_project),
        )
    except EsiError as exc:
        _fail(exc)
    _print_diffs(drift.diffs)
    for router, reason in sorted(drift.stack.items()):
        click.echo(f"stack drift on {router}: {reason}")
    click.echo(
        f"{resource_type} {resource_id} version {drift.version}: "
        f"{'drift found' if drift.found else 'no drift'}"
    )
    sys.exit(1 if drift.found else 0)


@main.command()
@click.argument("resource_type", metavar="TYPE")
@click.argument("resource_id", metavar="ID")
@ETCD_OPTION
@INVENTORY_OPTION
@HEAT_URL_OPTION
@HEAT_PROJECT_OPTION
def repair(
    resource_type: str,
    resource_id: str,
    endpoints: str | None,
    inventory: str | None,
    heat_url: str | None,
    heat_project: str,
) -> None:
    """Re-apply the resource's current version to both routers, as one pair transaction,
    and bring its Heat stack back in line."""
    from nornir_esi import operations
    from nornir_esi.heat import heat_from

    _gateway_only(resource_type)
    try:
        result = operations.repair(
            _store(endpoints),
            _devices(inventory),
            resource_id,
            heat_from(heat_url, project=heat_project),
        )
    except EsiError as exc:
        _fail(exc)
    _print_diffs(dict(result.diffs))
    click.echo(
        f"{resource_type} {resource_id}: {'repaired' if result.changed else 'nothing to repair'}"
    )


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # On a terminal, its width; piped, wide enough that no cell is cut.
    Console(width=None if sys.stdout.isatty() else 300).print(table)


@main.command()
@click.argument("resource_type", metavar="[TYPE]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine output: a JSON list of rows.")
@ETCD_OPTION
def status(resource_type: str | None, as_json: bool, endpoints: str | None) -> None:
    """Per resource: version, worker_state, monitoring, error (exit 1 when one failed)."""
    from nornir_esi.views import FAILED, resource_rows

    try:
        rows = resource_rows(_store(endpoints), resource_type)
    except EsiError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _table(
            "resources",
            ["type", "id", "name", "version", "worker_state", "monitoring", "error"],
            [
                [
                    r["type"],
                    r["id"],
                    str(r["name"]),
                    f"{r['version']}{' (deleting)' if r['deleting'] else ''}",
                    f"{r['worker_state']} (v{r['state_version']})" if r["worker_state"] else "",
                    ", ".join(f"{k}={v}" for k, v in sorted(r["monitoring"].items())),
                    r["error"],
                ]
                for r in rows
            ],
        )
    sys.exit(1 if any(r["worker_state"] in FAILED for r in rows) else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine output: a JSON list of rows.")
@ETCD_OPTION
def jobs(as_json: bool, endpoints: str | None) -> None:
    """Jobs waiting, ready and working: handler, resource, version, worker, attempts."""
    from nornir_esi.views import job_rows

    try:
        rows = job_rows(_store(endpoints))
    except EsiError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ["queue", "handler", "action", "resource", "version", "worker", "attempts"]
    _table("jobs", columns, [[str(r[c]) for c in columns] for r in rows])


# -- gateways -------------------------------------------------------------------------------

GATEWAY_EXIT_CODES = """
\b
Exit codes:
  0  done: the workflow completed (with --no-wait: the change is written)
  1  the workflow failed (CREATE_FAILED, ...); the error is printed
  2  bad input: nothing is written; the error names the object and the field
  3  no outcome yet: timed out waiting (the workflow goes on), or etcd unreachable
"""
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine output (JSON).")
WAIT_OPTIONS = [
    click.option("--no-wait", is_flag=True, help="Return once the change is written."),
    click.option(
        "--timeout", type=click.FloatRange(0), default=300.0, show_default=True, help="Seconds."
    ),
]


def _wait_options(command: Any) -> Any:
    for option in reversed(WAIT_OPTIONS):
        command = option(command)
    return command


@main.group(help=f"Internet gateways: create, show, list, delete.\n{GATEWAY_EXIT_CODES}")
def gateway() -> None:
    pass


def _gateway_body(store: EtcdStore, file: str | None, chosen: dict[str, Any]) -> dict[str, Any]:
    """The gateway to create: FILE's (a full body as `apply` takes it, or the choices as a
    map), the options' choices over the file's, the rest derived."""
    import uuid

    import yaml

    from nornir_esi import desired
    from nornir_esi.gateway_request import GATEWAY, derive

    if file is not None:
        try:
            data = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ValidationError(f"file {file}", "", f"cannot be read: {exc}") from exc
        if isinstance(data, list):
            items = desired.parse_items(data, f"file {file}")
            if len(items) != 1 or items[0][0] != GATEWAY:
                raise ValidationError(f"file {file}", "", f"must hold one {GATEWAY}")
            if chosen:
                raise click.UsageError("a full body in FILE takes no other options")
            return items[0][1]
        if not isinstance(data, dict):
            raise ValidationError(f"file {file}", "", "must be a map of choices or [{type, body}]")
        chosen = {**data, **chosen}
    chosen.setdefault("id", str(uuid.uuid4()))
    return derive(store, chosen)


def _await_workflow(
    store: EtcdStore,
    change: Any,
    revision: int,
    *,
    deleting: bool,
    wait: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Follow the version written (live, or quietly for --json), print, exit."""
    from nornir_esi.progress import Progress, follow, render

    progress = Progress(change.resource_type, change.resource_id, change.version, deleting)
    if wait and as_json:
        follow(store, progress, start_revision=revision + 1, timeout=timeout)
    elif wait:
        from rich.console import Console
        from rich.live import Live

        console = Console(width=None if sys.stdout.isatty() else 300)
        with Live(render(progress), console=console, auto_refresh=False) as live:
            follow(
                store,
                progress,
                start_revision=revision + 1,
                timeout=timeout,
                on_change=lambda p: live.update(render(p), refresh=True),
            )
    value = progress.to_value()
    value["change"] = change.outcome
    if not wait:
        value["outcome"] = "written"
    if as_json:
        click.echo(json.dumps(value, indent=2))
    elif not wait:
        click.echo(
            f"{change.outcome} {change.resource_type} {change.resource_id} version {change.version}"
        )
    if value["outcome"] == "failed":
        if not as_json:
            click.echo(f"nornir-esi: {value['worker_state']}: {value['error']}", err=True)
        sys.exit(1)
    if value["outcome"] == "timeout":
        if not as_json:
            click.echo(
                f"nornir-esi: {change.resource_type} {change.resource_id}: no outcome within "
                f"{timeout:g} s; the workflow goes on",
                err=True,
            )
        sys.exit(3)


@gateway.command("create", help=f"Create a gateway and follow its workflow.\n{GATEWAY_EXIT_CODES}")
@click.option(
    "-f",
    "--file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML: the choices as a map (the fields below), or a full body as `apply` takes it.",
)
@click.option("--id", "id_", help="The gateway's id (default: a new UUID).")
@click.option("--name")
@click.option("--tenant", "tenant_id", help="tenant_id.")
@click.option("--description")
@click.option("--vlan", "vlan_id", help="VLAN id, 1-4094.")
@click.option(
    "--downlink-interface",
    "--ha-interface",
    "downlink_interface_id",
    metavar="ID",
    help="The HA interface (downlink) the gateway is on.",
)
@click.option("--internet-service", "internet_service_id", metavar="ID")
@click.option("--qos-option", "qos_option_id", metavar="ID")
@_wait_options
@JSON_OPTION
@ETCD_OPTION
def gateway_create(
    file: str | None,
    id_: str | None,
    no_wait: bool,
    timeout: float,
    as_json: bool,
    endpoints: str | None,
    **choices: str | None,
) -> None:
    from nornir_esi import desired, keys
    from nornir_esi.gateway_request import GATEWAY

    chosen: dict[str, Any] = {k: v for k, v in choices.items() if v is not None}
    if id_ is not None:
        chosen["id"] = id_
    try:
        store = _store(endpoints)
        body = _gateway_body(store, file, chosen)
        rid = str(body.get("id") or "")
        if rid and store.get(keys.config(GATEWAY, rid)) is not None:
            raise ValidationError(f"{GATEWAY} {rid}", "id", "exists already")
        revision = store.revision()
        (change,) = desired.apply(store, [(GATEWAY, body)], requested_by=_cli_requester())
        _await_workflow(
            store,
            change,
            revision,
            deleting=False,
            wait=not no_wait,
            timeout=timeout,
            as_json=as_json,
        )
    except EsiError as exc:
        _fail(exc)


@gateway.command(
    "delete", help=f"Delete a gateway (two steps) and follow it.\n{GATEWAY_EXIT_CODES}"
)
@click.argument("resource_id", metavar="ID")
@_wait_options
@JSON_OPTION
@ETCD_OPTION
def gateway_delete(
    resource_id: str, no_wait: bool, timeout: float, as_json: bool, endpoints: str | None
) -> None:
    from nornir_esi import desired
    from nornir_esi.gateway_request import GATEWAY

    try:
        store = _store(endpoints)
        revision = store.revision()
        (change,) = desired.delete(store, [(GATEWAY, resource_id)], requested_by=_cli_requester())
        _await_workflow(
            store,
            change,
            revision,
            deleting=True,
            wait=not no_wait,
            timeout=timeout,
            as_json=as_json,
        )
    except EsiError as exc:
        _fail(exc)


@gateway.command("show")
@click.argument("resource_id", metavar="ID")
@JSON_OPTION
@ETCD_OPTION
def gateway_show(resource_id: str, as_json: bool, endpoints: str | None) -> None:
    """A gateway: its body, version, state, monitoring, stack and queued jobs (exit 1 when
    its workflow failed, 2 when there is no such gateway)."""
    from nornir_esi import keys
    from nornir_esi.gateway_request import GATEWAY
    from nornir_esi.records import ConfigRecord, HeatStack, Monitoring, State
    from nornir_esi.views import FAILED, job_rows

    try:
        store = _store(endpoints)
        entry = store.get(keys.config(GATEWAY, resource_id))
        if entry is None:
            raise ValidationError(f"{GATEWAY} {resource_id}", "id", "is not in /config")
        record = ConfigRecord.from_value(entry.value)
        state_entry = store.get(keys.state(GATEWAY, resource_id))
        state = None if state_entry is None else State.from_value(state_entry.value)
        monitoring_entry = store.get(keys.monitoring(GATEWAY, resource_id))
        monitoring = (
            None if monitoring_entry is None else Monitoring.from_value(monitoring_entry.value)
        )
        stack_entry = store.get(keys.heat_stack(GATEWAY, resource_id))
        stack = None if stack_entry is None else HeatStack.from_value(stack_entry.value)
        jobs = [r for r in job_rows(store) if r["resource"] == f"{GATEWAY} {resource_id}"]
    except EsiError as exc:
        _fail(exc)
    shown = {
        "type": GATEWAY,
        "id": resource_id,
        "version": record.version,
        "deleting": record.marked_for_deletion,
        "body": record.body,
        "state": None if state is None else state.to_value(),
        # A gateway's is the monitoring worker's measure in its /state; others' /monitoring.
        "monitoring": (
            monitoring.status
            if monitoring is not None
            else json.loads(state.state_monitoring)
            if state is not None and state.state_monitoring
            else None
        ),
        "stack": None if stack is None else stack.to_value(),
        "jobs": jobs,
    }
    if as_json:
        click.echo(json.dumps(shown, indent=2))
    else:
        _print_gateway(shown, state)
    sys.exit(1 if state is not None and state.worker_state in FAILED else 0)


def _print_gateway(shown: dict[str, Any], state: Any) -> None:
    rows = [[k, json.dumps(v) if not isinstance(v, str) else v] for k, v in shown["body"].items()]
    deleting = " (deleting)" if shown["deleting"] else ""
    rows.append(["version", f"{shown['version']}{deleting}"])
    if state is not None:
        error = f": {state.error}" if state.error else ""
        rows.append(["worker_state", f"{state.worker_state} (v{state.version}){error}"])
    if shown["monitoring"] is not None:
        rows.append(["monitoring", ", ".join(f"{k}={v}" for k, v in shown["monitoring"].items())])
    if shown["stack"] is not None:
        rows.append(["stack", f"{shown['stack']['stack_id']} {shown['stack']['stack_status']}"])
    _table(f"internet_gateway {shown['id']}", ["field", "value"], rows)
    if shown["jobs"]:
        columns = ["queue", "job", "worker", "attempts"]
        _table("jobs", columns, [[str(r[c]) for c in columns] for r in shown["jobs"]])


@gateway.command("list")
@JSON_OPTION
@ETCD_OPTION
def gateway_list(as_json: bool, endpoints: str | None) -> None:
    """Every gateway: version, worker_state, monitoring, error (exit 1 when one failed)."""
    from nornir_esi.gateway_request import GATEWAY
    from nornir_esi.views import FAILED, resource_rows

    try:
        rows = resource_rows(_store(endpoints), GATEWAY)
    except EsiError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _table(
            "internet gateways",
            ["id", "name", "version", "worker_state", "monitoring", "error"],
            [
                [
                    r["id"],
                    str(r["name"]),
                    f"{r['version']}{' (deleting)' if r['deleting'] else ''}",
                    f"{r['worker_state']} (v{r['state_version']})" if r["worker_state"] else "",
                    ", ".join(f"{k}={v}" for k, v in sorted(r["monitoring"].items())),
                    r["error"],
                ]
                for r in rows
            ],
        )
    sys.exit(1 if any(r["worker_state"] in FAILED for r in rows) else 0)


# -- audit ----------------------------------------------------------------------------------


@main.command()
@click.argument("resource_type", metavar="TYPE")
@click.argument("resource_id", metavar="ID")
@JSON_OPTION
@click.option("--no-routers", is_flag=True, help="Do not read the routers' commit history.")
@ETCD_OPTION
@INVENTORY_OPTION
def audit(
    resource_type: str,
    resource_id: str,
    as_json: bool,
    no_routers: bool,
    endpoints: str | None,
    inventory: str | None,
) -> None:
    """The audit trail of a resource, per version: who asked for it (API token, CLI user,
    NetBox user and request id), the jobs and the workers that ran them, on each router
    the commits of each job (comment = job id) and their rollback index, and the stack.
    The routers are read live; one that cannot be reached says so."""
    from nornir_esi.audit import gather

    try:
        trail = gather(
            _store(endpoints),
            resource_type,
            resource_id,
            None if no_routers else _devices(inventory),
        )
        if not trail["versions"] and trail["current"] is None:
            raise ValidationError(f"{resource_type} {resource_id}", "", "has no audit trail")
    except EsiError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(trail, indent=2))
    else:
        _print_audit(trail)


def _print_audit(trail: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    current = trail["current"]
    if current is None:
        now = "gone (its /config is deleted)"
    else:
        state = f", {current['worker_state']} (v{current['state_version']})"
        now = f"version {current['version']}{' deleting' if current['deleting'] else ''}"
        now += state if current["worker_state"] else ""
    tree = Tree(f"[bold]{trail['type']} {trail['id']}[/bold]: {now}")
    if trail["stack"] is not None:
        stack = trail["stack"]
        tree.add(f"stack now: {stack['stack_id'] or '(none)'} {stack['stack_status']}")
    routers = tree.add("routers")
    for name, router in trail["routers"].items():
        error = f": {router['error']}" if router["error"] else ""
        routers.add(f"{name} ({router['role']}){error}")
    if trail["routers_note"]:
        routers.add(trail["routers_note"])
    for version in trail["versions"]:
        request = version["request"]
        if request is None:
            asked = "requester not recorded"
        else:
            rid = f" request {request['request_id']}" if request["request_id"] else ""
            asked = (
                f"{request['change']} via {request['via']} by {request['principal'] or '?'}"
                f"{rid} at {request['at']}"
            )
        node = tree.add(f"[bold]version {version['version']}[/bold]: {asked}")
        if version["stack"] is not None:
            stack = version["stack"]
            reason = f" ({stack['status_reason']})" if stack["status_reason"] else ""
            node.add(f"stack {stack['stack_id'] or '(deleted)'} {stack['stack_status']}{reason}")
        for job in version["jobs"]:
            error = f": {job['error']}" if job["error"] else ""
            tries = f"{job['attempts']} attempt{'s' if job['attempts'] != 1 else ''}"
            when = f", {job['started']} .. {job['ended']}" if job["started"] else ""
            branch = node.add(
                f"job {job['job']}: {job['outcome']}{error} (worker {job['worker'] or '-'}, "
                f"{tries}{when})"
            )
            for name, on_router in job["routers"].items():
                if "error" in on_router:
                    branch.add(f"{name}: cannot be read: {on_router['error']}")
                elif on_router["commits"]:
                    undone = on_router["undone"]
                    branch.add(
                        f"{name}: commits {', '.join(map(str, on_router['commits']))} "
                        f"(comment = job id), rollback {on_router['rollback']}"
                        + (f", undone by commit {undone[0]}" if undone else "")
                    )
    Console(width=None if sys.stdout.isatty() else 300).print(tree)


# -- NetBox ---------------------------------------------------------------------------------

NETBOX_URL_OPTION = click.option(
    "--netbox-url", envvar="ESI_NETBOX_URL", required=True, help="NetBox base URL."
)
NETBOX_TOKEN_OPTION = click.option(
    "--netbox-token",
    envvar="ESI_NETBOX_TOKEN",
    required=True,
    help="NetBox API token (better: the ESI_NETBOX_TOKEN environment variable).",
)
LOGIN_OPTION = click.option(
    "--login", default="esi", show_default=True, help="NETCONF login of new routers."
)
PASSWORD_ENV_OPTION = click.option(
    "--password-env",
    default="ESI_ROUTER_PASSWORD",
    show_default=True,
    help="Environment variable of the workers holding the NETCONF password of new routers "
    '(/config gets {"ref": "env:NAME"}; its value only with ESI_PLAINTEXT_SECRETS=1).',
)


def _sync_options(login: str, password_env: str) -> Any:
    from nornir_esi import secrets
    from nornir_esi.netbox.sync import SyncOptions

    if secrets.plaintext_allowed():  # the compatibility switch: the value, as before
        password = os.environ.get(password_env, "")
        return SyncOptions(login=login, password=password, plaintext_secrets=True)
    return SyncOptions(login=login, password=secrets.reference("env", password_env))


def _netbox(url: str, token: str) -> Any:
    import pynetbox

    return pynetbox.api(url, token=token)


@main.group()
def netbox() -> None:
    """NetBox as the source of truth: schema, seed, sync."""


@netbox.command("setup")
@NETBOX_URL_OPTION
@NETBOX_TOKEN_OPTION
@click.option("--webhook-url", help="Also install an event rule posting changes here.")
@click.option("--webhook-secret-env", default="ESI_NETBOX_WEBHOOK_SECRET", show_default=True)
def netbox_setup(
    netbox_url: str, netbox_token: str, webhook_url: str | None, webhook_secret_env: str
) -> None:
    """Create the custom fields, role and platform the mapping uses, install the custom
    scripts (and the event rule whose webhook the scripts also use to reach us)."""
    from nornir_esi.netbox.schema import ensure_event_rule, ensure_schema, ensure_scripts

    nb = _netbox(netbox_url, netbox_token)
    created = ensure_schema(nb) + ensure_scripts(netbox_url, netbox_token)
    if webhook_url:
        secret = os.environ.get(webhook_secret_env, "")
        if not secret:
            raise click.UsageError(f"{webhook_secret_env} is not set: the webhook needs a secret")
        created += ensure_event_rule(nb, webhook_url, secret)
    for line in created or ["nothing to create"]:
        click.echo(line)


@netbox.command("seed")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@NETBOX_URL_OPTION
@NETBOX_TOKEN_OPTION
def netbox_seed(file: str, netbox_url: str, netbox_token: str) -> None:
    """Create the NetBox objects of a resource file (routers, interfaces, pairs, HA
    interfaces), each carrying its resource id: moving an inventory into NetBox."""
    from nornir_esi import desired
    from nornir_esi.netbox.seed import seed

    try:
        ids = seed(_netbox(netbox_url, netbox_token), desired.load_file(file))
    except EsiError as exc:
        _fail(exc)
    click.echo(f"{len(ids)} resources in NetBox")


@netbox.command("sync")
@NETBOX_URL_OPTION
@NETBOX_TOKEN_OPTION
@ETCD_OPTION
@LOGIN_OPTION
@PASSWORD_ENV_OPTION
def netbox_sync(
    netbox_url: str, netbox_token: str, endpoints: str | None, login: str, password_env: str
) -> None:
    """NetBox -> /config: new versions for what changed in NetBox, nothing for the rest."""
    from nornir_esi.netbox.sync import sync

    try:
        report = sync(
            _netbox(netbox_url, netbox_token),
            _store(endpoints),
            _sync_options(login, password_env),
            requested_by=_cli_requester(),
        )
    except EsiError as exc:
        _fail(exc)
    for outcome, names in report.as_dict().items():
        for name in names:
            click.echo(f"{outcome} {name}")
    sys.exit(1 if report.refused else 0)


@main.command()
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT.")
@ETCD_OPTION
@click.option(
    "--api-tokens",
    envvar="ESI_API_TOKENS",
    type=click.Path(dir_okay=False),
    help="YAML file {name: token} enabling the /v2.0 API for those tokens "
    "(default: $ESI_API_TOKENS; without, there is no /v2.0 API).",
)
@click.option("--certfile", type=click.Path(dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="Its PEM key, if not in it.")
@click.option("--netbox-url", envvar="ESI_NETBOX_URL", help="Enables the NetBox routes.")
@click.option("--netbox-token", envvar="ESI_NETBOX_TOKEN")
@click.option("--webhook-secret-env", default="ESI_NETBOX_WEBHOOK_SECRET", show_default=True)
@INVENTORY_OPTION
@LOGIN_OPTION
@PASSWORD_ENV_OPTION
def serve(
    listen: str,
    endpoints: str | None,
    api_tokens: str | None,
    certfile: str | None,
    keyfile: str | None,
    netbox_url: str | None,
    netbox_token: str | None,
    webhook_secret_env: str,
    inventory: str | None,
    login: str,
    password_env: str,
) -> None:
    """The HTTP API (the /v2.0 resources, NetBox's webhook and custom-script routes), until
    SIGINT/SIGTERM."""
    import uvicorn

    from nornir_esi.api import NetBoxDoor, create_app
    from nornir_esi.northbound import load_tokens

    host, _, port = listen.rpartition(":")
    if keyfile and not certfile:
        raise click.UsageError("--keyfile needs --certfile")
    tokens = None
    if api_tokens:
        try:
            tokens = load_tokens(api_tokens)
        except EsiError as exc:
            _fail(exc)
    door = None
    if netbox_url:
        secret = os.environ.get(webhook_secret_env, "")
        if not netbox_token or not secret:
            raise click.UsageError(
                f"the NetBox routes need --netbox-token and {webhook_secret_env}"
            )
        door = NetBoxDoor(
            _netbox(netbox_url, netbox_token),
            secret,
            _sync_options(login, password_env),
            devices=_devices(inventory),
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if tokens is None:
        logging.getLogger(__name__).warning("no --api-tokens: the /v2.0 API is off")
    uvicorn.run(
        create_app(_store(endpoints), door, tokens),
        host=host or "127.0.0.1",
        port=int(port),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )


if __name__ == "__main__":
    main()
