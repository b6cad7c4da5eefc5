"""The command line of the contribution flow: ``forge test``, ``forge bot ...``.

``arcoforge.cli`` registers these; each prints a ForgeError as one paragraph and exits 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from arcoforge.errors import ForgeError

bot_app = typer.Typer(
    name="bot",
    help="The GitHub bot: report checks on pull requests, answer commands, create feedstocks.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _fail(error: ForgeError) -> None:
    from arcoforge.cli import fail

    fail(error)


def _bytes(value: str, option: str) -> int:
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(value))
    except ValueError:
        _fail(ForgeError(f"{option}: expected a size such as 2GB. Got {value!r}."))
        raise  # unreachable: _fail exits


def test(
    recipe: Annotated[
        str | None,
        typer.Argument(
            help="A recipe folder, or a git URL of a recipe repository [default: the one "
            "recipe changed since --changed-from]."
        ),
    ] = None,
    prune: Annotated[
        int, typer.Option(help="Run on the first N inputs of each concat dim.", min=1)
    ] = 2,
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit of a git URL [default: its HEAD].")
    ] = None,
    max_bytes: Annotated[str, typer.Option(help="Stop when inputs fetched exceed this.")] = "2GB",
    max_seconds: Annotated[float, typer.Option(help="Stop a run that takes longer.")] = 600.0,
    report_json: Annotated[
        Path | None, typer.Option(help="Write the report as JSON here (what the bot reads).")
    ] = None,
    report_md: Annotated[
        Path | None, typer.Option(help="Write the report as Markdown here.")
    ] = None,
    lint: Annotated[bool, typer.Option(help="Lint the recipe as part of the report.")] = True,
    lint_only: Annotated[bool, typer.Option(help="Only lint; do not run the recipe.")] = False,
    changed_from: Annotated[
        str | None,
        typer.Option(
            help="Git revision a pull request starts from: lint reports files changed outside "
            "recipes/, and without RECIPE the changed recipe is tested."
        ),
    ] = None,
) -> None:
    """Run a recipe on its first inputs into a temporary folder, open and check the result.

    Checks dims, dtypes, increasing time, that no variable is entirely missing, and
    chunk sizes; stops at --max-bytes fetched or --max-seconds. This is what a recipe
    pull request's CI runs. Exit status 1 when a check fails.

    Example: `forge test recipes/noaa-oisst-avhrr-v2.1 --prune 2 --report-md report.md`
    """
    from arcoforge.bot.repos import is_git_url, resolve_recipe
    from arcoforge.bot.testrun import TestLimits, TestReport, run_test
    from arcoforge.cli import err, out
    from arcoforge.errors import RecipeError

    limits = TestLimits(
        prune=prune, max_bytes=_bytes(max_bytes, "--max-bytes"), max_seconds=max_seconds
    )
    if recipe is None and changed_from is None:
        _fail(ForgeError("forge test: expected a RECIPE folder or URL, or --changed-from BASE."))
    try:
        if recipe is None:
            from arcoforge.bot.changed import changed_recipe

            try:
                from arcoforge.lint.rules.changes import repo_root

                root = repo_root(Path.cwd()) or Path.cwd()
                recipe = changed_recipe(root, str(changed_from))
            except RecipeError as e:  # reported like any failing recipe, for the bot to post
                recipe = None
                report = TestReport(recipe="?", path=".", prune=prune, error=str(e))
        if recipe is not None:
            folder = resolve_recipe(recipe, ref=ref)
            # lint's changed-files rule reads this repository's history, not a clone's
            base = None if is_git_url(recipe) else changed_from
            report = run_test(folder, limits, lint=lint, run=not lint_only, changed_from=base)
        if report_json is not None:
            import json

            report_json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        if report_md is not None:
            report_md.write_text(report.to_markdown() + "\n")
    except ForgeError as e:
        _fail(e)
    mark = "[bold green]✓[/]" if report.ok else "[bold red]✗[/]"
    dims = ", ".join(f"{k}={v}" for k, v in report.dims.items())
    out.print(f"{mark} {escape(report.recipe)}: {report.inputs} inputs ({escape(dims)})")
    if report.error:
        err.print(f"  [bold red]error:[/] {escape(report.error)}")
    for check in report.checks:
        icon = "✓" if check.ok else ("✗" if check.level == "error" else "·")
        out.print(f"  {icon} {escape(check.name)}: {escape(check.message)}")
    if report.lint is not None and not report.lint["ok"]:
        err.print(f"  ✗ lint: {len(report.lint['findings'])} findings (see the report)")
    if not report.ok:
        raise typer.Exit(1)


@bot_app.command("report")
def bot_report(
    repo: Annotated[str, typer.Option(help="The repository, OWNER/NAME.")],
    pr: Annotated[int, typer.Option(help="The pull request's number.")],
    report: Annotated[Path, typer.Option(help="A report from `forge test --report-json`.")],
    sha: Annotated[
        str | None, typer.Option(help="The commit the report is for; refused if not the head.")
    ] = None,
    run_url: Annotated[str | None, typer.Option(help="The workflow run to link to.")] = None,
    bot_login: Annotated[
        str, typer.Option(help="The account the token comments as.")
    ] = "github-actions[bot]",
) -> None:
    """Post a test report on its pull request: one comment edited in place, statuses, labels.

    Needs GITHUB_TOKEN with pull-requests, issues and statuses write permission.

    Example: `forge bot report --repo forge-org/staged-recipes --pr 12 --report report.json`
    """
    from arcoforge.bot.github import connect
    from arcoforge.bot.report import post_report, read_report
    from arcoforge.cli import out

    try:
        doc = read_report(report)
        posted = post_report(
            connect(), repo, pr, doc, sha=sha, run_url=run_url, bot_login=bot_login
        )
    except ForgeError as e:
        _fail(e)
    out.print(
        f"{repo}#{pr}: comment {posted.comment_id} {posted.action}; "
        f"forge/lint {posted.lint_state or 'not run'}, forge/test {posted.test_state}"
    )


@bot_app.command("command")
def bot_command(
    repo: Annotated[str, typer.Option(help="The repository, OWNER/NAME.")],
    pr: Annotated[int, typer.Option(help="The pull request commented on.")],
    comment_id: Annotated[int, typer.Option(help="The comment's id.")],
    author: Annotated[str, typer.Option(help="Who wrote the comment.")],
    body_env: Annotated[
        str, typer.Option(help="The environment variable holding the comment's text.")
    ] = "COMMENT_BODY",
    ref: Annotated[str, typer.Option(help="Branch whose recipes-pr.yaml runs.")] = "main",
) -> None:
    """Answer `/forge lint` or `/forge test` in a pull-request comment.

    Commenters with write access get the checks run again (the untrusted workflow is
    dispatched for the pull request's head); others get a polite refusal. The text is
    read from an environment variable, never from the command line of a shell.

    Example: `forge bot command --repo o/r --pr 3 --comment-id 9 --author me` (with
    COMMENT_BODY set to the comment's text)
    """
    from arcoforge.bot.commands import handle_comment
    from arcoforge.bot.github import connect
    from arcoforge.cli import out

    body = os.environ.get(body_env, "")
    try:
        handled = handle_comment(connect(), repo, pr, comment_id, author, body, ref=ref)
    except ForgeError as e:
        _fail(e)
    if handled.command is None:
        out.print("no command in the comment")
    elif handled.dispatched:
        out.print(f"/forge {handled.command}: dispatched recipes-pr.yaml for {repo}#{pr}")
    else:
        out.print(f"/forge {handled.command}: refused ({author} has no write access)")


@bot_app.command("create-feedstock")
def bot_create_feedstock(
    recipe_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Merged recipes' ids.")],
    repo: Annotated[str, typer.Option(help="The staged-recipes repository, OWNER/NAME.")],
    org: Annotated[str, typer.Option(help="The organisation the feedstocks are created in.")],
    checkout: Annotated[
        Path, typer.Option(help="A checkout of the repository's main branch.")
    ] = Path("."),
    output: Annotated[
        str, typer.Option(help="Where the feedstocks' runs write (forge-feedstock.yaml).")
    ] = "forge-output",
    catalog: Annotated[str, typer.Option(help="The catalog root they register in.")] = (
        "forge-output/catalog"
    ),
    arcoforge: Annotated[
        str, typer.Option(help="What the feedstocks' workflow pip-installs.")
    ] = "arcoforge",
    server: Annotated[
        str, typer.Option(help="GitHub's web address, for the feedstocks' URLs.")
    ] = "https://github.com",
) -> None:
    """Create the feedstock repository of each merged recipe, or finish an interrupted run.

    Renders feedstock-template/, creates ORG/ID-feedstock, commits the files through the
    Git Data API, adds the maintainers as collaborators, and opens a pull request adding
    it to feedstocks.yaml and removing recipes/ID/. Needs GITHUB_TOKEN of the bot.

    Example: `forge bot create-feedstock noaa-ersst-v5 --repo org/staged-recipes --org org`
    """
    from arcoforge.bot.feedstock import create_feedstock
    from arcoforge.bot.github import connect
    from arcoforge.cli import out
    from arcoforge.feedstock.render import FeedstockConfig

    config = FeedstockConfig(output=output, catalog=catalog, arcoforge=arcoforge)
    failed = 0
    try:
        gh = connect()
    except ForgeError as e:
        _fail(e)
    for recipe_id in recipe_ids:
        try:
            outcome = create_feedstock(gh, repo, org, recipe_id, checkout, config, server=server)
        except ForgeError as e:  # one bad recipe does not stop the others
            failed += 1
            from arcoforge.cli import err

            err.print(f"[bold red]✗[/] {escape(recipe_id)}: {escape(str(e))}")
            continue
        steps = "; ".join(f"{step} {what}" for step, what in outcome.steps)
        out.print(f"[bold green]✓[/] {escape(outcome.feedstock)}: {escape(steps)}")
    if failed:
        raise typer.Exit(1)


@bot_app.command("index-changes")
def bot_index_changes(
    base: Annotated[str, typer.Option(help="The git revision the pull request starts from.")],
    path: Annotated[Path, typer.Option(help="The index file.")] = Path("feedstocks.yaml"),
) -> None:
    """Print the clone URL of each feedstock the working tree's index adds since BASE.

    Example: `forge bot index-changes --base origin/main`
    """
    import subprocess

    from arcoforge.bot.index import added_entries, clone_url
    from arcoforge.cli import out

    shown = subprocess.run(
        ["git", "show", f"{base}:{path.as_posix()}"], capture_output=True, text=True
    )
    old = shown.stdout if shown.returncode == 0 else None
    try:
        entries = added_entries(old, path.read_text()) if path.exists() else []
    except ForgeError as e:
        _fail(e)
    for entry in entries:
        out.print(clone_url(entry), highlight=False, soft_wrap=True)


def register(
    url: Annotated[str, typer.Argument(help="The recipe repository's git URL.")],
    repo: Annotated[str, typer.Option(help="The platform's repository, OWNER/NAME.")],
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit to check.")] = None,
    prune: Annotated[int, typer.Option(help="Test on the first N inputs.", min=1)] = 2,
    test: Annotated[bool, typer.Option(help="Test-run the recipe, not only lint it.")] = True,
) -> None:
    """Check a recipe repository (lint and a test run) and propose it for feedstocks.yaml.

    Opens a pull request on the platform with your own GITHUB_TOKEN (from a fork when
    you cannot write to the platform's repository). Running it again finds that pull
    request instead of opening another.

    Example: `forge register https://github.com/me/sst-feedstock --repo forge-org/staged-recipes`
    """
    from arcoforge.bot.github import connect
    from arcoforge.bot.register import register as do_register
    from arcoforge.bot.testrun import TestLimits
    from arcoforge.cli import out

    try:
        done = do_register(connect(), repo, url, ref=ref, limits=TestLimits(prune=prune), test=test)
    except ForgeError as e:
        _fail(e)
    verb = "opened" if done.created else "already open:"
    out.print(
        f"[bold green]✓[/] {escape(done.recipe)} ({done.commit[:12]}) passed its checks; "
        f"pull request {verb} {escape(repo)}#{done.pull_request}"
    )
