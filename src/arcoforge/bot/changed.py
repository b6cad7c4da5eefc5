"""Which recipe a pull request brings: one folder under ``recipes/``, or one new feedstock.

``forge test --changed-from BASE`` (with no recipe named) asks git, so a pull request
that changes several recipes, or none, gets a report that says so rather than no report.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from arcoforge.bot.index import INDEX_FILE, added_entries, clone_url
from arcoforge.errors import ForgeError, RecipeError


def changed_recipe(repo: Path, base: str) -> str:
    """The recipe folder (or a recipe repository's URL) the changes since ``base`` bring."""
    from arcoforge.lint.rules.changes import changed_files

    try:
        changed = changed_files(repo, base)
    except ForgeError as e:
        raise RecipeError(str(e)) from None
    folders = sorted(
        {n.split("/")[1] for n in changed if n.startswith("recipes/") and n.count("/") >= 2}
    )
    present = [f for f in folders if (repo / "recipes" / f).is_dir()]
    if len(present) == 1:
        return str(repo / "recipes" / present[0])
    if len(present) > 1:
        raise RecipeError(
            f"expected one recipe folder changed under recipes/. Found {len(present)}: "
            f"{', '.join(present)}. Open one pull request per recipe."
        )
    if INDEX_FILE in changed and (repo / INDEX_FILE).is_file():
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{base}:{INDEX_FILE}"],
            capture_output=True,
            text=True,
            check=False,
        )
        old = shown.stdout if shown.returncode == 0 else None
        added = added_entries(old, (repo / INDEX_FILE).read_text())
        if len(added) == 1:
            return clone_url(added[0])
        if len(added) > 1:
            raise RecipeError(
                f"{INDEX_FILE}: expected one new feedstock per pull request. Found "
                f"{len(added)}: {', '.join(e.id for e in added)}."
            )
    raise RecipeError(
        f"expected a recipe folder under recipes/ or a new entry in {INDEX_FILE} among the "
        f"changes since {base}. Found neither: add recipes/<id>/ with meta.yaml and recipe.yaml."
    )
