"""``nornir-esi gateway create|show|list|delete``: internet gateways from an operator's choices.

Each change is followed through its workflow (:mod:`nornir_esi.doors.progress`).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nornir_esi.cli.common import (
    ETCD_OPTION,
    JSON_OPTION,
    cli_requester,
    fail,
    open_store,
    print_table,
)
from nornir_esi.cli.status import monitoring_text, show_resources
from nornir_esi.exceptions import EsiError, ValidationError

if TYPE_CHECKING:
    from nornir_esi.store.etcd import EtcdStore

__all__ = ["gateway"]


GATEWAY_EXIT_CODES = """
\b
Exit codes:
  0  done: the workflow completed (with --no-wait: the change is written)
  1  the workflow failed (CREATE_FAILED, ...); the error is printed
  2  bad input: nothing is written; the error names the object and the field
  3  no outcome yet: timed out waiting (the workflow goes on), or etcd unreachable
"""


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


@click.group(help=f"Internet gateways: create, show, list, delete.\n{GATEWAY_EXIT_CODES}")
def gateway() -> None:
    """The ``gateway`` group; its help, with the exit codes, is given to ``click.group``."""


def _gateway_body(store: EtcdStore, file: str | None, chosen: dict[str, Any]) -> dict[str, Any]:
    """The gateway to create: FILE's, the options' choices over the file's, the rest derived.

    FILE holds a full body as `apply` takes it, or the choices as a map.
    """
    import uuid

    import yaml

    from nornir_esi.contract import desired
    from nornir_esi.services.internet_gateway.request import GATEWAY, derive

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
    from nornir_esi.doors.progress import Progress, follow, render

    progress = Progress(change.resource_type, change.resource_id, change.version, deleting)
    if wait and not as_json and sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live

        with Live(render(progress), console=Console(), auto_refresh=False) as live:
            follow(
                store,
                progress,
                start_revision=revision + 1,
                timeout=timeout,
                on_change=lambda p: live.update(render(p), refresh=True),
            )
    elif wait:
        follow(store, progress, start_revision=revision + 1, timeout=timeout)
        if not as_json:  # piped: no frames drawn over each other, the last one, once
            from rich.console import Console

            Console(width=300).print(render(progress))
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
@click.option("--tenant", "tenant_id", help="tenant_id (default: the HA interface's).")
@click.option("--description")
@click.option("--vlan", "vlan_id", help="VLAN id, 1-4094 (default: placed, the lowest free).")
@click.option(
    "--downlink-interface",
    "--ha-interface",
    "downlink_interface_id",
    metavar="ID",
    help="The HA interface (downlink) the gateway is on (default: placed, one with room).",
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
    from nornir_esi.contract import desired
    from nornir_esi.services.internet_gateway import placement
    from nornir_esi.services.internet_gateway.request import GATEWAY

    chosen: dict[str, Any] = {k: v for k, v in choices.items() if v is not None}
    if id_ is not None:
        chosen["id"] = id_
    try:
        store = open_store(endpoints)
        revision = store.revision()
        if file is None and not {"vlan_id", "downlink_interface_id"} <= set(chosen):
            # No VLAN or HA interface chosen: placed as a tenant's gateway is (a downlink of
            # the service with room, its lowest free VLAN).
            chosen.setdefault("id", str(uuid.uuid4()))
            _, change = placement.create(store, chosen, requested_by=cli_requester())
        else:
            body = _gateway_body(store, file, chosen)
            # A create, never an update: an existing id (also one another request wrote a
            # moment ago) is a ConflictError from the write's own transaction.
            (change,) = desired.apply(
                store,
                [(GATEWAY, body)],
                requested_by=cli_requester(),
                expected={(GATEWAY, str(body.get("id") or "")): 0},
            )
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
        fail(exc)


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
    from nornir_esi.contract import desired
    from nornir_esi.services.internet_gateway.request import GATEWAY

    try:
        store = open_store(endpoints)
        revision = store.revision()
        (change,) = desired.delete(store, [(GATEWAY, resource_id)], requested_by=cli_requester())
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
        fail(exc)


@gateway.command("show")
@click.argument("resource_id", metavar="ID")
@JSON_OPTION
@ETCD_OPTION
def gateway_show(resource_id: str, as_json: bool, endpoints: str | None) -> None:
    """A gateway: its body, version, state, monitoring, stack and queued jobs.

    Exit 1 when its workflow failed, 2 when there is no such gateway.
    """
    from nornir_esi.contract import keys
    from nornir_esi.contract.config import require_config
    from nornir_esi.contract.records import HeatStack, Monitoring, State
    from nornir_esi.doors.views import FAILED, api_status, job_rows, monitoring_status
    from nornir_esi.services.internet_gateway.request import GATEWAY

    try:
        store = open_store(endpoints)
        record = require_config(store, GATEWAY, resource_id)
        state_entry = store.get(keys.state(GATEWAY, resource_id))
        state = None if state_entry is None else State.from_value(state_entry.value)
        monitoring_entry = store.get(keys.monitoring(GATEWAY, resource_id))
        monitoring = (
            None if monitoring_entry is None else Monitoring.from_value(monitoring_entry.value)
        )
        stack_entry = store.get(keys.heat_stack(GATEWAY, resource_id))
        stack = None if stack_entry is None else HeatStack.from_value(stack_entry.value)
        jobs = [r for r in job_rows(store) if r["resource"] == f"{GATEWAY} {resource_id}"]
        measured = monitoring_status(monitoring, state)
    except EsiError as exc:
        fail(exc)
    shown = {
        "type": GATEWAY,
        "id": resource_id,
        "version": record.version,
        "deleting": record.marked_for_deletion,
        "body": record.body,
        # The API's status (GET answers it), not the one stored with the body at its write.
        "status": api_status(record, state)[0],
        "state": None if state is None else state.to_value(),
        "monitoring": measured,
        "stack": None if stack is None else stack.to_value(),
        "jobs": jobs,
    }
    if as_json:
        click.echo(json.dumps(shown, indent=2))
    else:
        _print_gateway(shown, state)
    sys.exit(1 if state is not None and state.worker_state in FAILED else 0)


def _print_gateway(shown: dict[str, Any], state: Any) -> None:
    body = {**shown["body"], "status": shown["status"]}
    rows = [[k, json.dumps(v) if not isinstance(v, str) else v] for k, v in body.items()]
    deleting = " (deleting)" if shown["deleting"] else ""
    rows.append(["version", f"{shown['version']}{deleting}"])
    if state is not None:
        error = f": {state.error}" if state.error else ""
        rows.append(["worker_state", f"{state.worker_state} (v{state.version}){error}"])
    if shown["monitoring"] is not None:
        rows.append(["monitoring", monitoring_text(shown["monitoring"])])
    if shown["stack"] is not None:
        rows.append(["stack", f"{shown['stack']['stack_id']} {shown['stack']['stack_status']}"])
    print_table(f"internet_gateway {shown['id']}", ["field", "value"], rows)
    if shown["jobs"]:
        columns = ["queue", "job", "worker", "attempts"]
        print_table("jobs", columns, [[str(r[c]) for c in columns] for r in shown["jobs"]])


@gateway.command("list")
@JSON_OPTION
@ETCD_OPTION
def gateway_list(as_json: bool, endpoints: str | None) -> None:
    """Every gateway: version, worker_state, monitoring, error (exit 1 when one failed)."""
    from nornir_esi.doors.views import resource_rows
    from nornir_esi.services.internet_gateway.request import GATEWAY

    try:
        rows = resource_rows(open_store(endpoints), GATEWAY)
    except EsiError as exc:
        fail(exc)
    show_resources("internet gateways", rows, as_json=as_json, with_type=False)
