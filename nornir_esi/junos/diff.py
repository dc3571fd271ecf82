"""``show | compare``: the text difference between two configuration trees.

Changes are grouped under ``[edit <path>]`` headers; each added or removed statement is
printed whole with ``+``/``-`` in front of every line. For user-ordered lists (firewall
and policy terms, prefix-lists) a new entry is shown next to an existing neighbour,
printed as ``term all-accept { ... }``, so the reader sees where it went.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from nornir_esi.junos.schema import ROOT, Stmt
from nornir_esi.junos.text import (
    Out,
    entry_name,
    key_of,
    out_lines,
    schema_of,
    statement,
)

__all__ = ["diff_text"]

Element = etree._Element
_Ident = tuple[str, ...]


@dataclass
class _Child:
    elem: Element
    stmt: Stmt
    ident: _Ident
    anon: bool  # printed without its keyword: `ae0 { ... }`, a group's name


@dataclass
class _Block:
    path: list[str]
    tag: str
    lines: list[str] = field(default_factory=list)


def _children(parent: Element, stmt: Stmt) -> list[_Child]:
    skip = key_of(parent, stmt)
    out: list[_Child] = []
    for elem in parent:
        if elem is skip or not isinstance(elem.tag, str):
            continue
        sub = schema_of(stmt, parent, elem)
        tag = elem.tag
        if sub.kind == "list" and sub.single:
            # At most one entry (`filter input NAME`): another name is a changed value.
            ident: _Ident = (tag,)
        elif sub.kind == "list":
            key = key_of(elem, sub)
            ident = (tag, key.text or "" if key is not None else "")
        elif sub.kind == "leaf-list":
            ident = (tag, elem.text or "")
        else:
            ident = (tag,)
        anon = stmt.anon == tag or (stmt is ROOT and tag == "groups")
        out.append(_Child(elem, sub, ident, anon))
    return out


def _lcs(a: list[_Ident], b: list[_Ident]) -> set[_Ident]:
    """The entries of ``a`` and ``b`` that keep their relative order."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
            )
    keep: set[_Ident] = set()
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            keep.add(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] > table[i][j + 1]:  # on a tie the later entry is the moved one
            i += 1
        else:
            j += 1
    return keep


def _moved(old: list[_Child], new: list[_Child]) -> set[_Ident]:
    """Entries of ordered lists that changed place: shown as removed and added again."""
    moved: set[_Ident] = set()
    for tag in {c.elem.tag for c in new if c.stmt.ordered}:
        new_ids = [c.ident for c in new if c.elem.tag == tag]
        old_ids = [c.ident for c in old if c.elem.tag == tag]
        common = set(new_ids) & set(old_ids)
        new_common = [i for i in new_ids if i in common]
        moved |= common - _lcs([i for i in old_ids if i in common], new_common)
    return moved


def _pairs(old: list[_Child], new: list[_Child]) -> list[tuple[_Child | None, _Child | None]]:
    """Old and new children side by side, in the order of ``new``; removed ones where they were."""
    moved = _moved(old, new)
    old_at = {c.ident: n for n, c in enumerate(old) if c.ident not in moved}
    kept = {c.ident for c in new if c.ident in old_at}
    out: list[tuple[_Child | None, _Child | None]] = []
    pos = 0

    def removed_until(stop: int) -> None:
        nonlocal pos
        while pos < stop:
            if old[pos].ident not in kept:
                out.append((old[pos], None))
            pos += 1

    for c in new:
        if c.ident in kept:
            removed_until(old_at[c.ident] + 1)
            out.append((old[old_at[c.ident]], c))
        else:
            # removals right here come first, as in `- old` `+ new`
            while pos < len(old) and old[pos].ident not in kept:
                out.append((old[pos], None))
                pos += 1
            out.append((None, c))
    removed_until(len(old))
    return out


def _outs(c: _Child) -> list[Out]:
    return statement(c.elem, c.stmt, anon=c.anon)


def _elided(c: _Child) -> str:
    outs = _outs(c)
    return "    " + "\n    ".join(f"{o.head} {{ ... }}" if o.body else f"{o.head};" for o in outs)


class _Differ:
    def __init__(self) -> None:
        self.blocks: list[_Block] = []

    def emit(self, path: list[str], tag: str, lines: list[str]) -> None:
        last = self.blocks[-1] if self.blocks else None
        if last is None or last.path != path or last.tag != tag:
            last = _Block(path, tag)
            self.blocks.append(last)
        if (
            lines
            and last.lines
            and lines[0] == last.lines[-1]
            and not lines[0].startswith(("+", "-"))
        ):
            lines = lines[1:]  # two new entries share the neighbour shown after them
        last.lines += lines

    def signed(self, sign: str, c: _Child, prefix: list[str]) -> list[str]:
        outs = _outs(c)
        for word in reversed(prefix):
            outs = [Out(f"{word} {o.head}", o.body, o.inactive) for o in outs]
        return [f"{sign}   {line}" for line in out_lines(outs)]

    def context(self, c: _Child, new: list[_Child], existing: set[_Ident]) -> tuple[str, str]:
        """The neighbours to print (before, after) for an added entry of an ordered list."""
        if not c.stmt.ordered:
            return "", ""
        siblings = [s for s in new if s.elem.tag == c.elem.tag]
        n = siblings.index(c)
        if n + 1 < len(siblings) and siblings[n + 1].ident in existing:
            return "", _elided(siblings[n + 1])
        if n > 0 and siblings[n - 1].ident in existing:
            return _elided(siblings[n - 1]), ""
        return "", ""

    def walk(
        self, old: Element, new: Element, stmt: Stmt, path: list[str], prefix: list[str]
    ) -> None:
        """Compare the children of ``old`` and ``new``; ``prefix``: flattened keywords above."""
        old_children, new_children = _children(old, stmt), _children(new, stmt)
        pairs = _pairs(old_children, new_children)
        existing = {n.ident for o, n in pairs if o is not None and n is not None}
        for o, n in pairs:
            c = n or o
            assert c is not None
            tag = str(c.elem.tag)
            here = [*path, "groups"] if stmt is ROOT and tag == "groups" else path
            if o is None or n is None:
                self.changed(here, tag, o, n, prefix, new_children, existing)
            elif (
                o.stmt.kind != n.stmt.kind
                or (o.elem.get("inactive") is None) != (n.elem.get("inactive") is None)
                or _positional(o) != _positional(n)
            ):
                self.changed(here, tag, o, None, prefix, new_children, existing)
                self.changed(here, tag, None, n, prefix, new_children, existing)
            elif n.stmt.kind == "leaf" or (n.stmt.single and _key(o) != _key(n)):
                if n.stmt.single or (o.elem.text or "") != (n.elem.text or ""):
                    self.emit(here, tag, self.signed("-", o, prefix) + self.signed("+", n, prefix))
            elif n.stmt.kind in ("list", "container"):
                if n.stmt.flatten:
                    self.walk(o.elem, n.elem, n.stmt, path, [*prefix, tag])
                    continue
                words = [*path, *prefix]
                if n.stmt.kind == "container":
                    words.append(tag)
                else:
                    key = entry_name(_key(n))
                    words += [key] if stmt.anon == tag else [tag, key]
                self.walk(o.elem, n.elem, n.stmt, words, [])

    def changed(
        self,
        path: list[str],
        tag: str,
        old: _Child | None,
        new: _Child | None,
        prefix: list[str],
        siblings: list[_Child],
        existing: set[_Ident],
    ) -> None:
        if old is not None:
            self.emit(path, tag, self.signed("-", old, prefix))
        if new is not None:
            before, after = self.context(new, siblings, existing)
            lines = self.signed("+", new, prefix)
            self.emit(path, tag, ([before] if before else []) + lines + ([after] if after else []))


def _key(c: _Child) -> str:
    key = key_of(c.elem, c.stmt)
    return "" if key is None else key.text or ""


def _positional(c: _Child) -> str | None:
    if c.stmt.kind != "container" or c.stmt.positional is None:
        return None
    value = c.elem.find(c.stmt.positional)
    return None if value is None else value.text or ""


def diff_text(old: etree._Element, new: etree._Element) -> str:
    """``show | compare`` of ``new`` against ``old``; "" when they are equal."""
    differ = _Differ()
    differ.walk(old, new, ROOT, [], [])
    parts = []
    for block in differ.blocks:
        header = f"[edit {' '.join(block.path)}]" if block.path else "[edit]"
        parts.append("\n".join([header, *block.lines]))
    return "\n\n".join(parts) + "\n" if parts else ""
