"""The one body of every refusal of the HTTP API, and how long what it echoes may be.

::

    {"error": "internet_gateway 4f1c...: qos_option_id is required", "message": "<the same>",
     "object": "internet_gateway 4f1c...", "field": "qos_option_id", "reason": "is required"}

``error`` is a string because eclcli prints ``body["error"]`` as it is (an object would be
printed as its Python repr); ``message`` repeats it at the top level because eclsdk reads
the reason from there (its ``HttpException`` takes ``content["message"]`` when its URL does
not name the ``network`` service, ``content["error"]`` when it does), while keystoneauth
alone would read it only from an ``error`` object, which would break eclcli. With both, the
two clients print the reason. ``object``, ``field`` and ``reason`` are for programs.

Every text is clipped to :data:`ECHO_LIMIT` characters: a refusal never sends back more than
a short prefix of what it was sent (a 50 MB name is named by its first characters).
"""

from __future__ import annotations

from pydantic import BaseModel

from nornir_esi.exceptions import ValidationError

__all__ = ["ECHO_LIMIT", "Error", "clip", "error_body", "refusal_body"]

ECHO_LIMIT = 200
"""The longest text of a refusal's fields, in characters."""


class Error(BaseModel):
    """Every refusal of the API."""

    error: str
    message: str
    object: str
    field: str
    reason: str


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text``, or its first ``limit`` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def error_body(obj: str, field: str, reason: str) -> dict[str, str]:
    """The refusal's body; ``error`` and ``message`` read ``<object>: <field> <reason>``."""
    obj, field, reason = clip(obj), clip(field), clip(reason)
    text = f"{obj}: {field} {reason}" if field else f"{obj}: {reason}"
    return {"error": text, "message": text, "object": obj, "field": field, "reason": reason}


def refusal_body(exc: ValidationError) -> dict[str, str]:
    """The body of a ValidationError's refusal."""
    return error_body(exc.obj, exc.field, exc.reason)
