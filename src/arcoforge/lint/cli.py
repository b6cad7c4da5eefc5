"""The ``forge lint`` and ``forge migrate`` commands, registered by ``arcoforge.cli``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from arcoforge.errors import ForgeError


class OutputFormat(StrEnum):
    """How ``forge lint`` prints its findings."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


def lint(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Recipe folders, folders holding recipe folders (e.g. recipes/), or git URLs "
            "of recipe repositories."
        ),
    ] = None,
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit of git URLs [default: HEAD].")
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="text, json, or markdown (the PR comment).")
    ] = OutputFormat.TEXT,
    changed_from: Annotated[
        str | None,
        typer.Option(
            "--changed-from",
            metavar="BASE",
            help="Lint only the recipes changed since the git revision BASE, and report "
            "changed files outside recipes/.",
        ),
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option(help="The repository's root [default: found with git from the paths]."),
    ] = None,
    rules_doc: Annotated[
        bool,
        typer.Option("--rules-doc", help="Print docs/lints.md, made from the rules, and exit."),
    ] = False,
) -> None:
    """Check recipe folders without running their code; exit 1 on errors (hints never fail).

    Every recipe folder under each PATH is checked; each finding has a stable code
    (FG001...) documented in docs/lints.md.

    Example: `forge lint recipes/ --changed-from origin/main --format markdown`
    """
    from arcoforge.cli import fail
    from arcoforge.lint import lint_paths, render
    from arcoforge.lint.docs import rules_markdown

    if rules_doc:
        sys.stdout.write(rules_markdown())
        return
    if not paths:
        fail(ForgeError("forge lint: expected at least one PATH (e.g. recipes/). Got none."))
    try:
        from arcoforge.bot.repos import is_git_url, resolve_recipe

        folders = [resolve_recipe(p, ref=ref) if is_git_url(p) else Path(p) for p in paths]
        report = lint_paths(folders, changed_from=changed_from, repo=repo)
    except ForgeError as e:
        fail(e)
    sys.stdout.write(render(report, fmt.value))
    if not report.ok:
        raise typer.Exit(1)


def migrate(
    folder: Annotated[Path, typer.Argument(help="A legacy Pangeo Forge recipe folder.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the draft [default: ./ID, the recipe's id]."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a meta.yaml or recipe.yaml already in the output.")
    ] = False,
) -> None:
    """Draft an ARCO Forge meta.yaml and recipe.yaml from a legacy Pangeo Forge recipe.

    Nothing in the folder is run or changed: recipe.py is only read. What could not be
    translated is listed here and at the top of the drafted recipe.yaml.

    Example: `forge migrate old/noaa-oisst --out recipes/noaa-oisst-avhrr-only`
    """
    from arcoforge.cli import fail
    from arcoforge.lint.migrate import migrate_folder

    try:
        result = migrate_folder(folder, out, overwrite=overwrite)
    except ForgeError as e:
        fail(e)
    for path in result.written:
        sys.stdout.write(f"wrote {path}\n")
    for note in result.untranslated:
        sys.stdout.write(f"not translated: {note}\n")
    target = result.written[0].parent
    finish = "Finish the draft by hand, then check" if result.untranslated else "Check"
    sys.stdout.write(f"{finish} it with `forge lint {target}`.\n")
