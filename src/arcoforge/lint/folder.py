"""A recipe folder as lint sees it: its files read and parsed once, no code run."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from arcoforge.errors import RecipeError
from arcoforge.recipe.yamlfile import YamlDoc, read_yaml

META = "meta.yaml"
RECIPE_YAML = "recipe.yaml"
RECIPE_PY = "recipe.py"
#: The files whose presence makes a folder a recipe folder.
RECIPE_FILES = (META, RECIPE_YAML, RECIPE_PY)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A file that exists but cannot be parsed: its name, line and the reason."""

    name: str
    line: int | None
    message: str


@dataclass
class RecipeFolder:
    """The parsed files of one recipe folder; ``shown`` is how its path is printed."""

    path: Path
    shown: str
    meta: YamlDoc | None = None
    spec: YamlDoc | None = None
    code: ast.Module | None = None
    unreadable: list[Unreadable] = field(default_factory=list)

    def show(self, name: str) -> str:
        """How the file ``name`` of this folder is printed in findings."""
        return f"{self.shown}/{name}"

    def has(self, name: str) -> bool:
        """Whether the folder holds a file ``name``."""
        return (self.path / name).is_file()

    @property
    def folder_id(self) -> str:
        """The folder's own name, the recipe's id unless meta.yaml sets one."""
        return self.path.resolve().name


def read_folder(path: Path, shown: str) -> RecipeFolder:
    """Read and parse the recipe files in ``path``; parse failures are kept, not raised."""
    folder = RecipeFolder(path, shown)
    for name in (META, RECIPE_YAML):
        if folder.has(name):
            try:
                doc = read_yaml(path / name)
            except RecipeError as e:
                folder.unreadable.append(_unreadable(name, path / name, str(e)))
                continue
            if name == META:
                folder.meta = doc
            else:
                folder.spec = doc
    if folder.has(RECIPE_PY):
        source = (path / RECIPE_PY).read_bytes()
        try:
            # Parsed only: recipe code is untrusted and lint never runs it.
            folder.code = ast.parse(source, filename=RECIPE_PY)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            line = getattr(e, "lineno", None)
            reason = getattr(e, "msg", None) or str(e) or "nested too deeply to read"
            folder.unreadable.append(
                Unreadable(RECIPE_PY, line, f"not valid Python: {reason}. Fix the syntax.")
            )
    return folder


def _unreadable(name: str, file: Path, message: str) -> Unreadable:
    """Split a read error's ``file:line: `` prefix into a line number."""
    rest = message.removeprefix(f"{file}:")
    head, sep, tail = rest.partition(": ")
    if rest != message and sep and head.isdigit():
        return Unreadable(name, int(head), tail)
    return Unreadable(name, None, message.removeprefix(f"{file}: "))
