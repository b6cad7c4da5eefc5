"""FG005: a recipe's id is its own, not another recipe's or a feedstock's."""

from __future__ import annotations

from collections.abc import Iterator

from arcoforge.lint.folder import META, RecipeFolder
from arcoforge.lint.registry import Finding, define
from arcoforge.lint.rules.context import LintContext

ID_TAKEN = define(
    "FG005",
    "error",
    "The recipe id is already taken",
    """
    Two datasets cannot share an id: it names the output, the catalog entry and the
    feedstock repository. An id is taken when another folder under `recipes/` has it, or
    when `feedstocks.yaml` at the repository's root lists a feedstock with it (a recipe
    that has moved to a repository of its own). Choose another id, for example with the
    version or the product in it (`noaa-oisst-avhrr-v2.1`).
    """,
)


def recipe_id(folder: RecipeFolder) -> str:
    """The id ``folder`` claims: ``id`` from meta.yaml, or the folder's name."""
    given = folder.meta.data.get("id") if folder.meta else None
    return given if isinstance(given, str) else folder.folder_id


def check_id_taken(folder: RecipeFolder, ctx: LintContext) -> Iterator[Finding]:
    """FG005: no other recipe folder or listed feedstock has this folder's id."""
    rid = recipe_id(folder)
    line = folder.meta.line_of(("id",)) if folder.meta else None
    where = folder.show(META) if line else folder.shown
    others = [p for p in ctx.recipe_ids.get(rid, []) if p != folder.shown]
    if others:
        yield ID_TAKEN.finding(
            where,
            f"id {rid!r} is also the id of {', '.join(others)}. Give each recipe its own id "
            f"(`id:` in {META}, or the folder's name).",
            line,
        )
    if rid in ctx.feedstock_ids:
        yield ID_TAKEN.finding(
            where,
            f"id {rid!r} belongs to the feedstock {ctx.feedstock_ids[rid]} listed in "
            f"{ctx.feedstocks_file}. Choose another id, or contribute to that feedstock.",
            line,
        )
