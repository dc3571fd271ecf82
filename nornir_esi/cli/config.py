"""``nornir-esi apply``, ``delete``, ``get`` and ``wait``: ``/config`` written, keys read.

Resources written to ``/config``, keys read, a ``/state`` awaited.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from nornir_esi.cli.common import ETCD_OPTION, cli_requester, fail, open_store
from nornir_esi.exceptions import EsiError, ValidationError

__all__ = ["apply", "delete", "get", "wait"]


@click.command()
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
    from nornir_esi.contract import desired

    try:
        store = open_store(endpoints)
        changes = desired.apply(
            store,
            desired.load_file(file),
            plaintext_secrets=plaintext_secrets or None,
            requested_by=cli_requester(),
        )
    except EsiError as exc:
        fail(exc)
    for change in changes:
        click.echo(
            f"{change.outcome:9} {change.resource_type} {change.resource_id} "
            f"version {change.version}"
        )


@click.command()
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
    from nornir_esi.contract import desired

    if file is not None and target:
        raise click.UsageError("delete takes TYPE ID pairs or --file, not both")
    if file is None and (not target or len(target) % 2):
        raise click.UsageError("delete takes TYPE ID pairs (or --file FILE)")
    try:
        store = open_store(endpoints)
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
        changes = desired.delete(store, items, requested_by=cli_requester())
    except EsiError as exc:
        fail(exc)
    for change in changes:
        click.echo(
            f"{change.outcome} {change.resource_type} {change.resource_id} version {change.version}"
        )


@click.command()
@click.argument("prefix")
@ETCD_OPTION
def get(prefix: str, endpoints: str | None) -> None:
    """The keys under PREFIX as one JSON object {key: value}."""
    try:
        entries = open_store(endpoints).get_prefix(prefix)
    except EsiError as exc:
        fail(exc)
    out: dict[str, Any] = {}
    for entry in entries:
        try:
            out[entry.key] = json.loads(entry.value)
        except ValueError:
            out[entry.key] = entry.value
    click.echo(json.dumps(out, indent=2))


@click.command()
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
    from nornir_esi.doors.waiting import wait_for_state

    try:
        state = wait_for_state(
            open_store(endpoints), resource_type, resource_id, version=version, timeout=timeout
        )
    except EsiError as exc:
        fail(exc)
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
