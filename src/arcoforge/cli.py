"""``forge``: check recipes, run them, and try the whole path offline with a demo."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from dask.utils import parse_bytes
from rich.console import Console
from rich.markup import escape

from arcoforge.catalog.cli import app as catalog_app
from arcoforge.errors import ForgeError, InternalError, UsageError, origin
from arcoforge.exiting import code_of, exit_now
from arcoforge.lint import cli as lint_cli
from arcoforge.pipeline.runners import RunnerName, default_workers

app = typer.Typer(
    name="forge",
    help="Turn scattered NetCDF archives into analysis-ready, cloud-optimized datasets.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(catalog_app)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
_debug = False


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and library log messages.")
    ] = False,
) -> None:
    global _debug
    _debug = debug
    logging.basicConfig(
        level=logging.INFO if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )


#: set by commands given --json: failures then print one JSON object on stdout
_as_json = False


def fail(error: ForgeError) -> NoReturn:
    """Print a ForgeError as one clear paragraph and exit non-zero (tracebacks with --debug).

    With --json, the error is also printed on stdout as ``{"error": {kind, message, where}}``.
    """
    if _debug:
        err.print_exception()
    if _as_json:
        print(json.dumps({"error": error.to_json()}))
    label = "internal error" if isinstance(error, InternalError) else "error"
    err.print(f"[bold red]{label}:[/] {escape(str(error))}")
    if isinstance(error, InternalError):
        err.print(_BUG)
    raise typer.Exit(error.exit_code)


_BUG = (
    "This is a bug in ARCO Forge, not in your recipe. Run the same command with --debug "
    "for the traceback and report it."
)


@app.command()
def run(
    recipe: Annotated[
        str, typer.Argument(help="The recipe folder, or a recipe repository's git URL.")
    ],
    ref: Annotated[
        str | None, typer.Option(help="Branch, tag or commit of a git URL [default: its HEAD].")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Root folder or URL (s3://bucket/prefix).")
    ] = "forge-output",
    prune: Annotated[
        int | None,
        typer.Option(help="Keep only the first N keys of each concat dim: a quick test run."),
    ] = None,
    runner: Annotated[RunnerName, typer.Option(help="Beam runner.")] = RunnerName.DIRECT,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Workers [default: one per CPU core; a run that only writes references "
            "reads headers in this process]. On the DirectRunner a copy whose inputs are "
            "read by range runs them as threads, any other as processes.",
            min=1,
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a running Dask scheduler (with --runner dask).")
    ] = None,
    max_memory: Annotated[
        str, typer.Option(help="Memory budget of one task on one worker, e.g. 2GB.")
    ] = "2GB",
    cache: Annotated[
        str | None,
        typer.Option(
            help="Fetch every input whole into this cache first, instead of reading netCDF4 "
            "inputs by byte range [default: by range; others cached in ROOT/.forge/cache]."
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace a different dataset already at the output, or one made from "
            "sources that changed since."
        ),
    ] = False,
    update: Annotated[
        bool,
        typer.Option(
            help="Grow the published dataset: append only the inputs new since it was made "
            "(refuses overlaps, going back in time, schema changes)."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of progress and summary.")
    ] = False,
    catalog: Annotated[
        bool, typer.Option(help="Register the result in the STAC catalog at ROOT/catalog.json.")
    ] = True,
    allow_small_chunks: Annotated[
        bool, typer.Option(help="Write a copy's chunks even if they are under 16 KiB.")
    ] = False,
    untrusted: Annotated[
        bool,
        typer.Option(
            help="A recipe from a stranger: public https/ftp/anonymous s3/gs sources only, no "
            "credentials, capped bytes and time (docs/credentials.md)."
        ),
    ] = False,
    project: Annotated[str | None, typer.Option(help="Dataflow: Google Cloud project.")] = None,
    region: Annotated[str | None, typer.Option(help="Dataflow: region of its workers.")] = None,
    temp_location: Annotated[
        str | None, typer.Option(help="Dataflow: gs:// URL for staging and temporary files.")
    ] = None,
    flink_master: Annotated[
        str | None, typer.Option(help="Flink: the cluster's REST address, host:port.")
    ] = None,
    sdk_container_image: Annotated[
        str | None,
        typer.Option(help="Dataflow/Flink: the workers' image, with arcoforge installed."),
    ] = None,
) -> None:
    """Run a recipe: fetch its inputs, write the dataset, publish it, register it.

    A Zarr copy lands at `ROOT/<id>.zarr`; a virtual dataset (references into the
    original files, nothing copied) at `ROOT/<id>.json`, `.parquet` or `.icechunk`.
    A run that fails or is killed leaves no dataset behind and can be run again to
    finish.

    Examples:

        forge run recipes/noaa-oisst-avhrr-v2.1 --prune 2

        forge run my-recipe -o s3://bucket/arco --runner dask --workers 8

        forge run my-recipe -o s3://bucket/arco --update
    """
    from arcoforge.pipeline.remote import RemoteOptions
    from arcoforge.recipe import load_recipe
    from arcoforge.run import RunOptions, run_recipe

    global _as_json
    _as_json = as_json
    try:
        budget = int(parse_bytes(max_memory))
    except ValueError:
        fail(UsageError(f"--max-memory: expected a size such as 2GB. Got {max_memory!r}."))
    if scheduler and runner is not RunnerName.DASK:
        fail(UsageError("--scheduler needs --runner dask."))
    if update and overwrite:
        fail(UsageError("--update appends to the dataset; --overwrite replaces it: choose one."))
    try:
        from arcoforge.bot.repos import resolve_recipe
        from arcoforge.recipe.latest import resolve_latest

        loaded = resolve_latest(load_recipe(resolve_recipe(recipe, ref=ref), sandbox=untrusted))
        options = RunOptions(
            output=output,
            prune=prune,
            runner=runner,
            workers=workers,
            scheduler=scheduler,
            max_memory=budget,
            cache=cache,
            overwrite=overwrite,
            update=update,
            allow_small_chunks=allow_small_chunks,
            untrusted=untrusted,
            remote=RemoteOptions(project, region, temp_location, flink_master, sdk_container_image),
        )
        if untrusted:
            from arcoforge.bot.testrun import run_capped

            result = run_capped(loaded, options)
        elif as_json:
            result = run_recipe(loaded, options)
        else:
            from arcoforge.progress import ProgressDisplay

            n = len(loaded.pattern.prune(prune)) if prune else len(loaded.pattern)
            err.print(f"[bold]{loaded.id}[/]: {n} inputs → {escape(output)}")
            headers_only = loaded.outputs.zarr is None
            with ProgressDisplay(err, headers_only=headers_only) as display:
                result = run_recipe(loaded, options, on_progress=display.update)
        if catalog:
            from arcoforge.catalog import register_run

            register_run(loaded, result, output)
    except ForgeError as e:
        fail(e)
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        from arcoforge.progress import print_summary

        print_summary(out, result)
        if catalog:
            out.print(f"  catalog     {escape(output.rstrip('/'))}/catalog.json ({loaded.id})")


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Where the demo's source files and recipe go.")
    ] = Path("forge-demo"),
    output: Annotated[str, typer.Option("--output", "-o", help="Root of the result.")] = (
        "forge-output"
    ),
    days: Annotated[int, typer.Option(help="Days of data (one file per day).", min=2)] = 92,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = default_workers(),
) -> None:
    """Run the whole path offline: make NetCDF files, serve them over HTTP, run a recipe.

    Example: `forge demo` (then open the result with the line it prints)
    """
    from arcoforge.demo.run import run_demo

    try:
        run_demo(folder, output=output, days=days, workers=workers, console=err, out=out)
    except ForgeError as e:
        fail(e)


app.command(name="lint")(lint_cli.lint)
app.command(name="migrate")(lint_cli.migrate)

from arcoforge.bot import cli as _bot_cli  # noqa: E402 (the contribution flow's commands)
from arcoforge.feedstock import cli as _feedstock_cli  # noqa: E402

app.command()(_bot_cli.test)
app.command()(_bot_cli.register)
app.add_typer(_bot_cli.bot_app)
app.command()(_feedstock_cli.new)
app.command()(_feedstock_cli.rerender)

from arcoforge.plan import cli as _plan_cli  # noqa: E402 (forge plan)

app.command()(_plan_cli.plan)


def main() -> NoReturn:
    """The ``forge`` entry point: :func:`invoke`, then the process ends.

    It ends without the interpreter's teardown (:mod:`arcoforge.exiting`), which
    could abort it after a run that fetched with obstore, and which is slow to collect
    what a run made (bench/README.md, *Measurements behind the design*).
    """
    exit_now(invoke())


def invoke() -> int:
    """Run the command in ``sys.argv`` and return its exit status.

    Usage errors and exits are the command line's own (SystemExit); interruptions
    are said in clear words; anything else reaching here is a bug, reported as one.
    """
    try:
        app()
    except SystemExit as e:
        if e.code == 130:  # Typer ends a Ctrl-C this way, silently
            _interrupted()
        return code_of(e)
    except KeyboardInterrupt:
        _interrupted()
        return 130
    except Exception as e:
        # A bug exits 2 (docs/running.md), with --debug too, which adds the traceback.
        if _debug:
            traceback.print_exc()
        bug = InternalError(f"{type(e).__name__}: {e}", where=origin(e))
        if _as_json:
            print(json.dumps({"error": bug.to_json()}))
        err.print(f"[bold red]internal error:[/] {escape(str(bug))}\n{_BUG}")
        return 2
    return 0


def _interrupted() -> None:
    message = "interrupted: a run can be started again to finish."
    if _as_json:
        print(json.dumps({"error": {"kind": "interrupted", "message": message, "where": None}}))
    err.print(f"[bold red]interrupted[/]: {message.split(': ', 1)[1]}")


if __name__ == "__main__":
    main()
