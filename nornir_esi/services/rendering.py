"""Rendering a service's Junos ``set`` commands from a job's params: one strict Jinja2 setup.

A job carries ``params`` as ``[{"param", "type", "value", "resources"}, ...]``
(:func:`params_by_name` turns that into a mapping). The templates live in
``nornir_esi/templates/junos/``; every value goes through the ``q`` filter, which quotes it
for the Junos CLI and refuses line breaks, so no param can inject a command. A param a
template needs and the job lacks raises :class:`~nornir_esi.exceptions.ValidationError`
naming the param (Jinja2's ``StrictUndefined`` catches the ones only the template knows it
needs), and so does an empty one (:func:`require`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from nornir_esi.exceptions import ValidationError
from nornir_esi.junos.quote import Named, junos_quote

__all__ = ["Named", "named", "params_by_name", "render", "require"]

_UNDEFINED = re.compile(r"'([^']+)' is undefined")


@functools.cache
def _environment(what: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nornir_esi", "templates/junos"),
        undefined=jinja2.StrictUndefined,
        # Set commands are line-oriented: block tags must not leave blank or indented lines.
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = functools.partial(junos_quote, what=what)
    return env


def params_by_name(params: Iterable[Mapping[str, Any]], *, what: str) -> dict[str, Any]:
    """A job's ``[{"param", "type", "value", "resources"}, ...]`` as ``{param: value}``."""
    out: dict[str, Any] = {}
    for entry in params:
        name = entry.get("param")
        if not isinstance(name, str) or not name:
            raise ValidationError(what, "params", f"entry {dict(entry)!r} has no param name")
        out[name] = entry.get("value")
    return out


def require(params: Mapping[str, Any], name: str, *, what: str) -> str:
    """The param ``name`` as text; missing or empty is a ValidationError naming it."""
    value = params.get(name)
    if value is None or str(value) == "":
        raise ValidationError(what, name, "is missing" if value is None else "is empty")
    return str(value)


def named(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every param as a :class:`Named` text, so a quoting error names its param."""
    return {
        name: Named("" if value is None else str(value), name) for name, value in params.items()
    }


def render(template: str, context: Mapping[str, Any], *, what: str) -> str:
    """``template`` rendered with ``context``; errors name ``what`` and the missing param."""
    try:
        return _environment(what).get_template(template).render(context)
    except jinja2.UndefinedError as exc:
        match = _UNDEFINED.search(str(exc))
        raise ValidationError(
            what, match.group(1) if match else "params", f"is missing ({template})"
        ) from exc
