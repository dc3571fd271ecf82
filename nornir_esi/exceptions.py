"""The one error tree of nornir-esi.

Every error the package raises on purpose derives from :class:`EsiError`.
Categories are by cause, so a caller can decide what to do from the type alone;
retryability is part of the type (``TemporaryError`` vs ``PermanentError``).
Third-party errors are wrapped with ``raise ... from exc``.

::

    EsiError
    ├── PermanentError                 retrying the same thing fails the same way
    │   ├── ValidationError            bad input: names the object, the field and the reason
    │   └── ConfigSyntaxError          Junos text, set commands or XML that do not parse
    ├── TemporaryError(delay=...)      may succeed when tried again later
    └── NetsimError                    the router simulator itself
        └── NetsimRpcError             an <rpc-error> a simulated router answers with

Messages name the object first: ``internet_gateway 429e...: vlan_id 5000 is
outside 1-4094``.
"""

from __future__ import annotations

__all__ = [
    "ConfigSyntaxError",
    "EsiError",
    "NetsimError",
    "NetsimRpcError",
    "PermanentError",
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
