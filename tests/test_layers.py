"""The package's layers go one way: no module imports from a layer above its own.

Imports are read from the source files (ast), nothing is imported; imports made inside
functions or under ``TYPE_CHECKING`` count too, since they tie the layers all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: The layers, lowest first, each with the modules (and packages) it holds. A module may
#: import from its own layer and the layers below. The longest matching name decides;
#: ``arcoforge`` names the package's ``__init__`` alone, so a new module must be placed.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "arcoforge.errors",
            "arcoforge.redact",
            "arcoforge.exiting",
            "arcoforge.location",
            "arcoforge.conditional",
            "arcoforge.lease",
            "arcoforge.verify",
            "arcoforge.startup",
        ),
    ),
    ("recipe", ("arcoforge.recipe",)),
    ("sources", ("arcoforge.sources",)),
    ("plan", ("arcoforge.plan",)),
    ("targets", ("arcoforge.targets",)),
    ("pipeline", ("arcoforge.pipeline",)),
    ("run", ("arcoforge.run", "arcoforge.running", "arcoforge.progress")),
    (
        "apps",
        (
            "arcoforge",
            "arcoforge.open",
            "arcoforge.cli",
            "arcoforge.command",
            "arcoforge.plan.cli",
            "arcoforge.catalog",
            "arcoforge.lint",
            "arcoforge.feedstock",
            "arcoforge.bot",
            "arcoforge.demo",
        ),
    ),
)


def layer_of(module: str) -> int | None:
    """The index in LAYERS of ``module``'s layer (its longest matching name), or None."""
    best: tuple[int, int] | None = None  # (length of the matching name, layer)
    for rank, (_, names) in enumerate(LAYERS):
        for name in names:
            within = name != "arcoforge" and module.startswith(name + ".")
            if (module == name or within) and (best is None or len(name) > best[0]):
                best = (len(name), rank)
    return None if best is None else best[1]


def modules(src: Path) -> dict[str, Path]:
    """Every module under ``src/arcoforge`` by its dotted name."""
    found = {}
    for path in sorted((src / "arcoforge").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """The project modules ``name`` imports, with the line of each import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append((node.lineno, sub if sub in known else base))
    ours = {(line, m) for line, m in out if m == "arcoforge" or m.startswith("arcoforge.")}
    return sorted(ours)


def violations(src: Path) -> list[str]:
    """Every import of a higher layer, and every module in no layer, as one line each."""
    found = modules(src)
    known = set(found)
    out = []
    for name, path in found.items():
        own = layer_of(name)
        if own is None:
            out.append(f"{name}: in no layer of LAYERS; add it to one")
            continue
        for line, imported in imports_of(name, path, known):
            other = layer_of(imported)
            if other is not None and other > own:
                out.append(
                    f"{path.relative_to(src)}:{line}: {name} ({LAYERS[own][0]}) imports "
                    f"{imported} ({LAYERS[other][0]})"
                )
    return out


def test_no_module_imports_from_a_higher_layer() -> None:
    assert violations(SRC) == []


def test_every_layer_holds_existing_modules() -> None:
    known = set(modules(SRC))
    missing = [n for _, names in LAYERS for n in names if n not in known]
    assert missing == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "arcoforge" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("code", "found"),
    [
        ("from arcoforge.plan.tasks import cut", "arcoforge.plan.tasks (plan)"),
        ("from arcoforge.plan import tasks", "arcoforge.plan.tasks (plan)"),
        ("import arcoforge.pipeline", "arcoforge.pipeline (pipeline)"),
        ("from ..plan import tasks", "arcoforge.plan.tasks (plan)"),
        ("def f():\n    from arcoforge.cli import app", "arcoforge.cli (apps)"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from arcoforge import run",
            "arcoforge.run (run)",
        ),
    ],
)
def test_an_upward_import_is_found_however_written(tmp_path: Path, code: str, found: str) -> None:
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "cli.py": "",
            "run.py": "",
            "pipeline/__init__.py": "",
            "plan/__init__.py": "",
            "plan/tasks.py": "from arcoforge.sources.reader import read\n",
            "sources/__init__.py": "",
            "sources/reader.py": code + "\n",
        },
    )
    assert [v.split(": ", 1)[1] for v in violations(src)] == [
        f"arcoforge.sources.reader (sources) imports {found}"
    ]


def test_a_module_in_no_layer_is_named(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"__init__.py": "", "misc.py": "import arcoforge.errors\n"})
    assert violations(src) == ["arcoforge.misc: in no layer of LAYERS; add it to one"]
