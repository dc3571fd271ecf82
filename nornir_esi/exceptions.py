"""The one error tree of nornir-esi.

Every error the package raises on purpose derives from :class:`EsiError`.
Categories are by cause, so a caller can decide what to do from the type alone;
retryability is part of the type (``TemporaryError`` vs ``PermanentError``).
Third-party errors are wrapped with ``raise ... from exc``.

::

    EsiError
    ├── PermanentError                 retrying the same thing fails the same way
    │   ├── ValidationError            bad input: names the object, the field and the reason
    │   │   └── ConflictError          ... that contradicts what is stored now (exists
    │   │                              already, changed since the caller read it)
    │   │   └── SecretError            a secret reference that is malformed or does not
    │   │                              resolve (names the reference, never the secret)
    │   └── ConfigSyntaxError          Junos text, set commands or XML that do not parse
    ├── TemporaryError(delay=...)      may succeed when tried again later
    ├── DeviceError(host, step)        a router failed a step of a task, raised as one of:
    │   ├── DeviceRejectedError        the router answered <rpc-error> (also PermanentError)
    │   │   └── HostKeyError           its SSH host key is unknown or not the recorded one
    │   ├── DeviceUnavailableError     unreachable, session lost, timed out (also
    │   │   │                          TemporaryError)
    │   │   └── DeviceBusyError        its configuration is locked by another session
    │   └── PairError                  a pair transaction failed on one router; says what
    │       │                          was rolled back on both (``rollback``, ``clean``)
    │       ├── PairRejectedError      ... because the router refused (also DeviceRejected)
    │       └── PairUnavailableError   ... because it was unusable (also DeviceUnavailable)
    ├── StoreError                     the desired-state store (etcd) refused or failed
    │   ├── StoreUnavailableError      unreachable, no leader, timed out (also
    │   │                              TemporaryError)
    │   ├── StoreCompactedError        a watch asked for history etcd compacted away
    │   ├── LeaseExpiredError          a put named a lease that expired or was revoked
    │   └── ClaimLostError             a job's end not written: its claim is not ours now
    ├── NetsimError                    the router simulator itself
    │   └── NetsimRpcError             an <rpc-error> a simulated router answers with
    └── SetupError                     a local server (NetBox, Heat, their databases and
                                       brokers) could not be set up

Messages name the object first: ``internet_gateway 429e...: vlan_id 5000 is
outside 1-4094``.
"""

from __future__ import annotations

__all__ = [
    "ClaimLostError",
    "ConfigSyntaxError",
    "ConflictError",
    "DeviceBusyError",
    "DeviceError",
    "DeviceRejectedError",
    "DeviceUnavailableError",
    "EsiError",
    "HostKeyError",
    "LeaseExpiredError",
    "NetsimError",
    "NetsimRpcError",
    "PairError",
    "PairRejectedError",
    "PairUnavailableError",
    "PermanentError",
    "SecretError",
    "SetupError",
    "StoreCompactedError",
    "StoreError",
    "StoreUnavailableError",
    "TemporaryError",
    "ValidationError",
]


class EsiError(Exception):
    """Root of every error nornir-esi raises on purpose."""


class PermanentError(EsiError):
    """Trying the same thing again fails the same way."""


class TemporaryError(EsiError):
    """May succeed when tried again; ``delay`` is the suggested wait in seconds."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class ValidationError(PermanentError, ValueError):
    """Bad input. The message names the object, the field and the reason."""

    def __init__(self, obj: str, field: str, reason: str) -> None:
        super().__init__(f"{obj}: {field} {reason}" if field else f"{obj}: {reason}")
        self.obj = obj
        self.field = field
        self.reason = reason


class SecretError(ValidationError):
    """A secret field's reference is malformed, names an unknown scheme, or does not resolve.

    It does not resolve when, say, an environment variable is unset or a file is missing. The
    message names the object, the field and the reference; it never holds a secret's value.
    """


class ConflictError(ValidationError):
    """The request contradicts what is stored now; the API's 409.

    The resource exists already, or it changed since the caller read it (another writer came
    first).
    """


class ConfigSyntaxError(PermanentError, ValueError):
    """Junos configuration (text, set or XML) that does not parse.

    ``line`` is 1-based where known; ``path`` is the Junos hierarchy, e.g.
    ``[edit interfaces ae0]``.
    """

    def __init__(self, message: str, *, line: int | None = None, path: str = "") -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.message = message
        self.line = line
        self.path = path


class DeviceError(EsiError):
    """A router failed one step of a task; ``host`` and ``step`` say which and where.

    Raised only as one of its two subclasses, so the type still tells whether to retry.
    """

    def __init__(self, host: str, step: str, reason: str) -> None:
        super().__init__(f"router {host}: {step}: {reason}")
        self.host = host
        self.step = step
        self.reason = reason


class DeviceRejectedError(DeviceError, PermanentError):
    """The router refused the request (``<rpc-error>``): bad or conflicting configuration."""


class HostKeyError(DeviceRejectedError):
    """The router's SSH host key is not in the known-hosts file, or differs from the one there.

    Never retried: an unknown or changed key needs a person to look.
    """


class DeviceUnavailableError(DeviceError, TemporaryError):
    """The router could not be reached or used right now: retrying later may succeed."""

    def __init__(self, host: str, step: str, reason: str, *, delay: float = 5.0) -> None:
        DeviceError.__init__(self, host, step, reason)
        self.delay = delay


class DeviceBusyError(DeviceUnavailableError):
    """The router is in use by another session, or by another change's trial commit.

    Its configuration is locked by another session (``lock-denied``, ``in-use``), or another
    change's trial commit waits for its confirm. Nothing is wrong with the request; it can go
    through once the lock is free or the trial has ended.
    """


class PairError(DeviceError):
    """A pair transaction failed: ``host``/``step``/``reason`` are those of the failure.

    ``rollback`` says, per router name, what was done to undo the transaction there;
    ``clean`` is True when both routers are known to be on their previous committed
    configuration (or will be, by themselves, when an unconfirmed commit times out), False
    when a router may keep the change: then a person has to look. ``cause`` is the
    router's own error; ``also``: the other router's failure in the same step, if both
    failed. Raised only as one of its two subclasses, which keep the cause's retryability.
    """

    def __init__(
        self,
        cause: DeviceError,
        rollback: dict[str, str],
        *,
        clean: bool,
        also: DeviceError | None = None,
    ) -> None:
        undone = "; ".join(f"{host}: {what}" for host, what in rollback.items())
        other = "" if also is None else f"; also router {also.host}: {also.reason}"
        DeviceError.__init__(
            self, cause.host, cause.step, f"{cause.reason}{other}; rollback: {undone}"
        )
        self.reason = cause.reason
        self.cause = cause
        self.also = also
        self.rollback = dict(rollback)
        self.clean = clean

    @staticmethod
    def of(
        cause: DeviceError,
        rollback: dict[str, str],
        *,
        clean: bool,
        also: DeviceError | None = None,
    ) -> PairError:
        """The subclass that keeps ``cause``'s retryability."""
        if isinstance(cause, DeviceUnavailableError):
            return PairUnavailableError(cause, rollback, clean=clean, also=also)
        return PairRejectedError(cause, rollback, clean=clean, also=also)


class PairRejectedError(PairError, DeviceRejectedError):
    """A pair transaction failed because a router refused a step."""


class PairUnavailableError(PairError, DeviceUnavailableError):
    """A pair transaction failed because a router could not be used; retrying may succeed."""

    def __init__(
        self,
        cause: DeviceError,
        rollback: dict[str, str],
        *,
        clean: bool,
        also: DeviceError | None = None,
    ) -> None:
        PairError.__init__(self, cause, rollback, clean=clean, also=also)
        self.delay = getattr(cause, "delay", 5.0)


class StoreError(EsiError):
    """The store (etcd) refused a request or answered with an error."""


class StoreUnavailableError(StoreError, TemporaryError):
    """etcd cannot be reached, has no leader or did not answer in time.

    For a write that timed out the outcome is unknown: it may have been applied.
    """


class StoreCompactedError(StoreError):
    """A watch asked for revisions that etcd has compacted away.

    The caller re-reads the current state and watches again from its revision.
    """

    def __init__(self, message: str, *, compact_revision: int) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


class LeaseExpiredError(StoreError):
    """The lease of a put does not exist any more (expired or revoked)."""


class ClaimLostError(StoreError):
    """A job's end was not written: its claim is no longer the worker's, or its state changed.

    The claim is no longer the worker's when its lease expired and the job went to another;
    or else the job state changed meanwhile.
    """


class NetsimError(EsiError):
    """The router simulator could not do what it was asked."""


class NetsimRpcError(NetsimError):
    """An error a simulated router reports in an ``<rpc-error>``.

    Fields follow RFC 6241 section 4.3 plus Junos' ``error-path`` and
    ``bad-element`` conventions.
    """

    def __init__(
        self,
        message: str,
        *,
        tag: str = "operation-failed",
        error_type: str = "application",
        severity: str = "error",
        path: str = "",
        bad_element: str = "",
        info: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.tag = tag
        self.error_type = error_type
        self.severity = severity
        self.path = path
        self.bad_element = bad_element
        self.info = dict(info or {})


class SetupError(EsiError):
    """A throwaway server for tests, the demo or the lab could not be set up.

    Such servers are NetBox, Heat, PostgreSQL, Redis, RabbitMQ and their virtualenvs; the
    message says what and why.
    """
