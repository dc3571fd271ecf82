"""A real OpenStack Heat for the tests named ``heat`` (``pytest -k heat``).

Started once per session by :class:`HeatServer` (a private RabbitMQ node, ``heat-engine``
and Heat's API on free loopback ports, SQLite in a temporary directory). A missing
prerequisite fails the tests with the reason; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nornir_esi.exceptions import SetupError
from nornir_esi.testing.heat import HeatServer, heat_venv
from tests.flow.conftest import pair

__all__ = ["heat_server", "pair"]  # `pair`: the simulated router pair of the flow tests

# Making Heat's virtualenv takes 40-60 s of pip on first use, inside the set-up of the
# first test that asks for the server; that test gets this much instead of the default.
_FIRST_USE_TIMEOUT = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if (heat_venv() / "installed").is_file():
        return
    for item in items:
        if "heat_server" in getattr(item, "fixturenames", ()) and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(_FIRST_USE_TIMEOUT))


@pytest.fixture(scope="session")
def heat_server() -> Iterator[HeatServer]:
    server = HeatServer("pytest")
    try:
        server.start()
    except SetupError as exc:
        pytest.fail(f"the test Heat could not be started: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
