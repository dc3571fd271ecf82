"""``nornir-esi status`` and ``jobs``: the resources and the queued jobs as etcd holds them now.

The rows come from :mod:`nornir_esi.doors.views`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import click

from nornir_esi.cli.common import (
    ETCD_OPTION,
    INVENTORY_OPTION,
    fail,
    open_devices,
    open_store,
    print_table,
)
from nornir_esi.exceptions import EsiError

__all__ = ["jobs", "monitoring_text", "show_resources", "status"]


def monitoring_text(status: Mapping[str, Any]) -> str:
    """A monitoring status on one line: ``downlink=ACTIVE, uplink=ACTIVE``.

    A nested status (a gw_interface's ``status``: VRRP per role) shows its fields; a drift
    check's shows as ``drift=NONE``, or ``drift=FOUND`` with the routers that drift; when it
    ran is left out.
    """
    parts: list[str] = []
    for k, v in sorted(status.items()):
        if k == "drift_checked_at" or v in ({}, [], None, ""):
            continue
        if k in ("drift_routers", "drift_stack") and isinstance(v, Mapping):
            parts.append(f"{k}={','.join(sorted(v))}")
        elif isinstance(v, Mapping):
            parts += [f"{ik}={iv}" for ik, iv in sorted(v.items())]
        else:
            parts.append(f"{k}={v}")
    return ", ".join(parts)


def show_resources(
    title: str, rows: list[dict[str, Any]], *, as_json: bool, with_type: bool
) -> NoReturn:
    """Resource rows as JSON or a table; exit 1 when one's workflow failed.

    The rows are :func:`nornir_esi.doors.views.resource_rows`'s.
    """
    from nornir_esi.doors.views import FAILED

    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        columns = ["id", "name", "version", "worker_state", "monitoring", "error"]
        print_table(
            title,
            ["type", *columns] if with_type else columns,
            [
                [
                    *([r["type"]] if with_type else []),
                    r["id"],
                    str(r["name"]),
                    f"{r['version']}{' (deleting)' if r['deleting'] else ''}",
                    f"{r['worker_state']} (v{r['state_version']})" if r["worker_state"] else "",
                    monitoring_text(r["monitoring"]),
                    r["error"],
                ]
                for r in rows
            ],
        )
    sys.exit(1 if any(r["worker_state"] in FAILED for r in rows) else 0)


@click.command()
@click.argument("resource_type", metavar="[TYPE]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine output: a JSON list of rows.")
@click.option(
    "--forwarding",
    "gateway_id",
    metavar="GATEWAY_ID",
    help="Instead: how the gateway forwards now, read from its routers (exit 1 when not "
    "MASTER/BACKUP, BGP Established and every static route active).",
)
@ETCD_OPTION
@INVENTORY_OPTION
def status(
    resource_type: str | None,
    as_json: bool,
    gateway_id: str | None,
    endpoints: str | None,
    inventory: str | None,
) -> None:
    """Per resource: version, worker_state, monitoring, error (exit 1 when one failed)."""
    from nornir_esi.doors.views import resource_rows

    if gateway_id is not None:
        _forwarding(gateway_id, as_json=as_json, endpoints=endpoints, inventory=inventory)
    try:
        rows = resource_rows(open_store(endpoints), resource_type)
    except EsiError as exc:
        fail(exc)
    show_resources("resources", rows, as_json=as_json, with_type=True)


def _forwarding(
    gateway_id: str, *, as_json: bool, endpoints: str | None, inventory: str | None
) -> NoReturn:
    """Print the gateway's forwarding health per router; exit 1 when it does not forward."""
    from dataclasses import asdict

    from nornir_esi.services.forwarding import forwarding_health, forwards

    try:
        health = forwarding_health(open_store(endpoints), open_devices(inventory), gateway_id)
    except EsiError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps({role: asdict(h) for role, h in health.items()}, indent=2))
    else:
        print_table(
            f"internet_gateway {gateway_id}: forwarding",
            ["role", "router", "vrrp", "bgp", "static routes", "error"],
            [
                [
                    role,
                    h.router,
                    h.vrrp,
                    h.bgp,
                    f"{h.routes_active}/{h.routes_total} active"
                    + (f" (not: {', '.join(h.missing)})" if h.missing else ""),
                    h.error,
                ]
                for role, h in health.items()
            ],
        )
    sys.exit(0 if forwards(health) else 1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine output: a JSON list of rows.")
@ETCD_OPTION
def jobs(as_json: bool, endpoints: str | None) -> None:
    """Jobs waiting, ready and working.

    Per job: age (since planned), handler, resource, version, worker, attempts.
    """
    from nornir_esi.doors.views import job_rows

    try:
        rows = job_rows(open_store(endpoints))
    except EsiError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    columns = ["queue", "age", "handler", "action", "resource", "version", "worker", "attempts"]
    shown = [{**r, "age": _duration(r["age"])} for r in rows]
    print_table("jobs", columns, [[str(r[c]) for c in columns] for r in shown])


def _duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
