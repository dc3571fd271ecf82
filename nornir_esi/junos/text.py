"""Junos curly-brace text and ``set`` commands to and from the XML configuration tree.

Both syntaxes are a sequence of words that walk the schema (:mod:`.schema`); the same
walk (:func:`_walk`) turns ``unit 1025 { ... }`` and ``set interfaces ae0 unit 1025`` into
elements, so the two stay consistent. Rendering follows ``show configuration`` and
``show configuration | display set``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from nornir_esi.exceptions import ConfigSyntaxError
from nornir_esi.junos.schema import ROOT, Stmt, child, infer

__all__ = [
    "brace_problem",
    "entry_name",
    "parse_set",
    "parse_text",
    "quote",
    "render_set",
    "render_text",
]

Element = etree._Element

_PUNCT = frozenset(";{}[]")
_NEEDS_QUOTES = re.compile(r"[\s;{}\[\]#\"']")
# Text prefixes Junos puts before a statement, and the XML attribute each stands for.
_PREFIXES = {"inactive:": "inactive", "replace:": "replace", "delete:": "delete"}
_VERBS = ("set", "delete", "insert", "activate", "deactivate")
_LEAF_LIST = Stmt("leaf-list", known=False)


# --- tokens -----------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # "word" or one of ; { } [ ]
    text: str
    line: int


# One match per token rather than one loop turn per character: a load of a thousand set
# commands is tokenized whole. Whitespace; a newline; a `#` comment; the start of a block
# comment or of a quoted string (finished below); punctuation; a word.
_TOKEN = re.compile(r'[^\S\n]+|(\n)|(#[^\n]*)|(/\*)|([;{}\[\]])|(")|([^\s;{}\[\]"]+)')
_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"', re.S)
_ESCAPED = re.compile(r"\\(.)", re.S)


# What only the full tokenizer reads: a quote, a comment, punctuation, a line break.
_NOT_PLAIN = re.compile(r'["#;{}\[\]\n]|/\*')


def _tokenize(text: str, first_line: int = 1) -> list[_Tok]:
    if not _NOT_PLAIN.search(text):
        # Words and blanks only (most set commands): the words are the tokens.
        return [_Tok("word", word, first_line) for word in text.split()]
    toks: list[_Tok] = []
    i, n, line = 0, len(text), first_line
    while i < n:
        m = _TOKEN.match(text, i)
        assert m is not None  # every character starts one of the alternatives
        newline, _comment, block, punct, quote_, word = m.groups()
        if newline is not None:
            line += 1
        elif block is not None:
            end = text.find("*/", i + 2)
            if end < 0:
                raise ConfigSyntaxError("unterminated comment", line=line)
            line += text.count("\n", i, end)
            i = end + 2
            continue
        elif punct is not None:
            toks.append(_Tok(punct, punct, line))
        elif quote_ is not None:
            quoted = _QUOTED.match(text, i)
            if quoted is None:
                raise ConfigSyntaxError("unterminated quoted string", line=line)
            body = quoted.group(1)
            toks.append(_Tok("word", _ESCAPED.sub(r"\1", body), line))
            line += body.count("\n")
            i = quoted.end()
            continue
        elif word is not None:
            toks.append(_Tok("word", word, line))
        i = m.end()
    return toks


def brace_problem(text: str) -> str | None:
    """What keeps the braces of curly ``text`` from balancing; None when they balance.

    ``text`` is read as the parser reads it: strings and comments are skipped.
    """
    try:
        toks = _tokenize(text)
    except ConfigSyntaxError as exc:
        return (
            "has an unterminated comment"
            if "comment" in exc.message
            else ("has an unterminated string")
        )
    depth = 0
    for tok in toks:
        if tok.kind == "{":
            depth += 1
        elif tok.kind == "}":
            depth -= 1
            if depth < 0:
                return "closes a brace it did not open"
    return "leaves a brace open" if depth else None


def quote(value: str) -> str:
    """A value as Junos prints it: quoted when it would not read back as one word."""
    if value and value[0] != "<" and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entry_name(value: str) -> str:
    """A list entry's name as ``show configuration`` prints it.

    A wildcard name (``<*>``, ``<ge-*>``) is printed bare, where ``display set`` quotes it.
    """
    if value.startswith("<") and value.endswith(">") and not _NEEDS_QUOTES.search(value):
        return value
    return quote(value)


def _edit(path: list[str]) -> str:
    return f"[edit {' '.join(path)}]" if path else "[edit]"


# Keywords that are no XML name, and the element Junos' XML uses for them.
_TAG_OF = {"802.3ad": "ieee-802.3ad"}
_KEYWORD_OF = {tag: word for word, tag in _TAG_OF.items()}
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _tag(word: str) -> str:
    """The XML element name of a statement keyword."""
    return _TAG_OF.get(word, word)


def _keyword(tag: str) -> str:
    """The statement keyword of an XML element name."""
    return _KEYWORD_OF.get(tag, tag)


# --- the schema walk shared by both syntaxes ------------------------------------------------


def _find(parent: Element, tag: str, key_tag: str | None = None, key: str | None = None) -> Element:
    """The child ``tag`` (the list entry with that key), created at the end when missing."""
    for c in parent:
        if c.tag != tag:
            continue
        if key_tag is None:
            return c
        if len(c) and c[0].tag == key_tag and c[0].text == key:
            return c
    new = etree.SubElement(parent, tag)
    if key_tag is not None:
        etree.SubElement(new, key_tag).text = key
    return new


@dataclass
class _Walk:
    """Where a walk ended: at ``elem`` of schema ``stmt``.

    ``pending`` names a list of ``elem`` whose key was not given: its entries follow in a block.
    """

    elem: Element
    stmt: Stmt
    pending: str | None = None


def _infer(rest: list[_Tok], values: list[str] | None, has_block: bool, text_mode: bool) -> Stmt:
    if values is not None and not rest:
        return _LEAF_LIST
    if text_mode:  # `kw v { }` list, `kw { }` container, `kw a b;` leaf "a b", `kw;` flag
        return infer(has_children=has_block, has_value=bool(rest))
    # set: `set kw` flag, `set kw v` leaf, `set kw a b ...` descends into container kw
    if len(rest) > 1:
        return infer(has_children=True, has_value=False)
    return infer(has_children=False, has_value=bool(rest))


def _walk(
    elem: Element,
    stmt: Stmt,
    words: list[_Tok],
    values: list[str] | None,
    path: list[str],
    *,
    has_block: bool,
    text_mode: bool,
    need_value: bool,
    what: str,
) -> _Walk:
    """Create the elements ``words`` name below ``elem``; ``path`` grows as words are used."""

    def fail(message: str, tok: _Tok) -> ConfigSyntaxError:
        return ConfigSyntaxError(f"{what}: {message}", line=tok.line, path=_edit(path))

    i = 0
    while i < len(words):
        tok = words[i]
        word = tok.text
        tag = _tag(word)
        sub = child(stmt, tag)
        if sub is None and stmt.positional is not None:  # `autonomous-system 65101`
            _find(elem, stmt.positional).text = word
            path.append(quote(word))
            i += 1
            continue
        if sub is None and stmt.anon is not None:  # `interfaces { ae0 {...} }`
            entries = stmt.children[stmt.anon]
            elem, stmt = _find(elem, stmt.anon, entries.key, word), entries
            path.append(quote(word))
            i += 1
            continue
        rest = words[i + 1 :]
        if sub is None:
            sub = _infer(rest, values, has_block, text_mode)
        if not _XML_NAME.match(tag):
            raise fail(f"'{word}' is not a statement name", tok)
        if sub.kind == "container":
            elem, stmt = _find(elem, tag), sub
            path.append(word)
            i += 1
            continue
        if sub.kind == "list":
            if not rest:
                if values is not None:
                    raise fail(f"'{word}' needs a name, not a [ ] list", tok)
                return _Walk(elem, stmt, pending=word)
            elem, stmt = _find(elem, tag, sub.key, rest[0].text), sub
            path += [word, quote(rest[0].text)]
            i += 2
            continue
        if has_block:
            raise fail(f"'{word}' does not take a block", tok)
        if sub.kind == "flag":
            if rest or values is not None:
                raise fail(f"'{word}' takes no value", rest[0] if rest else tok)
            return _Walk(_find(elem, tag), sub)
        if sub.kind == "leaf":
            if values is not None:
                raise fail(f"'{word}' takes one value, not a [ ] list", tok)
            if not rest and need_value:
                raise fail(f"'{word}' needs a value", tok)
            leaf = _find(elem, tag)
            leaf.text = " ".join(t.text for t in rest) if rest else None
            return _Walk(leaf, sub)
        # leaf-list: one value, several words or `[ a b ]`; each value is one element
        vals = values if values is not None else [t.text for t in rest]
        if not vals and need_value:
            raise fail(f"'{word}' needs a value", tok)
        last = etree.SubElement(elem, tag)
        for n, value in enumerate(vals):
            if n:
                last = etree.SubElement(elem, tag)
            last.text = value
        return _Walk(last, sub)
    return _Walk(elem, stmt)


# --- curly text -----------------------------------------------------------------------------


@dataclass
class _Src:
    """One statement as written: words, an optional ``[ ]`` list and an optional block."""

    words: list[_Tok]
    values: list[str] | None
    block: list[_Src] | None
    attrs: dict[str, str]


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def block(self, open_tok: _Tok | None) -> list[_Src]:
        out: list[_Src] = []
        while True:
            tok = self.peek()
            if tok is None:
                if open_tok is not None:
                    raise ConfigSyntaxError("missing '}' for this '{'", line=open_tok.line)
                return out
            if tok.kind == "}":
                if open_tok is None:
                    raise ConfigSyntaxError("unexpected '}'", line=tok.line)
                self.i += 1
                return out
            out.append(self.statement())

    def statement(self) -> _Src:
        attrs: dict[str, str] = {}
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text in _PREFIXES:
            attrs[_PREFIXES[tok.text]] = _PREFIXES[tok.text]
            self.i += 1
        words: list[_Tok] = []
        # A statement sits on one line; a word on the next line means a `;` is missing.
        while (tok := self.peek()) is not None and tok.kind == "word":
            if words and tok.line != words[0].line:
                raise ConfigSyntaxError(
                    f"missing ';' after '{words[-1].text}'", line=words[-1].line
                )
            words.append(tok)
            self.i += 1
        if not words:
            raise ConfigSyntaxError(
                f"unexpected '{tok.text}'" if tok else "unexpected end of text",
                line=tok.line if tok else None,
            )
        if tok is None or tok.kind in "}]":
            raise ConfigSyntaxError(f"missing ';' after '{words[-1].text}'", line=words[-1].line)
        self.i += 1
        if tok.kind == ";":
            return _Src(words, None, None, attrs)
        if tok.kind == "{":
            return _Src(words, None, self.block(tok), attrs)
        values: list[str] = []  # tok is `[`
        while (v := self.peek()) is not None and v.kind == "word":
            values.append(v.text)
            self.i += 1
        if v is None or v.kind != "]":
            raise ConfigSyntaxError("missing ']'", line=tok.line)
        self.i += 1
        end = self.peek()
        if end is None or end.kind != ";":
            raise ConfigSyntaxError("missing ';' after ']'", line=v.line)
        self.i += 1
        return _Src(words, values, None, attrs)


def _build(elem: Element, stmt: Stmt, srcs: list[_Src], path: list[str]) -> None:
    for src in srcs:
        here = list(path)
        where = _walk(
            elem,
            stmt,
            src.words,
            src.values,
            here,
            has_block=src.block is not None,
            text_mode=True,
            need_value=True,
            what=f"'{' '.join(t.text for t in src.words)}'",
        )
        if where.pending is not None:
            if src.block is None:
                raise ConfigSyntaxError(
                    f"'{where.pending}' needs a name", line=src.words[-1].line, path=_edit(here)
                )
            # `destination-prefix-list { a; b; }` and `groups { G { ... } }`: each statement
            # of the block is an entry, as if written `destination-prefix-list a;`.
            kw = _Tok("word", where.pending, src.words[-1].line)
            entries = [
                _Src([kw, *sub.words], sub.values, sub.block, sub.attrs) for sub in src.block
            ]
            _build(where.elem, where.stmt, entries, here)
            continue
        for name, value in src.attrs.items():
            where.elem.set(name, value)
        if src.block is not None:
            _build(where.elem, where.stmt, src.block, here)


def parse_text(text: str) -> Element:
    """Curly-brace Junos text (``show configuration``) to a ``<configuration>`` tree."""
    srcs = _Parser(_tokenize(text)).block(None)
    if len(srcs) == 1 and [t.text for t in srcs[0].words] == ["configuration"]:
        srcs = srcs[0].block or []
    config = etree.Element("configuration")
    _build(config, ROOT, srcs, [])
    return config


# --- rendering ------------------------------------------------------------------------------


def schema_of(stmt: Stmt, parent: Element, elem: Element) -> Stmt:
    """The schema of ``elem`` under ``parent``; unknown statements by their shape."""
    known = child(stmt, str(elem.tag))
    if known is not None:
        return known
    has_value = bool((elem.text or "").strip())
    if has_value and not len(elem) and sum(1 for c in parent if c.tag == elem.tag) > 1:
        return _LEAF_LIST
    return infer(
        has_children=len(elem) > 0,
        has_value=has_value,
        has_name_child=len(elem) > 0 and elem[0].tag == "name",
    )


def is_grouped(stmt: Stmt, tag: str, sub: Stmt) -> bool:
    """Whether entries of list ``tag`` print inside one ``tag { ... }`` block."""
    return sub.grouped or (stmt is ROOT and tag == "groups")


def key_of(elem: Element, stmt: Stmt) -> Element | None:
    """The key element of a list entry, which is its first child."""
    if stmt.kind == "list" and len(elem) and elem[0].tag == stmt.key:
        return elem[0]
    return None


@dataclass
class Out:
    """A statement to print: ``head;`` when ``body`` is None, else ``head { body }``."""

    head: str
    body: list[Out] | None
    inactive: bool = False


def statement(elem: Element, sub: Stmt, *, anon: bool = False) -> list[Out]:
    """``elem`` (of schema ``sub``) as statements; flattened containers give several."""
    inactive = elem.get("inactive") is not None
    tag = _keyword(str(elem.tag))
    if sub.kind == "flag":
        return [Out(tag, None, inactive)]
    if sub.kind in ("leaf", "leaf-list"):
        return [Out(f"{tag} {quote(elem.text or '')}", None, inactive)]
    if sub.kind == "list":
        key = key_of(elem, sub)
        name = entry_name(key.text or "") if key is not None else ""
        body = _outs(elem, sub, skip=key)
        head = name if anon else f"{tag} {name}".strip()
        if sub.oneliner and _one_line(body):  # `route 0.0.0.0/0 next-hop 192.0.2.1;`
            return [Out(f"{head} {body[0].head}", None, inactive)]
        return [Out(head, body or None, inactive)]
    value = elem.find(sub.positional) if sub.positional else None
    if value is not None:
        tag = f"{tag} {quote(value.text or '')}"
    body = _outs(elem, sub, skip=value)
    if sub.flatten:  # `family inet { ... }`: the container is a prefix of each child
        if not body:
            return [Out(tag, None, inactive)]
        return [Out(f"{tag} {o.head}", o.body, o.inactive or inactive) for o in body]
    if sub.oneliner and _one_line(body):
        return [Out(f"{tag} {body[0].head}", None, inactive)]
    return [Out(tag, body or None, inactive)]


def _one_line(body: list[Out]) -> bool:
    """Whether a oneliner's ``body`` is a single active statement without a block."""
    return len(body) == 1 and body[0].body is None and not body[0].inactive


def _outs(parent: Element, stmt: Stmt, skip: Element | None = None) -> list[Out]:
    outs: list[Out] = []
    seen: set[str] = set()  # tags printed as one group (leaf-lists, grouped lists)
    for elem in parent:
        if elem is skip or not isinstance(elem.tag, str):
            continue
        tag = elem.tag
        sub = schema_of(stmt, parent, elem)
        grouped = sub.kind == "list" and is_grouped(stmt, tag, sub)
        if sub.kind == "leaf-list" or grouped:
            if tag in seen:
                continue
            seen.add(tag)
            group = [c for c in parent if c.tag == tag]
            inactive = any(c.get("inactive") is not None for c in group)
            if grouped:
                body = [o for c in group for o in statement(c, sub, anon=True)]
                outs.append(Out(tag, body, inactive))
            elif len(group) == 1:
                outs.extend(statement(elem, sub))
            else:
                values = " ".join(quote(c.text or "") for c in group)
                outs.append(Out(f"{tag} [ {values} ]", None, inactive))
            continue
        outs.extend(statement(elem, sub, anon=stmt.anon == tag))
    return outs


def out_lines(outs: list[Out], indent: int = 0) -> list[str]:
    """Statements as text lines, four spaces per level."""
    lines: list[str] = []
    pad = "    " * indent
    for o in outs:
        head = pad + ("inactive: " if o.inactive else "") + o.head
        if o.body is None:
            lines.append(head + ";")
        else:
            lines.append(head + " {")
            lines += out_lines(o.body, indent + 1)
            lines.append(pad + "}")
    return lines


def render_text(config: Element) -> str:
    """``show configuration``: curly text, four-space indent; "" for an empty configuration."""
    lines = out_lines(_outs(config, ROOT))
    return "\n".join(lines) + "\n" if lines else ""


# --- set commands ---------------------------------------------------------------------------


def _set_lines(
    parent: Element, stmt: Stmt, path: list[str], sets: list[str], deact: list[str]
) -> None:
    key = key_of(parent, stmt)
    for elem in parent:
        if elem is key or not isinstance(elem.tag, str):
            continue
        tag = elem.tag
        word = _keyword(tag)
        sub = schema_of(stmt, parent, elem)
        if sub.kind == "list":
            key_elem = key_of(elem, sub)
            name = quote(key_elem.text or "" if key_elem is not None else "")
            here = path + ([name] if stmt.anon == tag else [word, name])
            leaf = len(elem) == (key_elem is not None)
        elif sub.kind in ("leaf", "leaf-list"):
            words = (
                [quote(elem.text or "")]
                if stmt.positional == tag
                else [word, quote(elem.text or "")]
            )
            here, leaf = path + words, True
        else:
            here, leaf = [*path, word], sub.kind == "flag" or not len(elem)
        if leaf:
            sets.append("set " + " ".join(here))
        else:
            _set_lines(elem, sub, here, sets, deact)
        if elem.get("inactive") is not None:
            # a leaf-list value is deactivated by naming it; a leaf by its keyword alone
            deact.append("deactivate " + " ".join(here if sub.kind != "leaf" else here[:-1]))


def render_set(config: Element) -> str:
    """``show configuration | display set``: one ``set`` line per leaf, flag or empty node."""
    sets: list[str] = []
    deact: list[str] = []
    _set_lines(config, ROOT, [], sets, deact)
    lines = sets + deact
    return "\n".join(lines) + "\n" if lines else ""


def _set_command(toks: list[_Tok], raw: str, line: int) -> Element:
    verb = toks[0].text
    what = f"'{raw.strip()}'"

    def fail(message: str) -> ConfigSyntaxError:
        return ConfigSyntaxError(f"{what}: {message}", line=line)

    if toks[0].kind != "word" or verb not in _VERBS:
        raise fail(f"unknown command '{verb}'")
    words: list[_Tok] = []
    values: list[str] | None = None
    rest = toks[1:]
    for n, tok in enumerate(rest):
        if tok.kind == "word":
            words.append(tok)
            continue
        if tok.kind != "[" or values is not None or rest[-1].kind != "]":
            raise fail(f"unexpected '{tok.text}'")
        values = [t.text for t in rest[n + 1 : -1]]
        if any(t.kind != "word" for t in rest[n + 1 : -1]):
            raise fail("only values may appear inside [ ]")
        break
    ref: tuple[str, str | None, str] | None = None  # (before|after, keyword, name)
    if verb == "insert":
        if len(words) >= 4 and words[-3].text in ("before", "after"):
            ref = (words[-3].text, words[-2].text, words[-1].text)
            words = words[:-3]
        elif len(words) >= 3 and words[-2].text in ("before", "after"):
            ref = (words[-2].text, None, words[-1].text)
            words = words[:-2]
        else:
            raise fail("insert needs 'before' or 'after' and the entry it refers to")
    if not words:
        raise fail(f"'{verb}' needs a statement path")
    config = etree.Element("configuration")
    path: list[str] = []
    where = _walk(
        config,
        ROOT,
        words,
        values,
        path,
        has_block=False,
        text_mode=False,
        need_value=verb == "set",
        what=what,
    )
    if where.pending is not None:
        raise ConfigSyntaxError(
            f"{what}: '{where.pending}' needs a name", line=line, path=_edit(path)
        )
    elem = where.elem
    if verb == "delete":
        elem.set("delete", "delete")
    elif verb == "activate":
        elem.set("active", "active")
    elif verb == "deactivate":
        elem.set("inactive", "inactive")
    elif ref is not None:
        position, keyword, name = ref
        if where.stmt.kind not in ("list", "leaf-list") or elem is config:
            raise fail("insert works on list entries only")
        if keyword is not None and keyword != elem.tag:
            raise fail(f"'{keyword}' is not a sibling of '{elem.tag}'")
        elem.set("insert", position)
        elem.set(where.stmt.key if where.stmt.kind == "list" else "name", name)
    return config


def parse_set(text: str) -> list[Element]:
    """``set``/``delete``/``insert``/``(de)activate`` lines, one ``<configuration>`` each."""
    fragments: list[Element] = []
    for line, raw in enumerate(text.splitlines(), 1):
        toks = _tokenize(raw, line)
        if toks:
            fragments.append(_set_command(toks, raw, line))
    return fragments
