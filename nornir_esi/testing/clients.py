"""The official clients of the real service, eclcli and eclsdk, for the tests to drive.

NTT Enterprise Cloud 2.0's clients (see ``shared/spec/CLIENTS.md``) cannot share one
virtualenv: eclcli 4.8.0 pins ``keystoneauth1<=3.4.0``, and eclsdk 1.11.1 fails every call
with that one (its ``Session._send_request`` override wants keystoneauth1 3.8's signature).
So each has its own under the cache directory (``$ESI_CACHE`` or ``~/.cache/nornir-esi``),
made once under a file lock and complete once it holds ``installed``:

- ``eclcli-4.8.0``: ``pip install eclcli==4.8.0`` (it resolves keystoneauth1 3.4.0,
  openstacksdk 0.13.0, cliff 3.6.0, cmd2 0.8.9 and eclsdk 1.11.1, unused by the ``ecl
  network`` commands): 20-24 s of pip, 170 MB;
- ``eclsdk-1.11.1``: ``eclsdk==1.11.1`` with ``keystoneauth1==3.8.0`` (openstacksdk
  0.15.0): 14 s, 60 MB. Both are made at once on first use: 21 s.

Their Python is a 3.11 (``$ESI_CLIENTS_PYTHON``, the running interpreter when it is a
3.11, else ``python3.11`` on PATH), the release the clients were verified on, else the
3.12+ of :func:`~nornir_esi.testing.base.find_python`. Python 3.10 removed the
``collections`` aliases of the ABCs (``collections.Mapping``, ``MutableMapping``,
``Sequence``, ``Iterable``, ``Callable``...) that both clients and their old pins still
use; a ``.pth`` file in each virtualenv's site-packages imports ``esi_collections_abc``,
which puts every name of ``collections.abc.__all__`` back on ``collections``, so the
clients themselves stay unchanged.

A client runs in a child process whose environment is this process's less every ``OS_*``
variable, ``PYTHONPATH``/``PYTHONHOME``/``VIRTUAL_ENV``, plus ``PYTHONWARNINGS=ignore``
and ``NO_PROXY`` for loopback, then what the caller gives. Warnings shown (``default``)
put some 30 lines of the clients' own ``ImportWarning`` and ``DeprecationWarning``
(openstacksdk's service filters, os-client-config) before each error message; turned into
errors (``error``) they stop both clients at import (``sre_constants`` is deprecated).

:func:`os_env` makes the settings both read: ``OS_AUTH_URL``, ``OS_USERNAME``,
``OS_PASSWORD``, ``OS_TENANT_ID`` (eclcli reads no ``OS_PROJECT_ID``: without
``OS_TENANT_ID`` it stops at "Missing parameter(s): Set a scope..."), ``OS_PROJECT_ID``
(eclsdk's ``connect()``), ``OS_USER_DOMAIN_ID`` and ``OS_PROJECT_DOMAIN_ID``
(``default``). Against the loopback Keystone an ``ecl network`` command takes 0.7-0.8 s
(0.5 s of start-up, then discovery, two token requests and the call), an eclsdk snippet
that lists 0.3-0.4 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nornir_esi.testing.base import ensure_venv, find_python, run

__all__ = [
    "ECLCLI_VERSION",
    "ECLSDK_VERSION",
    "SDK_PRELUDE",
    "Clients",
    "ensure_clients",
    "os_env",
]

ECLCLI_VERSION = "4.8.0"
ECLSDK_VERSION = "1.11.1"
_ECLCLI_REQUIREMENTS = (f"eclcli=={ECLCLI_VERSION}",)
_ECLSDK_REQUIREMENTS = (f"eclsdk=={ECLSDK_VERSION}", "keystoneauth1==3.8.0")

_SHIM_MODULE = "esi_collections_abc"
_SHIM = '''\
"""Written by nornir_esi.testing.clients: the collections ABC aliases Python 3.10 removed.

Imported at start-up by esi_collections_abc.pth, for clients that still use them.
"""
import collections
import collections.abc

for _name in collections.abc.__all__:
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
'''

SDK_PRELUDE = '''\
import os as _os


def connect(**overrides):
    """An ecl.connection.Connection from the OS_* environment (os_env), with overrides."""
    from ecl import connection

    env = _os.environ
    settings = dict(
        auth_url=env["OS_AUTH_URL"],
        username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"],
        project_id=env.get("OS_PROJECT_ID") or env["OS_TENANT_ID"],
        user_domain_id=env.get("OS_USER_DOMAIN_ID", "default"),
        project_domain_id=env.get("OS_PROJECT_DOMAIN_ID", "default"),
    )
    settings.update(overrides)
    return connection.Connection(**settings)


'''
"""What :meth:`Clients.sdk` runs before a snippet: it defines ``connect(**overrides)``."""

# Never handed to a client: the caller's credentials and interpreter set-up.
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def os_env(
    auth_url: str, username: str, password: str, project_id: str, domain: str = "default"
) -> dict[str, str]:
    """The settings eclcli and :data:`SDK_PRELUDE`'s ``connect()`` read, for one user.

    The project goes in both ``OS_TENANT_ID`` (eclcli's) and ``OS_PROJECT_ID``.
    """
    return {
        "OS_AUTH_URL": auth_url,
        "OS_USERNAME": username,
        "OS_PASSWORD": password,
        "OS_TENANT_ID": project_id,
        "OS_PROJECT_ID": project_id,
        "OS_USER_DOMAIN_ID": domain,
        "OS_PROJECT_DOMAIN_ID": domain,
    }


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OS_") and k not in _DROPPED}
    loopback = "127.0.0.1,localhost"
    base.update(PYTHONWARNINGS="ignore", NO_PROXY=loopback, no_proxy=loopback)
    base.update(env)
    return base


@dataclass(frozen=True)
class Clients:
    """The two virtualenvs: ``eclcli`` (the ``ecl`` command) and ``eclsdk`` (the SDK)."""

    eclcli: Path
    eclsdk: Path

    def ecl(
        self, args: Sequence[str], env: Mapping[str, str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """``ecl <args>`` (e.g. ``["network", "inet-gw", "list"]``) with ``env`` (:func:`os_env`).

        Its exit code and output are the caller's to check; going past ``timeout``
        seconds raises :class:`subprocess.TimeoutExpired` (the command is killed).
        """
        return subprocess.run(
            [str(self.eclcli / "bin" / "ecl"), *args],
            env=_child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def sdk(
        self, script: str, env: Mapping[str, str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Python ``script`` in the eclsdk virtualenv, with ``env`` (:func:`os_env`).

        :data:`SDK_PRELUDE` runs first: the script's ``connect()`` is an
        ``ecl.connection.Connection`` made from ``OS_AUTH_URL``, ``OS_USERNAME``,
        ``OS_PASSWORD``, ``OS_PROJECT_ID`` (else ``OS_TENANT_ID``), ``OS_USER_DOMAIN_ID``
        and ``OS_PROJECT_DOMAIN_ID``. What it prints is the caller's to read.
        """
        return subprocess.run(
            [str(self.eclsdk / "bin" / "python"), "-c", SDK_PRELUDE + script],
            env=_child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def _client_python() -> str:
    """A Python 3.11 when there is one (what the clients were verified on), else 3.12+."""
    chosen = os.environ.get("ESI_CLIENTS_PYTHON")
    if chosen:
        return chosen
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    python311 = shutil.which("python3.11")
    if python311:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [python311, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip() == "True":
                return python311
    return find_python("eclcli and eclsdk")


def _shim(venv: Path) -> None:
    """The ``collections`` ABC aliases, loaded at start by a ``.pth`` file of ``venv``."""
    site = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        f"finding the site-packages of {venv.name}",
    ).strip()
    (Path(site) / f"{_SHIM_MODULE}.py").write_text(_SHIM)
    (Path(site) / f"{_SHIM_MODULE}.pth").write_text(f"import {_SHIM_MODULE}\n")


def _ensure_venv(name: str, requirements: Sequence[str]) -> Path:
    """The virtualenv ``name`` with ``requirements`` and the collections shim, made once."""
    return ensure_venv(name, requirements, _client_python, prepare=_shim)


def ensure_clients() -> Clients:
    """Both virtualenvs, made (at once) on first use: about 21 s of pip."""
    with ThreadPoolExecutor(2) as pool:
        eclcli = pool.submit(_ensure_venv, f"eclcli-{ECLCLI_VERSION}", _ECLCLI_REQUIREMENTS)
        eclsdk = pool.submit(_ensure_venv, f"eclsdk-{ECLSDK_VERSION}", _ECLSDK_REQUIREMENTS)
        return Clients(eclcli=eclcli.result(), eclsdk=eclsdk.result())
