"""The ``nornir-esi`` command line: the :func:`main` group and the commands it gathers.

The commands are in the modules beside this one, each named after what it holds:

- ``common``: the shared options, the store and routers opened, errors as exit codes;
- ``config``: ``apply``, ``delete``, ``get``, ``wait``;
- ``routers``: ``plan``, ``check``, ``repair``;
- ``status``: ``status``, ``jobs``;
- ``gateway``: the ``gateway`` group;
- ``audit``: ``audit``;
- ``netbox``: the ``netbox`` group;
- ``servers``: ``run``, ``serve``;
- ``netsim``: ``netsim``.

A command imports what it runs when it runs, so that ``nornir-esi --help`` stays fast.

Exit codes: 0 done; 1 the awaited state was not reached (failed, or timed out); 2 bad
input or usage; 3 the store or a device could not be reached. The ``gateway`` commands,
which follow a workflow, tell a failure (1) from no outcome yet (3: timed out, the
workflow goes on; or the store unreachable).
"""

from __future__ import annotations

import click

from nornir_esi.cli import audit, config, gateway, netbox, netsim, routers, servers, status

__all__ = ["main"]


@click.group()
@click.version_option(package_name="nornir-esi")
def main() -> None:
    """Internet gateways on pairs of Juniper edge routers."""


for _command in (
    netsim.netsim,
    servers.run,
    servers.serve,
    config.apply,
    config.delete,
    config.get,
    config.wait,
    routers.plan,
    routers.check,
    routers.repair,
    status.status,
    status.jobs,
    gateway.gateway,
    audit.audit,
    netbox.netbox,
):
    main.add_command(_command)
