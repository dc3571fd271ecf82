"""A real OpenStack Keystone and the official clients for the tests of ``tests/keystone``.

Keystone is started once per session by :class:`KeystoneServer` (SQLite and Fernet keys in
a temporary directory, its API on a free loopback port); the clients' virtualenvs are made
once per machine. A missing prerequisite fails the tests with the reason; nothing is
skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nornir_esi.exceptions import SetupError
from nornir_esi.testing.base import cache_dir
from nornir_esi.testing.clients import ECLCLI_VERSION, ECLSDK_VERSION, Clients, ensure_clients
from nornir_esi.testing.keystone import KeystoneServer, keystone_venv

# Making Keystone's virtualenv (20-25 s of pip) or the clients' (25 s) happens on first use,
# inside the set-up of the first test that asks for them; that test gets this much instead
# of the default.
_FIRST_USE_TIMEOUT = 300


def _made() -> dict[str, bool]:
    return {
        "keystone": (keystone_venv() / "installed").is_file(),
        "clients": all(
            (cache_dir() / name / "installed").is_file()
            for name in (f"eclcli-{ECLCLI_VERSION}", f"eclsdk-{ECLSDK_VERSION}")
        ),
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = {fixture for fixture, made in _made().items() if not made}
    for item in items:
        if missing & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker(
            "timeout"
        ):
            item.add_marker(pytest.mark.timeout(_FIRST_USE_TIMEOUT))


@pytest.fixture(scope="session")
def keystone() -> Iterator[KeystoneServer]:
    server = KeystoneServer("pytest")
    try:
        server.start()
    except SetupError as exc:
        pytest.fail(f"the test Keystone could not be started: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def clients() -> Clients:
    try:
        return ensure_clients()
    except SetupError as exc:
        pytest.fail(f"eclcli and eclsdk could not be installed: {exc}", pytrace=False)
