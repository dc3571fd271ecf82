"""What the commands share: common options, the store and routers, exit codes, tables.

The options every front door command takes (the store, the inventory, Heat, ``--json``),
the store and the routers they open, how an error becomes an exit code, and the tables
they print.

Exit codes: 0 done; 1 the awaited state was not reached (failed, or timed out); 2 bad
input or usage; 3 the store or a device could not be reached (:func:`fail`).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

from nornir_esi.exceptions import EsiError, TemporaryError

if TYPE_CHECKING:
    from nornir_esi.store.etcd import EtcdStore

__all__ = [
    "ETCD_OPTION",
    "HEAT_PROJECT_OPTION",
    "HEAT_URL_OPTION",
    "INVENTORY_OPTION",
    "JSON_OPTION",
    "cli_requester",
    "fail",
    "open_devices",
    "open_store",
    "print_table",
]


ETCD_OPTION = click.option(
    "--etcd",
    "endpoints",
    envvar="ESI_ETCD_ENDPOINTS",
    metavar="ENDPOINTS",
    help="Comma-separated etcd URLs, e.g. http://127.0.0.1:2379 (default: $ESI_ETCD_ENDPOINTS).",
)


def open_store(endpoints: str | None) -> EtcdStore:
    """The store at ``endpoints``, with TLS and credentials from the environment.

    They come from ``ESI_ETCD_CA``, ``ESI_ETCD_CERT``, ``ESI_ETCD_KEY``, ``ESI_ETCD_USER``
    and ``ESI_ETCD_PASSWORD``. No endpoints is a usage error.
    """
    from nornir_esi.store.etcd import EtcdStore

    if not endpoints or not endpoints.strip():
        raise click.UsageError("no etcd endpoints: pass --etcd or set ESI_ETCD_ENDPOINTS")
    return EtcdStore.from_env({**os.environ, "ESI_ETCD_ENDPOINTS": endpoints})


def cli_requester() -> Any:
    """The audit trail's requester of a change made here: the OS user."""
    import getpass

    from nornir_esi.contract.desired import Requester

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no name for the uid (a container's arbitrary user)
        user = f"uid {os.getuid()}"
    return Requester("cli", user)


def fail(exc: EsiError) -> NoReturn:
    """Print ``exc`` on stderr and exit: 3 when it is temporary (unreachable), else 2."""
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


INVENTORY_OPTION = click.option(
    "--inventory",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML mapping router name or ip to {hostname, port, username, password}.",
)


def open_devices(inventory: str | None) -> Any:
    """The routers, through Nornir, with ``inventory`` (a file, or None) as the overrides."""
    from nornir_esi.pair.devices import NornirDevices

    return NornirDevices(overrides=inventory)


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print ``rows`` as a rich table; piped, wide enough that no cell is cut."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # On a terminal, its width; piped, wide enough that no cell is cut.
    Console(width=None if sys.stdout.isatty() else 300).print(table)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine output (JSON).")
