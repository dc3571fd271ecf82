"""Who a request of the northbound API is: a :class:`Principal`, from its token.

Two ways to know, one interface (``principal(token) -> Principal | None``):

- :class:`TokenFile`, the embedded default (``nornir-esi serve --api-tokens FILE``): a YAML
  map of names to tokens, each ``{token, tenant_id, role}``::

      alice:   {token: "...", tenant_id: 0b576f6f4cbf414f829cd12f008bf08f, role: member}
      noc:     {token: "...", role: admin}

  A bare string (``noc: "<token>"``, the form of earlier releases) is an operator's
  token: those tokens could do everything then, and still can.
- :class:`KeystoneAuth` (``--keystone-url URL``): each token is validated by the
  Keystone v3 that issued it, ``GET /v3/auth/tokens`` with ``X-Subject-Token``, as
  keystonemiddleware's ``auth_token`` does (it is a WSGI middleware built on oslo.config,
  which an ASGI app cannot take without a WSGI bridge, so its conventions are followed
  here rather than the package used). With service credentials (``ESI_KEYSTONE_USERNAME``,
  ``ESI_KEYSTONE_PASSWORD``, ``ESI_KEYSTONE_PROJECT``; domain ``default`` unless
  ``ESI_KEYSTONE_USER_DOMAIN`` / ``ESI_KEYSTONE_PROJECT_DOMAIN`` say otherwise) the service
  authenticates itself; without, the token validates itself (Keystone's ``token_subject``
  rule lets a token read its own validation). The tenant is the token's project id; the
  role ``admin`` makes an operator; the principal's name is the user's name, as the audit
  trail records it. A token scoped to no project is refused (the API could not tell whose
  objects it may see).

  Validations are cached, bounded, as keystonemiddleware caches them: keyed by the token's
  SHA-256 (the token itself is never kept), for ``cache_ttl`` seconds (300, its
  ``token_cache_time``) or until the token expires, whichever is first; a refused token
  for ``negative_ttl`` seconds (10), so a client retrying a bad token does not hammer
  Keystone. A Keystone that cannot be reached, or answers 5xx, is a
  :class:`~nornir_esi.exceptions.TemporaryError` (the API's 503), never a refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from cachetools import TLRUCache
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from nornir_esi.exceptions import TemporaryError, ValidationError

__all__ = [
    "MIN_TOKEN_LENGTH",
    "OPERATOR_ROLE",
    "Authenticator",
    "KeystoneAuth",
    "Principal",
    "TokenFile",
    "load_tokens",
    "presented_token",
]

MIN_TOKEN_LENGTH = 16
"""Shorter tokens of a token file are refused: they could be guessed."""

OPERATOR_ROLE = "admin"
"""The role that makes a principal an operator (Keystone's, and a token file's)."""

_ROLES = ("member", OPERATOR_ROLE)


@dataclass(frozen=True)
class Principal:
    """Who made a request: a name for the audit trail, a tenant, and whether an operator.

    ``tenant_id`` is the token's project (``""`` for an operator's token of a file that
    names none).
    """

    name: str
    tenant_id: str
    operator: bool

    def owns(self, body: Mapping[str, Any]) -> bool:
        """Whether the resource ``body`` is this principal's to see (an operator sees all)."""
        return self.operator or (bool(self.tenant_id) and body.get("tenant_id") == self.tenant_id)


class Authenticator(Protocol):
    """What the API asks of an identity source."""

    def principal(self, token: str) -> Principal | None:
        """The principal of ``token``; None when it is no valid token."""


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``X-Auth-Token``, else ``Authorization: Bearer``."""
    presented = headers.get("x-auth-token")
    if presented is not None:
        return presented.strip() or None
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


# --- the embedded default: a token file ----------------------------------------------------


def load_tokens(path: str | Path) -> dict[str, Any]:
    """The token map of a YAML file (checked as :class:`TokenFile` checks it)."""
    source = f"token file {path}"
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(source, "", f"cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError(source, "", f"is not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(source, "", "must be a map of names to tokens")
    TokenFile(data, source)  # refused here, at start, not at the first request
    return data


def _entry(name: str, value: Any, source: str) -> tuple[str, Principal]:
    if isinstance(value, str):
        return value, Principal(name, "", operator=True)
    if not isinstance(value, dict):
        raise ValidationError(source, name, "must be a token or {token, tenant_id, role}")
    unknown = sorted(set(value) - {"token", "tenant_id", "role"})
    if unknown:
        raise ValidationError(source, f"{name}.{unknown[0]}", "is not token, tenant_id or role")
    token, tenant, role = value.get("token"), value.get("tenant_id", ""), value.get("role")
    if not isinstance(token, str):
        raise ValidationError(source, f"{name}.token", "must be a string token")
    if not isinstance(tenant, str):
        raise ValidationError(source, f"{name}.tenant_id", "must be a string")
    if role not in _ROLES:
        raise ValidationError(source, f"{name}.role", f"must be one of {', '.join(_ROLES)}")
    operator = role == OPERATOR_ROLE
    if not operator and not tenant:
        raise ValidationError(source, f"{name}.tenant_id", "is missing (a member has a tenant)")
    return token, Principal(name, tenant, operator)


class TokenFile:
    """Principals by token, from a map ``{name: token | {token, tenant_id, role}}``."""

    def __init__(self, tokens: Mapping[Any, Any], source: str = "API tokens") -> None:
        seen: dict[str, str] = {}
        self._principals: list[tuple[bytes, Principal]] = []
        for name, value in tokens.items():
            if not isinstance(name, str) or not name.strip():
                raise ValidationError(source, repr(name), "is not a name")
            token, principal = _entry(name, value, source)
            if len(token) < MIN_TOKEN_LENGTH:
                raise ValidationError(
                    source, name, f"is shorter than {MIN_TOKEN_LENGTH} characters"
                )
            # One token, one principal: the audit trail must know who it was.
            if token in seen:
                raise ValidationError(source, name, f"has the same token as {seen[token]}")
            seen[token] = name
            self._principals.append((token.encode(), principal))

    def principal(self, token: str) -> Principal | None:
        """The principal of ``token``, compared with every token in constant time."""
        candidate = token.encode()
        found = None
        for known, principal in self._principals:
            if hmac.compare_digest(known, candidate):
                found = principal
        return found


# --- Keystone ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cached:
    principal: Principal | None
    until: float


def _expiry(token: Mapping[str, Any]) -> float:
    """The token's ``expires_at`` as a monotonic deadline (inf when it has none)."""
    expires = token.get("expires_at")
    if not isinstance(expires, str):
        return float("inf")
    try:
        at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")
    return time.monotonic() + (at - time.time())


class KeystoneAuth:
    """Tokens validated by a Keystone v3 at ``url`` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        project: str | None = None,
        user_domain: str = "default",
        project_domain: str = "default",
        cache_size: int = 4096,
        cache_ttl: float = 300.0,
        negative_ttl: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        base = url.rstrip("/")
        self.url = base if base.endswith("/v3") else f"{base}/v3"
        self._service: v3.Password | None = None
        if username:
            self._service = v3.Password(
                auth_url=self.url,
                username=username,
                password=password or "",
                project_name=project,
                user_domain_id=user_domain,
                project_domain_id=project_domain,
            )
        self._session = ks_session.Session(auth=self._service, timeout=timeout)
        self._ttl = cache_ttl
        self._negative_ttl = negative_ttl
        self._cache: TLRUCache[str, _Cached] = TLRUCache(
            maxsize=cache_size, ttu=lambda _key, value, _now: value.until, timer=time.monotonic
        )
        self._lock = threading.Lock()
        self.validations = 0
        """How many times Keystone was asked (the cache's misses)."""

    @classmethod
    def from_environment(cls, url: str, environ: Mapping[str, str] | None = None) -> KeystoneAuth:
        """The validator of ``url`` with the service credentials of ``ESI_KEYSTONE_*``."""
        env = os.environ if environ is None else environ
        return cls(
            url,
            username=env.get("ESI_KEYSTONE_USERNAME") or None,
            password=env.get("ESI_KEYSTONE_PASSWORD"),
            project=env.get("ESI_KEYSTONE_PROJECT") or None,
            user_domain=env.get("ESI_KEYSTONE_USER_DOMAIN", "default"),
            project_domain=env.get("ESI_KEYSTONE_PROJECT_DOMAIN", "default"),
        )

    def principal(self, token: str) -> Principal | None:
        """The principal of ``token`` (cached), None when Keystone refuses it."""
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached.principal
        principal, until = self._validate(token)
        with self._lock:
            self._cache[key] = _Cached(principal, until)
        return principal

    def _validate(self, token: str) -> tuple[Principal | None, float]:
        self.validations += 1
        headers = {"X-Subject-Token": token}
        if self._service is None:
            headers["X-Auth-Token"] = token
        try:
            answer = self._session.get(
                f"{self.url}/auth/tokens",
                headers=headers,
                authenticated=self._service is not None,
                raise_exc=False,
            )
        except ks_exceptions.ClientException as exc:
            raise TemporaryError(
                f"Keystone {self.url} cannot be reached: {exc}", delay=5.0
            ) from exc
        refused = (None, time.monotonic() + self._negative_ttl)
        if answer.status_code in (401, 403, 404):
            return refused
        if answer.status_code != 200:
            raise TemporaryError(
                f"Keystone {self.url} answered {answer.status_code} validating a token", delay=5.0
            )
        body = answer.json().get("token") or {}
        project = (body.get("project") or {}).get("id")
        if not project:
            return refused
        roles = {str(role.get("name")) for role in body.get("roles") or []}
        user = body.get("user") or {}
        principal = Principal(
            str(user.get("name") or user.get("id") or "?"),
            str(project),
            operator=OPERATOR_ROLE in roles,
        )
        return principal, min(time.monotonic() + self._ttl, _expiry(body))
