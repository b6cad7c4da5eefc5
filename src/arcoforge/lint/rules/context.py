"""What rules know beyond one folder: the ids in use and where each is claimed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from arcoforge.lint.folder import RecipeFolder
from arcoforge.lint.registry import Finding


@dataclass
class LintContext:
    """Ids claimed by recipe folders (id to their printed paths) and by feedstocks."""

    recipe_ids: dict[str, list[str]] = field(default_factory=dict)
    feedstock_ids: dict[str, str] = field(default_factory=dict)
    feedstocks_file: str = "feedstocks.yaml"


#: A check over one recipe folder.
FolderCheck = Callable[[RecipeFolder, LintContext], Iterator[Finding]]
