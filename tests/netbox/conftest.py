"""A real NetBox for the tests named ``netbox`` (``pytest -k netbox``).

Started once per session by :class:`NetBoxServer` (PostgreSQL, Redis, gunicorn and the RQ
worker on free loopback ports). A missing prerequisite fails the tests with the reason;
nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nornir_esi.exceptions import SetupError
from nornir_esi.testing.netbox import NetBoxServer
from tests.flow.conftest import pair

__all__ = ["netbox_server", "pair"]  # `pair`: the simulated router pair of the flow tests


@pytest.fixture(scope="session")
def netbox_server() -> Iterator[NetBoxServer]:
    server = NetBoxServer("pytest")
    try:
        server.start()
    except SetupError as exc:
        pytest.fail(f"the test NetBox could not be started: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
