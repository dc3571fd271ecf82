"""Edits of a Junos configuration tree: NETCONF edit-config, Junos load actions, subtree filters.

Trees follow the conventions of :mod:`nornir_esi.junos.schema`: a ``<configuration>``
element without namespaces or whitespace text, list entries with their key element first.
Statements the schema does not know are identified by shape: an element whose first child
is ``<name>`` is a list entry keyed by name, any other element is the one node of its tag.

A failed ``edit-config`` leaves the datastore as it was (Junos candidate semantics): the
target is restored from a copy taken before the edit.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator

from lxml import etree

from nornir_esi.exceptions import NetsimRpcError
from nornir_esi.junos import schema
from nornir_esi.junos.schema import Kind, Stmt

__all__ = [
    "NC_NS",
    "canonical_bytes",
    "edit_config",
    "entry_key",
    "find_entry",
    "junos_path",
    "key_tag",
    "load",
    "node_kind",
    "path_words",
    "strip",
    "subtree_filter",
]

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"

_Element = etree._Element

OPERATIONS = frozenset({"merge", "replace", "create", "delete", "remove"})
_DEFAULT_OPERATIONS = frozenset({"merge", "replace", "none"})
# Attributes that steer an edit; none of them is stored (``inactive`` is re-set on purpose).
_EDIT_ATTRS = ("operation", "delete", "replace", "insert", "active", "inactive")
_INSERT_REF_ATTRS = ("name", "key", "value")
# Stands for a statement the schema does not know, so that statements valid at any level
# (apply-groups, description) are still recognised below it.
_UNKNOWN = Stmt("container", known=False)
_KEY_ATTR = re.compile(r"=\s*(['\"])(.*?)\1")


# --- shape ---------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return etree.QName(tag).localname if tag.startswith("{") else tag


def strip(el: _Element) -> _Element:
    """A deep copy of ``el`` without namespaces, comments and whitespace-only text.

    Namespaced attributes keep their local name, so ``nc:operation`` becomes ``operation``
    (and ``yang:insert``/``yang:key`` become ``insert``/``key``). Leaf text is trimmed, as
    pretty-printed replies put newlines around it.
    """
    attrib = {_local(str(k)): str(v) for k, v in el.attrib.items()}
    new = etree.Element(_local(str(el.tag)), attrib)
    children = [c for c in el if isinstance(c.tag, str)]
    if children:
        text = el.text or ""
        if text.strip():
            new.text = text
        new.extend(strip(c) for c in children)
    elif el.text is not None and el.text.strip():
        new.text = el.text.strip()
    return new


def canonical_bytes(config: _Element) -> bytes:
    """Stable bytes of a tree for equality and hashing: C14N of the stripped tree."""
    return etree.tostring(strip(config), method="c14n")


def _child_stmt(parent: Stmt | None, tag: str) -> Stmt | None:
    return schema.child(parent if parent is not None else _UNKNOWN, tag)


def node_kind(el: _Element, stmt: Stmt | None) -> Kind:
    """The kind of ``el``: from the schema, else guessed from its shape."""
    if stmt is not None:
        return stmt.kind
    if len(el) and el[0].tag == "name":
        return "list"
    if len(el):
        return "container"
    return "leaf" if el.text is not None else "flag"


def key_tag(stmt: Stmt | None) -> str:
    """The tag of a list entry's key element: the schema's, else ``name``."""
    return stmt.key if stmt is not None else "name"


def entry_key(el: _Element, stmt: Stmt | None) -> str | None:
    """The key value of list entry ``el``, or None when it has no key element."""
    for c in el:
        if c.tag == key_tag(stmt):
            return c.text or ""
    return None


def find_entry(parent: _Element, tag: str, key_value: str, stmt: Stmt | None) -> _Element | None:
    """The ``tag`` list entry of ``parent`` whose key is ``key_value``."""
    # An XPath search, in C: a list may have thousands of entries, and a load of set
    # commands looks one up per command.
    found = _entry_finder(tag, key_tag(stmt))(parent, v=key_value)
    assert isinstance(found, list)  # a node-set
    first = found[0] if found else None
    return first if isinstance(first, etree._Element) else None


@functools.lru_cache(maxsize=1024)
def _entry_finder(tag: str, key: str) -> etree.XPath:
    return etree.XPath(f"{tag}[{key}[1] = $v]")


def _words(el: _Element, stmt: Stmt | None, parent: Stmt | None) -> list[str]:
    if node_kind(el, stmt) != "list":
        return [str(el.tag)]
    key = entry_key(el, stmt) or ""
    if parent is not None and parent.anon == el.tag:
        return [key]
    return [str(el.tag), key]


def path_words(el: _Element) -> list[str]:
    """The Junos hierarchy of ``el`` in text words: ``["interfaces", "ae0", "unit", "1025"]``."""
    chain = [*reversed(list(el.iterancestors())), el]
    if chain[0].tag == "configuration":
        chain = chain[1:]
    words: list[str] = []
    stmt: Stmt | None = schema.ROOT
    for node in chain:
        sub = _child_stmt(stmt, str(node.tag))
        words += _words(node, sub, stmt)
        stmt = sub
    return words


def junos_path(el: _Element) -> str:
    """``[edit interfaces ae0 unit 1025]`` for the unit element; ``[edit]`` for the root."""
    return _edit(path_words(el))


def _edit(words: list[str]) -> str:
    return "[edit " + " ".join(words) + "]" if words else "[edit]"


def _configuration(el: _Element) -> _Element:
    """The ``<configuration>`` in a stripped payload (``<config><configuration>``, or itself)."""
    if el.tag == "configuration":
        return el
    for c in el.iter("configuration"):
        return c
    return etree.Element("configuration")


# --- edit-config ---------------------------------------------------------------------------


def edit_config(
    target: _Element,
    config: _Element,
    *,
    default_operation: str = "merge",
    atomic: bool = True,
    stripped: bool = False,
) -> None:
    """Apply an edit-config ``config`` to ``target`` (RFC 6241 section 7.2, plus Junos attributes).

    All or nothing: on error ``target`` is unchanged. ``atomic=False``: the caller works on
    a copy it throws away on error, so no backup of ``target`` is taken (a whole
    configuration per call: a load of many set commands was quadratic). ``stripped``:
    ``config`` has no namespaces, comments or padding to strip (the fragments of
    ``text.parse_set``, whose values are taken as written): read as it is, not copied
    first. ``config`` is only read either way.
    """
    if default_operation not in _DEFAULT_OPERATIONS:
        raise NetsimRpcError(
            f"invalid default-operation: {default_operation}",
            tag="invalid-value",
            error_type="protocol",
            bad_element="default-operation",
        )
    src = _configuration(config if stripped else strip(config))
    if src.get("operation") == "replace":
        default_operation = "replace"
    backup = copy.deepcopy(target) if atomic else None
    if default_operation == "replace":
        # The payload is the whole new configuration; explicit operations in it still apply.
        _replace_children(target, etree.Element("configuration"))
        default_operation = "merge"
    try:
        _apply_children(target, src, schema.ROOT, "container", default_operation, [], top=True)
    except Exception:
        if backup is not None:
            _replace_children(target, backup)
        raise


def _replace_children(target: _Element, source: _Element) -> None:
    for c in list(target):
        target.remove(c)
    target.extend(list(source))


def load(target: _Element, fragment: _Element, *, action: str) -> _Element:
    """Junos ``<load-configuration action=...>``: the new configuration; ``target`` is untouched.

    ``merge``/``replace``/``set`` merge the fragment, honouring its ``replace``, ``delete``,
    ``insert`` and ``(in)active`` attributes; ``override``/``update`` make the fragment the
    whole configuration (they differ only in what Junos marks as changed).
    """
    src = _configuration(strip(fragment))
    if action in ("merge", "replace", "set"):
        work = copy.deepcopy(target)
    elif action in ("override", "update"):
        work = etree.Element("configuration")
    else:
        raise NetsimRpcError(
            f"invalid load action: {action}",
            tag="invalid-value",
            error_type="protocol",
            bad_element="action",
        )
    _apply_children(work, src, schema.ROOT, "container", "merge", [], top=True)
    return work


def _apply_children(
    node: _Element,
    src: _Element,
    stmt: Stmt | None,
    kind: Kind,
    op: str,
    words: list[str],
    *,
    top: bool = False,
) -> bool:
    """Apply the children of ``src`` to ``node``; whether any statement was removed."""
    skip = key_tag(stmt) if kind == "list" else None
    removed = False
    for s in src:
        if s.tag == skip:
            skip = None  # the entry's key identified it already; a second one is content
            continue
        removed |= _apply_one(node, s, _child_stmt(stmt, str(s.tag)), stmt, op, words, top=top)
    return removed


def _apply_one(
    parent: _Element,
    s: _Element,
    stmt: Stmt | None,
    parent_stmt: Stmt | None,
    inherited: str,
    words: list[str],
    *,
    top: bool,
) -> bool:
    """Apply statement ``s`` to ``parent``; whether a statement was removed (at or below it).

    A container that a removal leaves empty goes too (Junos shows no empty containers), so
    the removal of a last routing instance takes ``routing-instances`` with it. Kept: list
    entries (their key is content), presence containers (``family inet``), and containers
    that were empty before (``set protocols bgp``, a flag-like ``ssh;``).
    """
    kind = node_kind(s, stmt)
    op = _operation(s, inherited, words)
    here = words + _words(s, stmt, parent_stmt)
    bad = " ".join(here[len(words) :])

    if kind == "list" and entry_key(s, stmt) is None and not (stmt is not None and stmt.single):
        # `delete interfaces ae0 unit` deletes every unit; anything else needs the key.
        if op in ("delete", "remove", "junos-delete"):
            same = [c for c in parent if c.tag == s.tag]
            if not same and op == "delete":
                raise _missing(words, bad)
            for c in same:
                parent.remove(c)
            return bool(same)
        raise NetsimRpcError(
            f"missing key {key_tag(stmt)} in {s.tag}",
            tag="missing-element",
            path=_edit(words),
            bad_element=key_tag(stmt),
        )

    existing = _match(parent, s, stmt, kind)

    if op in ("delete", "remove", "junos-delete"):
        if kind == "leaf-list" and s.text is None:
            existing_all = [c for c in parent if c.tag == s.tag]
        else:
            existing_all = [existing] if existing is not None else []
        if not existing_all and op == "delete":
            raise _missing(words, bad)
        for c in existing_all:
            parent.remove(c)
        return bool(existing_all)

    if op == "create" and existing is not None:
        raise NetsimRpcError(
            f"statement already exists: {bad}",
            tag="data-exists",
            error_type="application",
            path=_edit(words),
            bad_element=bad,
        )

    sub_op = "none" if op == "none" else "merge"
    if existing is None:
        if op == "none" and not _has_edits(s):
            raise _missing(words, bad)
        if _only_removes(s, stmt, kind):
            # `delete interfaces ae0 unit 1041 family` on a router without that unit: Junos
            # builds nothing (it warns), so neither is an empty `unit 1041` left behind.
            return False
        node = _shell(s, stmt, kind)
        _place(parent, node, top=top)
    elif op == "replace" or (
        kind == "list"
        and stmt is not None
        and stmt.single
        and op == "merge"
        and entry_key(existing, stmt) != entry_key(s, stmt)
    ):
        node = _shell(s, stmt, kind)
        existing.addprevious(node)
        parent.remove(existing)
    else:
        node = existing

    if kind == "leaf" and s.text is not None and op != "none":
        node.text = s.text
    if s.get("inactive") == "inactive":
        node.set("inactive", "inactive")
    elif s.get("active") == "active" and "inactive" in node.attrib:
        del node.attrib["inactive"]
    if s.get("insert") is not None:
        _insert(parent, node, s, stmt, kind, words)
    if kind not in ("container", "list"):
        return False
    removed = _apply_children(node, s, stmt, kind, sub_op, here)
    # Pruned once all of `s` is applied: a later sibling in `s` may add to `node` again.
    if removed and kind == "container" and not len(node) and not (stmt and stmt.presence):
        parent.remove(node)
    return removed


def _operation(s: _Element, inherited: str, words: list[str]) -> str:
    if s.get("delete") == "delete":
        return "junos-delete"
    if s.get("replace") == "replace":
        return "replace"
    op = s.get("operation")
    if op is None:
        return inherited
    if op not in OPERATIONS:
        raise NetsimRpcError(
            f"invalid operation: {op}",
            tag="bad-attribute",
            error_type="application",
            path=_edit(words),
            bad_element=str(s.tag),
            info={"bad-attribute": "operation"},
        )
    return op


def _missing(words: list[str], bad: str) -> NetsimRpcError:
    return NetsimRpcError(
        f"statement not found: {bad}",
        tag="data-missing",
        error_type="application",
        path=_edit(words),
        bad_element=bad,
    )


def _match(parent: _Element, s: _Element, stmt: Stmt | None, kind: Kind) -> _Element | None:
    if kind == "list":
        if stmt is not None and stmt.single:
            return next((c for c in parent if c.tag == s.tag), None)
        key = entry_key(s, stmt)
        return None if key is None else find_entry(parent, str(s.tag), key, stmt)
    if kind == "leaf-list":
        return next((c for c in parent if c.tag == s.tag and c.text == s.text), None)
    return next((c for c in parent if c.tag == s.tag), None)


def _shell(s: _Element, stmt: Stmt | None, kind: Kind) -> _Element:
    """A new, empty node for ``s``: the key of a list entry, the value of a leaf-list."""
    node = etree.Element(str(s.tag))
    if kind == "list":
        etree.SubElement(node, key_tag(stmt)).text = entry_key(s, stmt)
    elif kind == "leaf-list":
        node.text = s.text
    return node


def _only_removes(el: _Element, stmt: Stmt | None, kind: Kind) -> bool:
    """Whether the fragment ``el`` only removes things (Junos ``delete``, NETCONF ``remove``).

    Then a missing ``el`` has nothing in it to remove, and nothing is to be built.
    """
    if el.get("delete") == "delete" or el.get("operation") == "remove":
        return True
    skip = key_tag(stmt) if kind == "list" else None
    children = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag == skip:
            skip = None  # the entry's own key, not content
            continue
        children.append(child)
    if not children:
        return False  # a flag, a leaf or an empty container: content to build
    return all(
        _only_removes(c, sub := _child_stmt(stmt, str(c.tag)), node_kind(c, sub)) for c in children
    )


def _has_edits(el: _Element) -> bool:
    return any(any(a in e.attrib for a in _EDIT_ATTRS) for e in el.iter())


def _rank(tag: object) -> int:
    order = schema.TOP_LEVEL_ORDER
    return order.index(tag) if isinstance(tag, str) and tag in order else len(order)


def _place(parent: _Element, node: _Element, *, top: bool) -> None:
    if top:
        # `show configuration` prints top-level statements in a fixed order.
        rank = _rank(node.tag)
        for c in parent:
            if _rank(c.tag) > rank:
                c.addprevious(node)
                return
        parent.append(node)
        return
    # After the last of its kind: looked for from the end, where it usually is.
    for c in reversed(parent):
        if c.tag == node.tag and c is not node:
            c.addnext(node)
            return
    parent.append(node)


def _insert(
    parent: _Element,
    node: _Element,
    s: _Element,
    stmt: Stmt | None,
    kind: Kind,
    words: list[str],
) -> None:
    where = s.get("insert")
    same = [c for c in parent if c.tag == node.tag and c is not node]
    if where == "first":
        if same:
            same[0].addprevious(node)
        return
    if where == "last":
        if same:
            same[-1].addnext(node)
        return
    if where not in ("before", "after"):
        raise NetsimRpcError(
            f"invalid insert: {where}",
            tag="bad-attribute",
            path=_edit(words),
            bad_element=str(s.tag),
            info={"bad-attribute": "insert"},
        )
    ref = _insert_ref(s)
    for c in same:
        value = c.text if kind == "leaf-list" else entry_key(c, stmt)
        if value == ref:
            if where == "before":
                c.addprevious(node)
            else:
                c.addnext(node)
            return
    raise NetsimRpcError(
        f"statement not found: {s.tag} {ref}",
        tag="data-missing",
        path=_edit(words),
        bad_element=f"{s.tag} {ref}",
    )


def _insert_ref(s: _Element) -> str:
    for attr in _INSERT_REF_ATTRS:
        value = s.get(attr)
        if value is None:
            continue
        if attr == "key":  # yang:key="[ name='x' ]"
            found = _KEY_ATTR.search(value)
            return found.group(2) if found else value.strip("[] ")
        return value
    return ""


# --- subtree filter ------------------------------------------------------------------------


def subtree_filter(config: _Element, filter_el: _Element) -> _Element:
    """RFC 6241 section 6 subtree filtering of ``config``; ``<configuration/>`` if nothing matches.

    ``filter_el`` is the ``<configuration>`` filter or a wrapper (``<filter>``) holding it.
    """
    stripped = strip(filter_el)
    filt = (
        stripped if stripped.tag == "configuration" else next(stripped.iter("configuration"), None)
    )
    if filt is None:
        return etree.Element("configuration")
    out = _filter(config, filt, schema.ROOT, "container")
    return out if out is not None else etree.Element("configuration")


def _elements(el: _Element) -> Iterator[_Element]:
    return (c for c in el if isinstance(c.tag, str))


def _filter(data: _Element, filt: _Element, stmt: Stmt | None, kind: Kind) -> _Element | None:
    nodes = list(_elements(filt))
    if not nodes:
        return copy.deepcopy(data)  # selection node: the whole subtree
    matches = [n for n in nodes if not len(n) and n.text is not None]
    selections = {str(n.tag) for n in nodes if not len(n) and n.text is None}
    containments = [n for n in nodes if len(n)]
    for m in matches:
        if not any(d.tag == m.tag and d.text == m.text for d in _elements(data)):
            return None
    if not selections and not containments:
        return copy.deepcopy(data)

    out = etree.Element(str(data.tag), {str(k): str(v) for k, v in data.attrib.items()})
    key = key_tag(stmt) if kind == "list" else None
    selected = False
    for d in _elements(data):
        tag = str(d.tag)
        if tag in selections:
            out.append(copy.deepcopy(d))
            selected = True
        elif tag == key or any(m.tag == tag and m.text == d.text for m in matches):
            out.append(copy.deepcopy(d))
        else:
            sub = _child_stmt(stmt, tag)
            for c in containments:
                if c.tag != tag:
                    continue
                found = _filter(d, c, sub, node_kind(d, sub))
                if found is not None:
                    out.append(found)
                    selected = True
                    break
    if not selected and not matches and data.tag != "configuration":
        return None
    return out
