"""``nornir-esi run`` and ``nornir-esi serve``: the product's processes, in the foreground.

``run`` is the job manager and workers, ``serve`` the HTTP API; each runs until SIGINT
or SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

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
from nornir_esi.cli.netbox import LOGIN_OPTION, PASSWORD_ENV_OPTION, netbox_api, sync_options
from nornir_esi.exceptions import EsiError
from nornir_esi.pair.coalesce import DEFAULT_BATCH

__all__ = ["run", "serve"]


@click.command()
@ETCD_OPTION
@INVENTORY_OPTION
@click.option("--workers", type=click.IntRange(0), default=1, show_default=True)
@click.option(
    "--slots",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Jobs each worker runs at once (most of them wait on routers: jobs on the same "
    "router pair share its transactions).",
)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Most gateway changes one pair transaction carries (commit coalescing; 1: one "
    "transaction per change).",
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
@click.option(
    "--audit-versions",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="Audit versions kept per resource, the newest (0: all).",
)
@click.option(
    "--audit-days",
    type=click.FloatRange(0),
    default=90.0,
    show_default=True,
    help="Days an audit version is kept (0: for ever); a live resource's newest is kept.",
)
@click.option(
    "--audit-interval",
    type=click.FloatRange(0),
    default=3600.0,
    show_default=True,
    help="Seconds between sweeps of the audit trail, by the leading manager's process (0: never).",
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
    batch: int,
    no_manager: bool,
    manager_lease_ttl: int,
    worker_lease_ttl: int,
    drift_interval: float,
    audit_versions: int,
    audit_days: float,
    audit_interval: float,
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
    from nornir_esi.heat.factory import heat_from
    from nornir_esi.jobs.retention import Retention
    from nornir_esi.service import Service

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
    # ncclient and paramiko log every message at INFO: megabytes an hour of nothing useful.
    for noisy in ("ncclient", "paramiko", "nornir"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Nornir logs a handled task failure (a lock held by another job) as an ERROR with its
    # traceback; the worker reports every failure it does not handle itself.
    logging.getLogger("nornir.core.task").setLevel(logging.CRITICAL)
    try:
        store = open_store(endpoints)
        service = Service(
            store,
            inventory=inventory,
            workers=workers,
            slots=slots,
            batch=batch,
            manager=not no_manager,
            manager_lease_ttl=manager_lease_ttl,
            worker_lease_ttl=worker_lease_ttl,
            drift_interval=drift_interval or None,
            audit_retention=Retention(audit_versions, audit_days * 86400.0),
            audit_interval=audit_interval or None,
            heat=heat_from(heat_url, project=heat_project),
        )
        if metrics_port is not None:
            from nornir_esi.jobs.queue_metrics import serve_metrics

            bound = serve_metrics(metrics_port, store, metrics_host).server_address[1]
            click.echo(f"nornir-esi: metrics on http://{metrics_host}:{bound}/metrics", err=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: service.stop_event.set())
        with service:
            click.echo(
                f"nornir-esi: running {'no manager, ' if no_manager else 'a job manager, '}"
                f"{workers} worker(s) x {slots} slots",
                err=True,
            )
            # Until a signal, or until a part of the service ended on an error.
            service.stop_event.wait()
        store.close()
    except EsiError as exc:
        fail(exc)
    if service.error is not None:
        click.echo(f"nornir-esi: {service.error}", err=True)
        sys.exit(1)


@click.command()
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT.")
@ETCD_OPTION
@click.option(
    "--api-tokens",
    envvar="ESI_API_TOKENS",
    type=click.Path(dir_okay=False),
    help="YAML file {name: {token, tenant_id, role}} enabling the /v2.0 API for those tokens "
    "(default: $ESI_API_TOKENS).",
)
@click.option(
    "--keystone-url",
    envvar="ESI_KEYSTONE_URL",
    help="Keystone v3 validating the /v2.0 API's tokens (service credentials, when needed, "
    "from ESI_KEYSTONE_USERNAME, ESI_KEYSTONE_PASSWORD, ESI_KEYSTONE_PROJECT). Without it "
    "or --api-tokens, there is no /v2.0 API.",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=1),
    default=114688,
    show_default=True,
    help="Bytes: a request body over it is refused with 413.",
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
    keystone_url: str | None,
    max_body_size: int,
    certfile: str | None,
    keyfile: str | None,
    netbox_url: str | None,
    netbox_token: str | None,
    webhook_secret_env: str,
    inventory: str | None,
    login: str,
    password_env: str,
) -> None:
    """The HTTP API, until SIGINT/SIGTERM.

    It serves the /v2.0 resources, and NetBox's webhook and custom-script routes.
    """
    import uvicorn

    from nornir_esi.doors.api import NetBoxDoor, create_app
    from nornir_esi.doors.identity import Authenticator, KeystoneAuth, TokenFile, load_tokens

    host, _, port = listen.rpartition(":")
    if keyfile and not certfile:
        raise click.UsageError("--keyfile needs --certfile")
    if keystone_url and api_tokens:
        raise click.UsageError("--keystone-url and --api-tokens: one or the other")
    auth: Authenticator | None = None
    if keystone_url:
        auth = KeystoneAuth.from_environment(keystone_url)
    elif api_tokens:
        try:
            auth = TokenFile(load_tokens(api_tokens), f"token file {api_tokens}")
        except EsiError as exc:
            fail(exc)
    door = None
    if netbox_url:
        secret = os.environ.get(webhook_secret_env, "")
        if not netbox_token or not secret:
            raise click.UsageError(
                f"the NetBox routes need --netbox-token and {webhook_secret_env}"
            )
        door = NetBoxDoor(
            netbox_api(netbox_url, netbox_token),
            secret,
            sync_options(login, password_env),
            devices=open_devices(inventory),
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if auth is None:
        logging.getLogger(__name__).warning(
            "no --keystone-url nor --api-tokens: the /v2.0 API is off"
        )
    uvicorn.run(
        create_app(open_store(endpoints), door, auth=auth, max_body=max_body_size),
        host=host or "127.0.0.1",
        port=int(port),
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
