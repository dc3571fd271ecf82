"""The field table that reads and writes a record, so that its shape is written once.

A record (:mod:`nornir_esi.contract.records`) is a dataclass that subclasses
:class:`Record`. Its fields, in declaration order, are the JSON object's keys in the
contract's byte-exact order; their annotations say what each value must be, and
``field(metadata=stored(...))`` says the rest (may be absent, one of a few strings, nested
in an inner object, JSON text to decode, or read and written by functions of its own)::

    @dataclass
    class Applied(Record, what="applied"):
        version: int
        params: dict[str, Any]

From the annotations the table is built once per record, on its first use:

==========================  ===================================================
annotation                  the value read must be
==========================  ===================================================
``str``, ``int``, ``bool``  of that JSON type (``true`` is not an ``int`` here)
``dict[...]``               a JSON object
``list[X]``                 a JSON array; of records ``X`` read in turn, or of
                            values of the scalar type ``X``
``Any``                     present, of any type
``X | None``                as ``X``; an optional field's ``None`` is written as
                            no key
==========================  ===================================================

A value that does not fit raises :class:`~nornir_esi.exceptions.ValidationError` naming
the record (with its id, for a record named by one of its fields) and the field.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

from nornir_esi.exceptions import ValidationError

__all__ = ["Record", "json_text", "load", "object_of", "stored", "typed"]

Reader = Callable[[Any, str], Any]
"""Reads a field's stored value into its attribute: ``(value, what) -> attribute``."""
Writer = Callable[[Any], Any]
"""Writes an attribute as its stored value; ``None`` leaves the key out."""


def stored(
    *,
    optional: bool = False,
    choices: tuple[str, ...] = (),
    echo: bool = False,
    inside: str = "",
    decode: bool = False,
    read: Reader | None = None,
    write: Writer | None = None,
) -> Mapping[str, Any]:
    """The ``metadata`` of a record's field that its annotation cannot say.

    Args:
        optional: The key may be absent; it then reads as the field's default, and a
            ``None`` is written as no key.
        choices: The value must be one of these strings.
        echo: The error of a value not in ``choices`` quotes the value.
        inside: The key is in this inner object of the record (``{"state": {...}}``).
        decode: The value may be stored as JSON text (the original wrote ``body`` so).
        read: Reads the stored value in place of the annotation's check.
        write: Writes the attribute in place of the annotation's copy.
    """
    return {
        _KEY: _Spec(
            optional=optional,
            choices=choices,
            echo=echo,
            inside=inside,
            decode=decode,
            read=read,
            write=write,
        )
    }


def load(value: object, what: str) -> Any:
    """Decode JSON text (str or bytes); anything else is taken as already decoded."""
    if isinstance(value, str | bytes | bytearray):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValidationError(what, "", f"is not JSON: {exc}") from exc
    return value


def object_of(value: object, what: str, field_name: str = "") -> dict[str, Any]:
    """``value``, which must be a JSON object."""
    if not isinstance(value, dict):
        raise ValidationError(what, field_name, f"must be a JSON object, not {_kind(value)}")
    return value


def typed(value: object, name: str, kind: type, what: str) -> Any:
    """``value``, which must be of ``kind`` (a JSON ``true`` is not an ``int``)."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValidationError(what, name, f"must be {kind.__name__}, not {_kind(value)}")
    return value


def json_text(value: Any) -> str:
    """Compact JSON text, as every record is stored."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


class Record:
    """A JSON object of the contract, read and written by its dataclass fields.

    A subclass names itself for errors, ``class Job(Record, what="job", named_by="id")``:
    ``named_by`` is a field whose value, when it is a non-empty string, follows the name
    (``job <id>: action is missing``).
    """

    _what: ClassVar[str]
    _named_by: ClassVar[str]
    _table: ClassVar[tuple[_Column, ...]]

    def __init_subclass__(cls, *, what: str, named_by: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._what, cls._named_by = what, named_by

    @classmethod
    def from_value(cls, value: object) -> Self:
        """The record of a stored value: JSON text, bytes or the decoded object."""
        what = cls._what
        d = object_of(load(value, what), what)
        if cls._named_by:
            own = d.get(cls._named_by)
            if isinstance(own, str) and own:
                what = f"{what} {own}"
        attrs: dict[str, Any] = {}
        inner: dict[str, dict[str, Any]] = {}
        for column in cls._columns():
            source = d
            if column.inside:
                source = inner.get(column.inside) or _inner(d, column.inside, what, inner)
            name, kind = column.name, column.kind
            if column.plain and name in source:  # the common case, inline
                value = source[name]
                if type(value) is not kind and kind is not object:
                    typed(value, name, kind, what)
                attrs[name] = value
            else:
                attrs[name] = column.read(source, what)
        record = cls(**attrs)
        record.check(what)
        return record

    def check(self, what: str) -> None:
        """What a record checks across its fields once they are read; nothing by default."""

    def to_value(self) -> dict[str, Any]:
        """The JSON-able object stored, its keys in the contract's order."""
        out: dict[str, Any] = {}
        for column in self._columns():
            value = getattr(self, column.name)
            if column.plain:
                if column.kind is list or column.kind is dict:
                    value = column.kind(value)
            else:
                value = column.write(value)
                if value is None and column.spec.optional:
                    continue
            (out.setdefault(column.inside, {}) if column.inside else out)[column.name] = value
        return out

    def to_json(self) -> str:
        """:meth:`to_value` as compact JSON text."""
        return json_text(self.to_value())

    @classmethod
    def _columns(cls) -> tuple[_Column, ...]:
        table = cls.__dict__.get("_table")
        if table is None:
            hints = get_type_hints(cls)
            table = tuple(_Column.of(f, hints[f.name]) for f in fields(cls))  # type: ignore[arg-type]
            cls._table = table
        return table


def _inner(d: dict[str, Any], name: str, what: str, seen: dict[str, dict[str, Any]]) -> Any:
    if name not in d:
        raise ValidationError(what, name, "is missing")
    seen[name] = typed(d[name], name, dict, what)
    return seen[name]


@dataclass(frozen=True)
class _Spec:
    optional: bool
    choices: tuple[str, ...]
    echo: bool
    inside: str
    decode: bool
    read: Reader | None
    write: Writer | None


_KEY = "nornir_esi.contract.fields"
_PLAIN = _Spec(False, (), False, "", False, None, None)


@dataclass(frozen=True)
class _Column:
    """One row of a record's table: a field, the key it is stored under, and its checks."""

    name: str
    kind: type
    item: type | None
    spec: _Spec
    default: Any
    factory: Callable[[], Any] | None
    plain: bool
    """Required, of its annotation's type, checked by it alone: read and written inline."""

    @classmethod
    def of(cls, field_: Field[Any], hint: Any) -> _Column:
        """The row of a dataclass field, its type hint resolved."""
        if get_origin(hint) in (Union, types.UnionType):  # X | None reads as X
            hint = next(a for a in get_args(hint) if a is not type(None))
        origin = get_origin(hint) or hint
        args = get_args(hint)
        factory = field_.default_factory
        item = args[0] if origin is list and args and args[0] is not Any else None
        spec = field_.metadata.get(_KEY, _PLAIN)
        return cls(
            name=field_.name,
            kind=object if origin is Any else origin,
            item=item,
            spec=spec,
            default=field_.default,
            factory=None if factory is MISSING else factory,
            plain=spec == _PLAIN and item is None,
        )

    @property
    def inside(self) -> str:
        return self.spec.inside

    def read(self, d: dict[str, Any], what: str) -> Any:
        """The attribute of this field from the (inner) object ``d``."""
        spec, name = self.spec, self.name
        if name not in d:
            if spec.optional:
                return self.default if self.factory is None else self.factory()
            raise ValidationError(what, name, "is missing")
        value = d[name]
        if spec.read is not None:
            return spec.read(value, what)
        if spec.decode:
            return object_of(load(value, what), what, name)
        typed(value, name, self.kind, what)
        if spec.choices and value not in spec.choices:
            shown = f"{value!r} " if spec.echo else ""
            raise ValidationError(what, name, f"{shown}is not one of {', '.join(spec.choices)}")
        if self.item is None:
            return value
        if issubclass(self.item, Record):
            return [self.item.from_value(v) for v in value]
        for v in value:
            typed(v, name, self.item, what)
        return list(value)

    def write(self, value: Any) -> Any:
        """The stored value of this field's attribute (a copy of a list or an object)."""
        if self.spec.write is not None:
            return self.spec.write(value)
        if isinstance(value, list):
            if self.item is not None and issubclass(self.item, Record):
                return [v.to_value() for v in value]
            return list(value)
        if isinstance(value, dict):
            return dict(value)
        return value
