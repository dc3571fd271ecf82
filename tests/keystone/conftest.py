"""A real OpenStack Keystone and the official clients for the tests of ``tests/keystone``.

Keystone is started once per session by :class:`KeystoneServer` (SQLite and Fernet keys in
a temporary directory, its API on a free loopback port); the clients' virtualenvs are made
once per machine. A missing prerequisite fails the tests with the reason; nothing is
skipped.

For the clients' end-to-end tests: ``people`` (per module: tenant A's and tenant B's member
users, each in a new project, and an operator with role ``admin``), ``northbound`` (the API
on the test's store, its tokens validated by the Keystone, registered as the catalog's
``network`` endpoint), and the flow tests' running system (``pair``, ``overrides``,
``service_store``), re-exported from ``tests/flow/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nornir_esi.doors.api import ApiServer, create_app
from nornir_esi.doors.identity import KeystoneAuth
from nornir_esi.exceptions import SetupError
from nornir_esi.store.base import Store
from nornir_esi.testing.base import cache_dir
from nornir_esi.testing.clients import (
    ECLCLI_VERSION,
    ECLSDK_VERSION,
    Clients,
    ensure_clients,
    os_env,
)
from nornir_esi.testing.keystone import KeystoneServer, keystone_venv

# The flow tests' running system (a simulated router pair; etcd with a job manager and a
# worker on it), re-exported so that the tests here can ask for it by name.
from tests.flow.conftest import overrides, pair, service_store  # noqa: F401

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


# --- the running system behind the API, for the clients' end-to-end tests ------------------


@dataclass(frozen=True)
class Person:
    """A Keystone user with a role on a project: its name, password and project."""

    name: str
    password: str
    project_id: str
    role: str

    def env(self, keystone: KeystoneServer) -> dict[str, str]:
        """The OS_* settings both clients read, for this user."""
        return os_env(keystone.url, self.name, self.password, self.project_id)

    def token(self, keystone: KeystoneServer) -> str:
        """A new token of this user, scoped to its project."""
        return keystone.issue_token(self.name, self.password, self.project_id)


@dataclass(frozen=True)
class People:
    """Tenant A's and tenant B's member users, each in a project of its own, and an operator."""

    a: Person
    b: Person
    operator: Person


@pytest.fixture(scope="module")
def people(keystone: KeystoneServer) -> People:
    suffix = uuid.uuid4().hex[:8]

    def person(who: str, role: str) -> Person:
        project_id = keystone.create_project(f"{who}-{suffix}")
        name, password = f"{who}-user-{suffix}", f"{who}-pw-{suffix}"
        keystone.create_user(name, password, project_id, role=role)
        return Person(name, password, project_id, role)

    return People(
        a=person("tenant-a", "member"),
        b=person("tenant-b", "member"),
        operator=person("operator", "admin"),
    )


@pytest.fixture
def northbound(store: Store, keystone: KeystoneServer) -> Iterator[ApiServer]:
    """The northbound API on ``store``, its tokens validated by the test Keystone, served on
    127.0.0.1 and registered as the catalog's ``network`` endpoint (the API root)."""
    app = create_app(store, auth=KeystoneAuth(keystone.url))
    with ApiServer(app) as server:
        keystone.add_endpoint("network", server.url)
        yield server
