"""``nornir-esi plan``, ``check`` and ``repair``: a resource's change on its routers.

What the change does, or should have done, to its routers' configuration.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from nornir_esi.cli.common import (
    ETCD_OPTION,
    HEAT_PROJECT_OPTION,
    HEAT_URL_OPTION,
    INVENTORY_OPTION,
    fail,
    open_devices,
    open_store,
)
from nornir_esi.exceptions import EsiError

__all__ = ["check", "plan", "repair"]


def _on_routers(resource_type: str) -> None:
    from nornir_esi.services import SERVICES

    if resource_type not in SERVICES:
        raise click.BadParameter(
            f"{resource_type!r} changes no router; those that do: {', '.join(SERVICES)}",
            param_hint="TYPE",
        )


def _print_diffs(diffs: dict[str, str]) -> None:
    for router, diff in diffs.items():
        click.echo(f"## {router}")
        click.echo(diff.rstrip() if diff.strip() else "(no change)")


@click.command()
@click.argument("target", nargs=-1, required=True, metavar="FILE | TYPE ID")
@ETCD_OPTION
@INVENTORY_OPTION
def plan(target: tuple[str, ...], endpoints: str | None, inventory: str | None) -> None:
    """Dry run: per router, the Junos diff a change would commit. Nothing changes.

    FILE: resources as `apply` takes them, validated, not written; those on one router pair
    are planned together, as one transaction would commit them. TYPE ID: the resource's
    current /config version (pending or not). TYPE: a gateway or a family member
    (public_ip, gw_interface, static_route).
    """
    from nornir_esi.contract import desired
    from nornir_esi.services import operations

    try:
        store, devices = open_store(endpoints), open_devices(inventory)
        if len(target) == 1:
            plans = operations.plan_items(store, devices, desired.load_file(target[0]))
            if not plans:
                click.echo("nothing in the file changes a router")
            for planned in plans:
                for resource_type, resource_id in planned.resources:
                    click.echo(f"# {resource_type} {resource_id}")
                _print_diffs(planned.diffs)
        elif len(target) == 2:
            _on_routers(target[0])
            _print_diffs(
                operations.plan_pending(store, devices, target[1], resource_type=target[0])
            )
        else:
            raise click.UsageError("plan takes FILE, or TYPE ID")
    except EsiError as exc:
        fail(exc)


def _on_a_resource(command: Any) -> Any:
    """TYPE ID and where the resource's store, routers and Heat are (check, repair)."""
    for decorator in reversed(
        (
            click.argument("resource_type", metavar="TYPE"),
            click.argument("resource_id", metavar="ID"),
            ETCD_OPTION,
            INVENTORY_OPTION,
            HEAT_URL_OPTION,
            HEAT_PROJECT_OPTION,
        )
    ):
        command = decorator(command)
    return command


@click.command()
@_on_a_resource
def check(
    resource_type: str,
    resource_id: str,
    endpoints: str | None,
    inventory: str | None,
    heat_url: str | None,
    heat_project: str,
) -> None:
    """Drift: what differs from what the resource should have (exit 1).

    Compared on each router, and in the Heat stack's record.
    """
    from nornir_esi.heat.factory import heat_from
    from nornir_esi.services import operations

    _on_routers(resource_type)
    try:
        drift = operations.check(
            open_store(endpoints),
            open_devices(inventory),
            resource_id,
            heat_from(heat_url, project=heat_project),
            resource_type=resource_type,
        )
    except EsiError as exc:
        fail(exc)
    _print_diffs(drift.diffs)
    for router, reason in sorted(drift.stack.items()):
        click.echo(f"stack drift on {router}: {reason}")
    click.echo(
        f"{resource_type} {resource_id} version {drift.version}: "
        f"{'drift found' if drift.found else 'no drift'}"
    )
    sys.exit(1 if drift.found else 0)


@click.command()
@_on_a_resource
def repair(
    resource_type: str,
    resource_id: str,
    endpoints: str | None,
    inventory: str | None,
    heat_url: str | None,
    heat_project: str,
) -> None:
    """Re-apply the resource's current version to both routers, bring its Heat stack back in line.

    The routers get it as one pair transaction.
    """
    from nornir_esi.heat.factory import heat_from
    from nornir_esi.services import operations

    _on_routers(resource_type)
    try:
        result = operations.repair(
            open_store(endpoints),
            open_devices(inventory),
            resource_id,
            heat_from(heat_url, project=heat_project),
            resource_type=resource_type,
        )
    except EsiError as exc:
        fail(exc)
    _print_diffs(dict(result.diffs))
    click.echo(
        f"{resource_type} {resource_id}: {'repaired' if result.changed else 'nothing to repair'}"
    )
