"""Secrets: what etcd holds of a device password is a reference, never the password.

A field that carries a secret (an edge_router's ``password``) holds a reference::

    {"ref": "env:ESI_ROUTER_PASSWORD"}        an environment variable of the worker
    {"ref": "file:/run/secrets/mx-password"}  a file's contents, trailing newline stripped
    {"ref": "file:mx-password"}               relative: under $ESI_SECRETS_DIR (else the
                                              working directory)

The job params derived from it carry the same reference, ``"type": "secret"``; the worker
resolves it (:func:`resolve`) only when it opens a session to the router, so the password
lives in the worker's memory and nowhere in ``/config``, ``/jobs`` or any record.

Schemes are pluggable: :func:`register` adds one (a NetBox secrets or vault resolver)
without touching the callers. A resolver takes what follows ``<scheme>:`` and returns the
secret, or raises :class:`LookupError` with a reason that does not contain the secret.

The original stored plain passwords. A plain string is still read (:func:`resolve`
returns it as it is), so captured data replays; the front doors write one only with the
compatibility switch (:func:`plaintext_allowed`: ``ESI_PLAINTEXT_SECRETS=1``, or an
explicit argument), off by default.

Errors (:class:`~nornir_esi.exceptions.SecretError`) name the object, the field and the
reference, never a secret's value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from nornir_esi.exceptions import SecretError

__all__ = [
    "PLAINTEXT_ENV",
    "REF",
    "SECRETS_DIR_ENV",
    "Resolver",
    "check_reference",
    "is_reference",
    "plaintext_allowed",
    "reference",
    "register",
    "resolve",
    "schemes",
    "shown",
    "unregister",
]

REF = "ref"
PLAINTEXT_ENV = "ESI_PLAINTEXT_SECRETS"
SECRETS_DIR_ENV = "ESI_SECRETS_DIR"

Resolver = Callable[[str], str]
"""``resolver(rest)`` -> the secret named by ``<scheme>:<rest>``; LookupError when absent."""

Check = Callable[[str], str | None]
"""``check(rest)`` -> why ``<scheme>:<rest>`` is malformed, or None."""

_SCHEME_RE = re.compile(r"^[a-z][a-z0-9+.-]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _Provider:
    resolve: Resolver
    check: Check | None = None


def _env(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise LookupError(f"environment variable {name} is not set")
    return value


def _check_env(name: str) -> str | None:
    return None if _ENV_NAME_RE.match(name) else f"{name!r} is not an environment variable name"


def _file(path: str) -> str:
    where = Path(path)
    if not where.is_absolute():
        where = Path(os.environ.get(SECRETS_DIR_ENV) or ".") / where
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise LookupError(f"file {where} cannot be read: {exc.strerror}") from exc
    return text.rstrip("\r\n")


_PROVIDERS: dict[str, _Provider] = {
    "env": _Provider(_env, _check_env),
    "file": _Provider(_file),
}


def register(scheme: str, resolver: Resolver, *, check: Check | None = None) -> None:
    """Make ``{"ref": "<scheme>:..."}`` resolvable by ``resolver``.

    ``check``, when given, checks such a reference at the front door. Registering a scheme
    again replaces it.
    """
    if not _SCHEME_RE.match(scheme):
        raise ValueError(f"{scheme!r} is not a scheme name ([a-z][a-z0-9+.-]*)")
    _PROVIDERS[scheme] = _Provider(resolver, check)


def unregister(scheme: str) -> None:
    """Forget a scheme (tests, plugins unloading)."""
    _PROVIDERS.pop(scheme, None)


def schemes() -> list[str]:
    """The schemes references may use, sorted."""
    return sorted(_PROVIDERS)


def reference(scheme: str, rest: str) -> dict[str, str]:
    """``{"ref": "<scheme>:<rest>"}``."""
    return {REF: f"{scheme}:{rest}"}


def is_reference(value: object) -> TypeGuard[Mapping[str, str]]:
    """Whether ``value`` has the shape of a reference: ``{"ref": "<text>"}`` and nothing else."""
    return isinstance(value, Mapping) and set(value) == {REF} and isinstance(value[REF], str)


def shown(value: object) -> str:
    """How an error shows a secret field's value: a reference as it is, anything else not."""
    if is_reference(value):
        return json.dumps({REF: value[REF]})
    return "a plain value" if isinstance(value, str) else f"a {type(value).__name__}"


def check_reference(value: object) -> str | None:
    """Why ``value`` is not a usable reference (shape, known scheme, its own check), or None."""
    if not isinstance(value, Mapping):
        return f"must be a reference {{{REF!r}: ...}}, not {type(value).__name__}"
    if set(value) != {REF}:
        return f"a reference has exactly one key, {REF!r} (not {sorted(map(str, value))})"
    ref = value[REF]
    if not isinstance(ref, str):
        return f"{REF!r} must be a string <scheme>:<name>"
    scheme, colon, rest = ref.partition(":")
    if not colon or not rest:
        return f"{shown(value)} is not <scheme>:<name>"
    provider = _PROVIDERS.get(scheme)
    if provider is None:
        return f"{shown(value)}: unknown scheme {scheme!r} (known: {', '.join(schemes())})"
    reason = provider.check(rest) if provider.check is not None else None
    return None if reason is None else f"{shown(value)}: {reason}"


def resolve(value: Any, obj: str, field: str) -> str:
    """The secret ``value`` stands for: a plain string as it is, a reference resolved now.

    A plain string is data written by the original, or with the compatibility switch.

    Raises SecretError naming ``obj``, ``field`` and the reference (never the secret)
    when the reference is malformed, its scheme unknown, or the secret absent or empty.
    """
    if isinstance(value, str):
        if not value:
            raise SecretError(obj, field, "is empty")
        return value
    reason = check_reference(value)
    if reason is not None:
        raise SecretError(obj, field, reason)
    scheme, _, rest = str(value[REF]).partition(":")
    try:
        secret = _PROVIDERS[scheme].resolve(rest)
    except LookupError as exc:
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
        raise SecretError(obj, field, f"{shown(value)}: {reason}") from exc
    if not isinstance(secret, str) or not secret:
        raise SecretError(obj, field, f"{shown(value)}: the secret is empty")
    return secret


def plaintext_allowed(explicit: bool | None = None) -> bool:
    """The compatibility switch: may a front door write a plain secret, as the original did?

    ``explicit`` decides when given; otherwise ``$ESI_PLAINTEXT_SECRETS`` (``1``, ``true``,
    ``yes``). Off by default.
    """
    if explicit is not None:
        return explicit
    return os.environ.get(PLAINTEXT_ENV, "").strip().lower() in ("1", "true", "yes")
