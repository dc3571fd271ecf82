"""``nornir-esi audit``: a resource's audit trail as a tree, or ``--json``.

The trail is gathered by :mod:`nornir_esi.doors.audit`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from nornir_esi.cli.common import (
    ETCD_OPTION,
    INVENTORY_OPTION,
    JSON_OPTION,
    fail,
    open_devices,
    open_store,
)
from nornir_esi.exceptions import EsiError, ValidationError

__all__ = ["audit"]


@click.command()
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
    """The audit trail of a resource, per version: who asked, the jobs, the commits, the stack.

    Who asked for it (API token, CLI user, NetBox user and request id), the jobs and the
    workers that ran them, on each router the commits of each job (comment names the job id)
    and their rollback index, and the stack. The routers are read live; one that cannot be
    reached says so.
    """
    from nornir_esi.doors.audit import gather

    try:
        trail = gather(
            open_store(endpoints),
            resource_type,
            resource_id,
            None if no_routers else open_devices(inventory),
        )
        if not trail["versions"] and trail["current"] is None:
            raise ValidationError(f"{resource_type} {resource_id}", "", "has no audit trail")
    except EsiError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(trail, indent=2))
    else:
        _print_audit(trail)


def _print_audit(trail: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    from nornir_esi.jobs.planner import HEAT_WORKER

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
            if job["outcome"] == "planned":
                # Planned, never claimed, and no longer queued: its workflow ended first.
                node.add(f"job {job['job']}: not run (its workflow ended before it)")
                continue
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
                        f"(comment names the job id), rollback {on_router['rollback']}"
                        + (f", undone by commit {undone[0]}" if undone else "")
                    )
                elif job["handler"] == HEAT_WORKER and job["outcome"] == "finished":
                    branch.add(f"{name}: no commit (nothing to change)")
    Console(width=None if sys.stdout.isatty() else 300).print(tree)
