"""``nornir-esi status`` and ``jobs``: the resources and the queued jobs as etcd holds them now.

The rows come from :mod:`nornir_esi.doors.views`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

import click

from nornir_esi.cli.common import ETCD_OPTION, fail, open_store, print_table
from nornir_esi.exceptions import EsiError

__all__ = ["jobs", "monitoring_text", "show_resources", "status"]


def monitoring_text(status: Mapping[str, Any]) -> str:
    """A monitoring status on one line: ``downlink=ACTIVE, uplink=ACTIVE``."""
    return ", ".join(f"{k}={v}" for k, v in sorted(status.items()))


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
@ETCD_OPTION
def status(resource_type: str | None, as_json: bool, endpoints: str | None) -> None:
    """Per resource: version, worker_state, monitoring, error (exit 1 when one failed)."""
    from nornir_esi.doors.views import resource_rows

    try:
        rows = resource_rows(open_store(endpoints), resource_type)
    except EsiError as exc:
        fail(exc)
    show_resources("resources", rows, as_json=as_json, with_type=True)


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
