"""``nornir-esi netbox setup|seed|sync``, and the NetBox options ``serve`` shares."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from nornir_esi.cli.common import ETCD_OPTION, cli_requester, fail, open_store
from nornir_esi.exceptions import EsiError

__all__ = ["LOGIN_OPTION", "PASSWORD_ENV_OPTION", "netbox", "netbox_api", "sync_options"]


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


def sync_options(login: str, password_env: str) -> Any:
    """The sync's options for new routers: NETCONF ``login``, the password by reference.

    The reference names the environment variable ``password_env``; with the compatibility
    switch (ESI_PLAINTEXT_SECRETS=1) its value instead, as before.
    """
    from nornir_esi.contract import secrets
    from nornir_esi.netbox.sync import SyncOptions

    if secrets.plaintext_allowed():  # the compatibility switch: the value, as before
        password = os.environ.get(password_env, "")
        return SyncOptions(login=login, password=password, plaintext_secrets=True)
    return SyncOptions(login=login, password=secrets.reference("env", password_env))


def netbox_api(url: str, token: str) -> Any:
    """A pynetbox client of the NetBox at ``url``, with the API ``token``."""
    import pynetbox

    return pynetbox.api(url, token=token)


@click.group()
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
    """Create the custom fields, role and platform the mapping uses; install the scripts.

    It installs the custom scripts and, with --webhook-url, the event rule whose webhook the
    scripts also use to reach us.
    """
    from nornir_esi.netbox.schema import ensure_event_rule, ensure_schema, ensure_scripts

    nb = netbox_api(netbox_url, netbox_token)
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
    """Create the NetBox objects of a resource file: moving an inventory into NetBox.

    Routers, interfaces, pairs, HA interfaces, each carrying its resource id.
    """
    from nornir_esi.contract import desired
    from nornir_esi.netbox.seed import seed

    try:
        ids = seed(netbox_api(netbox_url, netbox_token), desired.load_file(file))
    except EsiError as exc:
        fail(exc)
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
            netbox_api(netbox_url, netbox_token),
            open_store(endpoints),
            sync_options(login, password_env),
            requested_by=cli_requester(),
        )
    except EsiError as exc:
        fail(exc)
    for outcome, names in report.as_dict().items():
        for name in names:
            click.echo(f"{outcome} {name}")
    sys.exit(1 if report.refused else 0)
