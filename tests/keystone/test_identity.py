"""The API's principals from a real Keystone (:class:`KeystoneAuth`)."""

from __future__ import annotations

import uuid

import pytest

from nornir_esi.doors.identity import KeystoneAuth
from nornir_esi.exceptions import TemporaryError
from nornir_esi.testing.base import free_port
from nornir_esi.testing.keystone import ADMIN_PROJECT, ADMIN_USER, KeystoneServer

PASSWORD = "identity-test-password"


def _member(keystone: KeystoneServer, role: str = "member") -> tuple[str, str, str]:
    """A new project and user with ``role`` on it: (project id, user name, token)."""
    suffix = uuid.uuid4().hex[:8]
    project = keystone.create_project(f"identity-{suffix}")
    user = f"user-{suffix}"
    keystone.create_user(user, PASSWORD, project, role=role)
    return project, user, keystone.issue_token(user, PASSWORD, project)


def test_a_token_names_its_project_and_user(keystone: KeystoneServer) -> None:
    project, user, token = _member(keystone)
    auth = KeystoneAuth(keystone.url)
    principal = auth.principal(token)
    assert principal is not None
    assert (principal.name, principal.tenant_id, principal.operator) == (user, project, False)


def test_the_role_admin_makes_an_operator(keystone: KeystoneServer) -> None:
    _, _, token = _member(keystone, role="admin")
    principal = KeystoneAuth(keystone.url).principal(token)
    assert principal is not None and principal.operator


def test_validations_are_cached_and_refusals_too(keystone: KeystoneServer) -> None:
    _, _, token = _member(keystone)
    auth = KeystoneAuth(keystone.url)
    for _ in range(5):
        assert auth.principal(token) is not None
    assert auth.validations == 1
    for _ in range(5):
        assert auth.principal("not-a-token-" + "x" * 20) is None
    assert auth.validations == 2
    # Bounded: the oldest goes first.
    small = KeystoneAuth(keystone.url, cache_size=1)
    other = _member(keystone)[2]
    small.principal(token)
    small.principal(other)
    small.principal(token)
    assert small.validations == 3


def test_with_service_credentials_the_service_validates(keystone: KeystoneServer) -> None:
    project, user, token = _member(keystone)
    auth = KeystoneAuth.from_environment(
        keystone.url,
        {
            "ESI_KEYSTONE_USERNAME": ADMIN_USER,
            "ESI_KEYSTONE_PASSWORD": keystone.admin_password,
            "ESI_KEYSTONE_PROJECT": ADMIN_PROJECT,
        },
    )
    principal = auth.principal(token)
    assert principal is not None and principal.tenant_id == project and principal.name == user
    assert auth.principal("x" * 40) is None


def test_an_unreachable_keystone_is_temporary_not_a_refusal() -> None:
    auth = KeystoneAuth(f"http://127.0.0.1:{free_port()}/v3", timeout=2)
    with pytest.raises(TemporaryError, match="cannot be reached"):
        auth.principal("x" * 40)
