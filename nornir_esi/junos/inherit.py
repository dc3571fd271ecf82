"""Configuration groups: what ``apply-groups`` adds (``show configuration | display inheritance``).

Junos rules kept here:

- ``apply-groups G`` at a hierarchy level inherits the statements ``groups G`` holds at
  that same level (and below), nothing else: ``apply-groups`` on a bgp group takes the
  group's ``routing-instances <*> protocols bgp group <*>`` part only.
- A name in a group is a pattern when it is written in angle brackets (``<*>``,
  ``<ge-*>``): it matches the entries the configuration has, it never creates one. A plain
  name creates its entry when it is missing (``interfaces <ge-*> unit 0`` gives every ge
  interface a unit 0).
- What the configuration says itself wins; then the group applied at the lowest level;
  then, among the groups of one ``apply-groups``, the first. A leaf-list is taken whole
  from the first source that has it.
- ``apply-groups-except G`` stops the inheritance of G at that level and below; inactive
  statements (in the configuration and in groups) take no part.

The result keeps ``groups`` and the ``apply-groups`` statements, so that commit checks can
still look references up in it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from fnmatch import fnmatchcase

from lxml import etree

from nornir_esi.junos import schema
from nornir_esi.junos.schema import Stmt
from nornir_esi.junos.tree import entry_key, find_entry, key_tag, node_kind

__all__ = ["inherit", "matches"]

_Element = etree._Element
# A group's statement that corresponds to a configuration statement, and its group's name.
_Source = tuple[str, _Element]
_GROUP_REFS = ("apply-groups", "apply-groups-except")
_UNKNOWN = Stmt("container", known=False)


def matches(pattern: str, name: str) -> bool:
    """Whether the name ``pattern`` of a group entry stands for the entry named ``name``."""
    if len(pattern) > 2 and pattern[0] == "<" and pattern[-1] == ">":
        return fnmatchcase(name, pattern[1:-1])
    return pattern == name


def inherit(config: _Element) -> _Element:
    """A copy of ``config`` with the statements of its applied groups, without inactive ones."""
    out = _without_inactive(copy.deepcopy(config))
    groups: dict[str, _Element] = {}
    for group in out.iterfind("groups"):
        groups.setdefault(group.findtext("name") or "", group)
    if not groups:
        return out
    # Only the branches that apply a group, or lie under one that does, are walked: a
    # thousand units each applying a VRRP group is a thousand short walks, not a long one.
    # By id: the elements are kept alive by the list, so that lxml keeps their proxies
    # (and ids) while the walk runs.
    ancestors = [a for ref in out.iter("apply-groups") for a in ref.iterancestors()]
    applying = {id(a) for a in ancestors}
    _inherit(out, schema.ROOT, (), _own(out, (), groups, []), groups, applying)
    return out


_INACTIVE = etree.XPath("//*[@inactive='inactive']")


def _without_inactive(config: _Element) -> _Element:
    found = _INACTIVE(config)
    assert isinstance(found, list)
    for el in found:
        if isinstance(el, etree._Element) and (parent := el.getparent()) is not None:
            parent.remove(el)
    return config


def _elements(el: _Element) -> Iterator[_Element]:
    return (c for c in el if isinstance(c.tag, str))


def _stmt(parent: Stmt | None, tag: str) -> Stmt | None:
    return schema.child(parent if parent is not None else _UNKNOWN, tag)


_Step = tuple[str, str | None]  # (tag, key of a list entry)


def _step(el: _Element, stmt: Stmt | None) -> _Step:
    if node_kind(el, stmt) == "list":
        return (str(el.tag), entry_key(el, stmt))
    return (str(el.tag), None)


def _at(group: _Element, path: tuple[_Step, ...], stmt: Stmt) -> list[_Element]:
    """The statements of ``group`` at ``path``; patterns match, so there may be several."""
    found = [group]
    for tag, key in path:
        sub = _stmt(stmt, tag)
        nxt: list[_Element] = []
        for node in found:
            for c in node:
                if c.tag != tag:
                    continue
                if key is None or matches(entry_key(c, sub) or "", key):
                    nxt.append(c)
        found, stmt = nxt, sub or _UNKNOWN
    return found


def _own(
    node: _Element, path: tuple[_Step, ...], groups: dict[str, _Element], inherited: list[_Source]
) -> list[_Source]:
    """The sources of ``node``: its own apply-groups first, then what its parent passed on."""
    refs = [c.text or "" for c in node if c.tag == "apply-groups"]
    blocked = {c.text or "" for c in node if c.tag == "apply-groups-except"}
    own = [
        (name, el) for name in refs if name in groups for el in _at(groups[name], path, schema.ROOT)
    ]
    return [s for s in own + inherited if s[0] not in blocked]


def _inherit(
    node: _Element,
    stmt: Stmt,
    path: tuple[_Step, ...],
    sources: list[_Source],
    groups: dict[str, _Element],
    applying: set[int],
) -> None:
    made = _take(node, stmt, sources) if sources else []
    created = {id(m) for m in made}  # `made` keeps the proxies, hence the ids, alive
    key = key_tag(stmt) if stmt.kind == "list" else None
    for c in list(_elements(node)):
        if c.tag == key or c.tag in _GROUP_REFS or (not path and c.tag == "groups"):
            continue
        sub = _stmt(stmt, str(c.tag))
        kind = node_kind(c, sub)
        if kind not in ("container", "list"):
            continue
        step = _step(c, sub)
        passed = [
            (name, g)
            for name, el in sources
            for g in el
            if g.tag == c.tag and (step[1] is None or matches(entry_key(g, sub) or "", step[1]))
        ]
        here = (*path, step)
        c_sources = _own(c, here, groups, passed)
        if c_sources or id(c) in applying:
            _inherit(c, sub or _UNKNOWN, here, c_sources, groups, applying)
        if id(c) in created and not len(c):
            # Made for a group's container whose patterns matched nothing: not inherited.
            node.remove(c)


def _take(node: _Element, stmt: Stmt, sources: list[_Source]) -> list[_Element]:
    """Add to ``node`` what its sources have and it lacks; returns the containers made empty.

    A container taken from a group that holds statements is made empty here and filled (or
    dropped) by the walk below it; one that is empty in the group (``family inet;``) stays.
    """
    created: list[_Element] = []
    key = key_tag(stmt) if stmt.kind == "list" else None
    for _name, source in sources:
        present = {str(c.tag) for c in _elements(node)}
        for g in _elements(source):
            tag = str(g.tag)
            if g.tag == key or tag in _GROUP_REFS or (source.tag == "groups" and tag == "name"):
                continue  # keys, references, and the name of the group itself
            sub = _stmt(stmt, tag)
            kind = node_kind(g, sub)
            if kind == "list":
                name = entry_key(g, sub)
                if name is None or name.startswith("<"):
                    continue  # a pattern: it adds to entries that exist, never makes one
                if find_entry(node, tag, name, sub) is None:
                    entry = etree.SubElement(node, tag)
                    etree.SubElement(entry, key_tag(sub)).text = name
            elif kind == "container":
                if tag not in present:
                    made = etree.SubElement(node, tag)
                    if len(g):
                        created.append(made)
                    present.add(tag)
            elif tag not in present:
                # A leaf, flag or leaf-list from the first source that has it; every value
                # of a leaf-list of that source (`present` is the node before the source).
                node.append(copy.deepcopy(g))
    return created
