"""Stable SSH host keys for simulated routers.

A router's Ed25519 host key is derived from its name (and an optional secret seed), so
it is the same on every start without any files to keep: clients can record it once in
``known_hosts`` and verify it ever after. A simulator's keys protect nothing real; a lab
that wants unpredictable keys passes its own seed.
"""

from __future__ import annotations

import hashlib

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["host_key", "known_hosts_line"]

_DOMAIN = b"nornir-esi netsim host key v1\0"


def host_key(router: str, seed: bytes = b"") -> asyncssh.SSHKey:
    """The router's host key: Ed25519 from SHA-256 of the name (and seed)."""
    secret = hashlib.sha256(_DOMAIN + seed + b"\0" + router.encode()).digest()
    pem = Ed25519PrivateKey.from_private_bytes(secret).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return asyncssh.import_private_key(pem)


def known_hosts_line(router: str, host: str, port: int, seed: bytes = b"") -> str:
    """A ``known_hosts`` line for the router as OpenSSH and paramiko write it."""
    public = host_key(router, seed).export_public_key("openssh").decode().split()
    address = host if port == 22 else f"[{host}]:{port}"
    return f"{address} {public[0]} {public[1]}"
