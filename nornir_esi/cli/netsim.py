"""``nornir-esi netsim``: simulated Junos routers in the foreground."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nornir_esi.exceptions import EsiError

if TYPE_CHECKING:
    from nornir_esi.netsim.server import Simulator

__all__ = ["netsim"]


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


@click.command()
@click.option(
    "--router",
    "routers",
    multiple=True,
    required=True,
    metavar="NAME=HOST:PORT[,role=primary|secondary][,segment=LABEL][,FAULT=VALUE]",
    help="A router to simulate; repeat for each. segment: the routers of one label share "
    "L2 segments per VLAN (an HA pair's downlink), default one for all. Faults: "
    "commit-delay, fail-commits, fail-message, drop-on-commit, refuse-connections, "
    "hold-lock, links-down=ae0+ae1.",
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
    # Imported here, not with the command line: the simulator's SSH server (asyncssh) is
    # 0.2 s of start-up every other command would pay, and with cryptography >= 51 five
    # lines of a DSA deprecation warning on its output.
    from nornir_esi.netsim.server import RouterSpec, Simulator

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
