"""Routers' NETCONF host keys, verified against a known-hosts file before any password goes out.

The file is OpenSSH's ``known_hosts`` format (hashed names too), read with paramiko. It is
``$ESI_KNOWN_HOSTS`` when set, else ``~/.ssh/known_hosts``: the file an operator already
keeps, or the one the lab fills at start (the simulator records its routers' keys there,
``Simulator(known_hosts=...)`` and ``nornir-esi netsim --known-hosts``).

Every connection the inventory builds carries the one key the file holds for the address
the worker really connects to (``[host]:port``, after overrides), so ncclient accepts
nothing else:

- no key for the address: the connection fails with a
  :class:`~nornir_esi.exceptions.HostKeyError` after the key exchange, before any password
  is sent, naming the router, the address and the file, unless the operator opted in with
  ``ESI_ACCEPT_UNKNOWN_HOST_KEYS=1`` (then the key is not checked, and a warning says so);
- a different key: a HostKeyError too, "host key mismatch", opt-in or not.

Neither is retried: a changed key needs a person (:func:`nornir_esi.device.rpc.connection`
raises them). Building an inventory never fails on keys: one unknown router must not stop
a runbook over the fleet.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from nornir_esi.exceptions import HostKeyError
from nornir_esi.locking import file_lock

__all__ = ["ACCEPT_ENV", "FILE_ENV", "HostKeyPolicy", "record"]

log = logging.getLogger(__name__)

FILE_ENV = "ESI_KNOWN_HOSTS"
ACCEPT_ENV = "ESI_ACCEPT_UNKNOWN_HOST_KEYS"
# With several keys for one address, the one ncclient is told to insist on.
_PREFERRED = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsa-sha2-512")


def _address(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _Known:
    """A parsed known-hosts file: plain names indexed, hashed ones looked up one by one.

    Plain names are indexed because a fleet's file has thousands of lines, and there is a
    lookup per session; hashed ones go through paramiko's linear lookup.
    """

    def __init__(self, path: Path) -> None:
        self.keys = paramiko.HostKeys(str(path))
        self.plain: dict[str, dict[str, Any]] = {}
        self.hashed = False
        for entry in self.keys._entries:  # paramiko keeps them there; no public iterator
            for name in entry.hostnames:
                if name.startswith("|1|"):
                    self.hashed = True
                else:
                    self.plain.setdefault(name, {})[entry.key.get_name()] = entry.key

    def lookup(self, address: str) -> Mapping[str, Any] | None:
        found = self.plain.get(address)
        if found is None and self.hashed:
            found = self.keys.lookup(address)
        return found or None


class _Cache:
    """Parsed files by path, re-read when the file changes (one parse per job otherwise)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[tuple[int, int], _Known]] = {}

    def get(self, path: Path) -> _Known | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._files.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            known = _Known(path)
            self._files[path] = (stamp, known)
            return known


_CACHE = _Cache()
_WARNED: set[str] = set()


@dataclass(frozen=True)
class HostKeyPolicy:
    """Where the known host keys are and whether an unknown one may be accepted."""

    path: Path
    accept_unknown: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HostKeyPolicy:
        """The policy ``environ`` (else the process environment) sets.

        The file is ``$ESI_KNOWN_HOSTS``, else ``~/.ssh/known_hosts``; an unknown key is accepted
        when ``$ESI_ACCEPT_UNKNOWN_HOST_KEYS`` is ``1``, ``true`` or ``yes``.
        """
        env = os.environ if environ is None else environ
        path = env.get(FILE_ENV) or str(Path.home() / ".ssh" / "known_hosts")
        accept = env.get(ACCEPT_ENV, "").strip().lower() in {"1", "true", "yes"}
        return cls(Path(path).expanduser(), accept)

    def connect_options(self, router: str, host: str, port: int) -> dict[str, Any]:
        """The ncclient ``connect`` arguments that accept only the recorded key of ``host:port``.

        An address without a recorded key gets verification without a key to match, so
        connecting fails (:meth:`refused` says why) unless the operator opted in.
        """
        known = _CACHE.get(self.path)
        found = None if known is None else known.lookup(_address(host, port))
        if found:
            kind = next((k for k in _PREFERRED if k in found), next(iter(found.keys())))
            return {"hostkey_verify": True, "hostkey_b64": found[kind].get_base64()}
        if self.accept_unknown:
            address = _address(host, port)
            if address not in _WARNED:  # once per address, not once per session
                _WARNED.add(address)
                log.warning(
                    "router %s: host key of %s not verified (%s is set)",
                    router,
                    address,
                    ACCEPT_ENV,
                )
            return {"hostkey_verify": False}
        return {"hostkey_verify": True}

    def refused(
        self, router: str, host: str, port: int, fingerprint: str, *, recorded: bool
    ) -> HostKeyError:
        """The error for a router whose key ``fingerprint`` was not accepted."""
        address = _address(host, port)
        if recorded:
            reason = (
                f"host key mismatch: {address} presented {fingerprint}, not the key recorded "
                f"for it in {self.path}; the router was replaced or someone is in between: "
                "check before updating the file"
            )
        else:
            reason = (
                f"host key of {address} unknown ({fingerprint}): not in {self.path}; record "
                f"the router's key there (ssh-keyscan -p {port} {host} >> {self.path}) or "
                f"set {ACCEPT_ENV}=1 to connect without verifying it"
            )
        return HostKeyError(router, "connect", reason)


def record(path: str | Path, lines: Iterable[str]) -> None:
    """Add ``known_hosts`` lines to ``path``, replacing the lines for the same addresses.

    A simulator that restarts on a port another router used before takes the address
    over. Writers in several processes are serialised by a lock file beside ``path``.
    """
    target = Path(path).expanduser()
    new = [line.strip() for line in lines if line.strip()]
    addresses = {line.split()[0] for line in new}
    with file_lock(target.with_name(target.name + ".lock")):
        kept = []
        if target.exists():
            kept = [
                line
                for line in target.read_text(encoding="utf-8").splitlines()
                if line.strip() and line.split()[0] not in addresses
            ]
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text("\n".join([*kept, *new]) + "\n", encoding="utf-8")
        temporary.replace(target)
