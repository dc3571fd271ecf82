"""``keys.py`` is the only module that spells an etcd key (STYLE: one keys module)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nornir_esi

PACKAGE = Path(nornir_esi.__file__).parent
# The contract's key spaces and ours under /esi-worker/: a literal naming one of them
# anywhere but keys.py is a key spelled twice.
KEY_LITERAL = re.compile(
    r"/(?:esi-worker|jobs|job_manager_id)\b|/(?:config|state|monitoring)/v2\.0"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose, not keys)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def key_literals(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every string constant in ``source`` that spells a key prefix."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and KEY_LITERAL.search(node.value)
    ]


def test_no_module_but_keys_spells_a_key_prefix() -> None:
    modules = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "contract" / "keys.py")
    assert len(modules) > 30  # the walk found the package
    found = {
        f"{path.relative_to(PACKAGE)}:{line}": text
        for path in modules
        for line, text in key_literals(path.read_text(encoding="utf-8"))
    }
    assert found == {}


def test_keys_itself_is_seen_by_the_check() -> None:
    """The check finds what it looks for: keys.py's own prefixes, f-string parts too."""
    spelled = {text for _, text in key_literals((PACKAGE / "contract" / "keys.py").read_text())}
    assert {"/config/v2.0/", "/esi-worker/netbox/v2.0/", "/jobs/", "/job_manager_id"} <= spelled
    assert key_literals('"""/state/v2.0/ in a docstring"""\nf"/esi-worker/x/{a}"\n') == [
        (2, "/esi-worker/x/")
    ]
    assert key_literals('"/state changed"\n"/config changed, apply again"\n') == []
