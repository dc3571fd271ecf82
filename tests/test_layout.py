"""The shape of the package: what lint-imports cannot see.

lint-imports keeps the layers (``[tool.importlinter]`` in ``pyproject.toml``) and counts an
import inside a function as an import; these checks keep the rest of the layout honest:
no import of the package hidden inside a function or behind ``TYPE_CHECKING`` to dodge a
cycle (the CLI's lazy imports, for its start-up time, are the exception), and few
modules loose beside the wings.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import nornir_esi

PACKAGE = Path(nornir_esi.__file__).parent
ROOT = Path(__file__).parent.parent


def _hidden_imports(source: str) -> list[int]:
    """Lines of the imports of ``nornir_esi`` inside a function or a TYPE_CHECKING block."""
    found: list[int] = []

    def visit(node: ast.AST, hidden: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = hidden or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = True
            if isinstance(child, ast.ImportFrom) and child.level == 0:
                names = [child.module or ""]
            elif isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            else:
                names = []
            if inner and any(name.startswith("nornir_esi") for name in names):
                found.append(child.lineno)
            visit(child, inner)

    visit(ast.parse(source), False)
    return found


def test_no_package_import_is_hidden_outside_the_cli() -> None:
    modules = [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).parts[0] != "cli" and "scripts" not in p.parts
    ]
    assert len(modules) > 60  # the walk found the package
    hidden = {
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in modules
        for line in _hidden_imports(path.read_text(encoding="utf-8"))
    }
    assert hidden == set()


def test_the_check_finds_hidden_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from nornir_esi import exceptions\n"
        "if TYPE_CHECKING:\n"
        "    from nornir_esi.pair import change\n"
        "def f():\n"
        "    import nornir_esi.store\n"
        "    from os import path\n"
    )
    assert _hidden_imports(source) == [4, 6]
    assert _hidden_imports((PACKAGE / "cli" / "servers.py").read_text()) != []


def test_at_most_eight_modules_lie_loose_in_the_package() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert "exceptions.py" in loose
    assert len(loose) <= 8, loose


def test_the_layers_contract_names_every_wing() -> None:
    """Each subpackage and loose module is a layer of the contract (its exhaustive option
    refuses an unnamed one too: this says which the contract is)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    assert layers["containers"] == ["nornir_esi"] and layers["exhaustive"] is True
    named = {part.strip() for layer in layers["layers"] for part in layer.split("|")}
    wings = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert named == wings | modules
