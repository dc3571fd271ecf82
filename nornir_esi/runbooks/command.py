"""What the operators' runbooks (``tasks/``) share: their command line, how they end.

- :func:`parser`: ``--etcd`` and ``--inventory``, as the ``nornir-esi`` command line has
  them, and the inventory options of ``EtcdRouterInventory`` from them
  (:func:`inventory_options`);
- :func:`run`: the runbook's ``main``, with an :class:`~nornir_esi.exceptions.EsiError`
  reported on stderr and turned into the command line's exit code;
- :func:`exit_code`: the exit code of a Nornir run, with :func:`drifted` and
  :func:`missing_counter` telling what a host's result found.

Exit codes, as ``nornir-esi``'s: 0 done; 1 found what the runbook looks for (drift, a
missing counter, a state not reached); 2 bad input or usage; 3 etcd or a router unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import colorama
from nornir.core.task import AggregatedResult, Result

from nornir_esi.exceptions import EsiError, TemporaryError

__all__ = ["drifted", "exit_code", "inventory_options", "missing_counter", "parser", "run"]


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The runbook's argument parser: its docstring as description, ``--etcd``, ``--inventory``."""
    out = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    out.add_argument("--etcd", metavar="URLS", help="etcd endpoints (default: $ESI_ETCD_ENDPOINTS)")
    out.add_argument(
        "--inventory", metavar="FILE", help="YAML mapping router name or ip to connection fields"
    )
    return out


def inventory_options(args: argparse.Namespace) -> dict[str, Any]:
    """``EtcdRouterInventory``'s options from ``--etcd`` and ``--inventory``."""
    return {"endpoints": args.etcd, "overrides": args.inventory}


def _colours() -> None:
    # nornir_utils' print_result colours every line, piped or not (it initialises colorama
    # with strip=False on import): strip them unless a terminal shows them, as NO_COLOR
    # asks everywhere (https://no-color.org).
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return
    colorama.deinit()
    colorama.init(autoreset=True, strip=True)


def run(name: str, main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s code; an EsiError is reported as ``NAME: message`` instead.

    Output is plain (no ANSI colours) unless it goes to a terminal and NO_COLOR is unset.
    """
    _colours()
    try:
        code = main()
    except EsiError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        code = 3 if isinstance(exc, TemporaryError) else 2
    sys.exit(code)


def exit_code(result: AggregatedResult, *, found: Callable[[Result], bool]) -> int:
    """The runbook's exit code for a Nornir run's ``result``.

    3 when a router could not be reached, 2 when a task failed otherwise (refused, bad
    input), 1 when ``found`` holds for a host's result, else 0.
    """
    errors = [r.exception for multi in result.values() for r in multi if r.exception]
    if any(isinstance(exc, TemporaryError) for exc in errors):
        return 3
    if errors or result.failed:
        return 2
    return 1 if any(found(multi[0]) for multi in result.values()) else 0


def missing_counter(result: Result) -> bool:
    """A gateway on the host lacks one of its counters (a ``collect_counters`` result)."""
    gateways: Mapping[str, Mapping[str, Any]] = result.result or {}
    return any(gw[direction] is None for gw in gateways.values() for direction in ("in", "out"))


def drifted(result: Result) -> bool:
    """A gateway on the host drifted (a ``check_drift`` result)."""
    return bool(result.changed)
