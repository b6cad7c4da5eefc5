"""``arcoforge``'s public names: what ``dir(arcoforge)`` shows, ``__all__`` and the lazy ones."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import arcoforge

INIT = Path(arcoforge.__file__)


def _imported(nodes: list[ast.stmt]) -> set[str]:
    """The names bound by ``from arcoforge... import`` statements among ``nodes``."""
    return {
        alias.asname or alias.name
        for node in nodes
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("arcoforge")
        for alias in node.names
    }


def _type_checking_block(tree: ast.Module) -> list[ast.stmt]:
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            return node.body
    return []


def test_every_name_the_package_offers_is_public() -> None:
    tree = ast.parse(INIT.read_text())
    eager = _imported(tree.body)
    lazy = set(arcoforge._LAZY)
    assert eager | lazy == set(arcoforge.__all__)
    # type checkers see the lazy names where they are defined
    assert _imported(_type_checking_block(tree)) == lazy


def test_dir_shows_the_public_names_without_loading_them() -> None:
    code = (
        "import sys, arcoforge; names = dir(arcoforge); "
        "print(','.join(names)); print('arcoforge.run' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    names, loaded = done.stdout.split()
    assert set(names.split(",")) == set(arcoforge.__all__)
    assert {"run_recipe", "open_dataset", "load_recipe", "RunOptions", "ForgeError"} <= set(
        names.split(",")
    )
    assert loaded == "False"


def test_each_lazy_name_is_the_object_its_module_defines() -> None:
    for name, module in arcoforge._LAZY.items():
        assert getattr(arcoforge, name) is getattr(importlib.import_module(module), name), name
