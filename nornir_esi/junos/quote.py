"""Values as Junos CLI words, safe to put into set commands.

A set load is line-oriented: a value is one word, bare when it reads back as one, else
double-quoted; line breaks and other control characters are refused rather than escaped,
so no value can start a command of its own.
"""

from __future__ import annotations

import re

from nornir_esi.exceptions import ValidationError

__all__ = ["Named", "junos_quote"]

# Characters that end a Junos word or start a comment/string: a value holding one is quoted.
# What makes a value more than one bare word, and what no value may hold (a value is
# quoted once per set line it appears in: thousands per batch).
_SPECIAL = re.compile(r"[\s;{}\[\]#\"']")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Named(str):
    """A value that remembers the name of the param it came from.

    Errors raised while quoting it name that param.
    """

    param: str

    def __new__(cls, value: str, param: str) -> Named:
        """``value``, remembering ``param``."""
        obj = super().__new__(cls, value)
        obj.param = param
        return obj


def junos_quote(value: object, *, what: str = "Junos value") -> str:
    """``value`` as one Junos CLI word: bare when it reads back as one, else double-quoted.

    Line breaks and other control characters are refused rather than escaped: a set load
    is line-oriented, so a newline would start a command of the caller's choosing. The
    ValidationError names ``what`` and the value's param (see :class:`Named`).
    """
    text = str(value)
    param = value.param if isinstance(value, Named) else "value"
    if not text:
        raise ValidationError(what, param, "is empty")
    if _CONTROL.search(text):
        raise ValidationError(what, param, f"{text!r} contains a line break or control character")
    if text[0] != "<" and not _SPECIAL.search(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
