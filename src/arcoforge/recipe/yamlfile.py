"""Reading a recipe's YAML files with the line of every field, for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from arcoforge.errors import RecipeError

Loc = tuple[str | int, ...]

#: libyaml's parser when PyYAML has it: much faster on a recipe listing its URLs
#: (bench/README.md); its error messages are vaguer, so errors are parsed again.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The most values a YAML file may hold, an alias counting once per use: a guard
#: against a few lines of anchors and aliases that expand to billions of values.
MAX_NODES = 1_000_000


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML mapping and the line (1-based) where each field path starts."""

    path: Path
    data: dict[str, Any]
    lines: dict[Loc, int]

    def line_of(self, loc: Loc) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


def read_yaml(path: Path) -> YamlDoc:
    """Parse ``path``, which must hold a mapping, keeping the line of every field."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: expected UTF-8 text. Got undecodable bytes ({e}).") from None
    try:
        node, data = _parse(text, _LOADER)
    except yaml.YAMLError as e:
        raise _invalid(path, text, e) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: expected a mapping of fields (key: value). "
            f"Got a {type(data).__name__} instead."
        )
    lines: dict[Loc, int] = {}
    if node is not None:
        _collect_lines(node, (), lines, path, [0])
    return YamlDoc(path, data, lines)


def _parse(text: str, loader: Any) -> tuple[yaml.Node | None, Any]:
    return yaml.compose(text, Loader=loader), yaml.load(text, Loader=loader)


def _invalid(path: Path, text: str, error: yaml.YAMLError) -> RecipeError:
    """The error for text that is not YAML, in the words of PyYAML's own parser."""
    if _LOADER is not yaml.SafeLoader:  # libyaml says less of what is wrong
        try:
            _parse(text, yaml.SafeLoader)
        except yaml.YAMLError as e:
            error = e
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    problem = getattr(error, "problem", None) or str(error)
    return RecipeError(f"{where}: not valid YAML: {problem}.")


def _collect_lines(
    node: yaml.Node, loc: Loc, out: dict[Loc, int], path: Path, seen: list[int]
) -> None:
    """Record the line of every field under ``node``; refuse repeated keys.

    ``seen`` counts the nodes visited so far, aliases included.
    """
    seen[0] += 1
    if seen[0] > MAX_NODES:
        raise RecipeError(
            f"{path}: expected at most {MAX_NODES:,} values, an alias counting once per use. "
            "Found more."
        )
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*loc, key.value)
            if child in out:  # PyYAML would silently keep only the last one
                raise RecipeError(
                    f"{path}:{key.start_mark.line + 1}: {key.value!r} is given twice (first on "
                    f"line {out[child]}); expected each key once."
                )
            out[child] = key.start_mark.line + 1
            _collect_lines(value, child, out, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*loc, i)
            out[child] = item.start_mark.line + 1
            _collect_lines(item, child, out, path, seen)
