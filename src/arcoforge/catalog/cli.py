"""``forge catalog``: register, list, show, validate, publish as a web site, retract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from arcoforge.errors import ForgeError

app = typer.Typer(
    name="catalog",
    help="The STAC catalog of datasets: register, browse, validate, publish.\n\n"
    "Example: `forge catalog ls forge-output`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

RootArg = Annotated[
    str, typer.Argument(help="The catalog root: a folder or URL holding catalog.json.")
]
RootOpt = Annotated[
    str, typer.Option("--root", help="The catalog root: a folder or URL holding catalog.json.")
]


def _fail(error: ForgeError) -> None:
    from arcoforge.cli import fail

    fail(error)


@app.command()
def register(
    outputs: Annotated[list[str], typer.Argument(help="Output URLs of one dataset.")],
    root: Annotated[
        str | None, typer.Option(help="Catalog root [default: the folder holding the output].")
    ] = None,
    recipe: Annotated[
        Path | None,
        typer.Option(help="Recipe folder whose meta.yaml describes the dataset."),
    ] = None,
    preview: Annotated[bool, typer.Option(help="Render a preview picture.")] = True,
) -> None:
    """Register existing outputs of `forge run` into a catalog (again: update in place).

    Example: `forge catalog register forge-output/sst.zarr --recipe recipes/sst`
    """
    from arcoforge.catalog.registry import register as do_register
    from arcoforge.cli import out

    try:
        meta = None
        if recipe is not None:
            from arcoforge.recipe import load_recipe

            meta = load_recipe(recipe, run_code=False).meta
        doc = do_register(outputs, root=root, meta=meta, preview=preview)
    except ForgeError as e:
        _fail(e)
        return
    kinds = ", ".join(k for k in doc["assets"] if k != "thumbnail")
    out.print(f"[bold green]✓[/] registered {escape(doc['id'])} ({kinds})")


@app.command("ls")
def list_datasets(
    root: RootArg = "forge-output",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the registered datasets: id, title, dims, size, time range, status.

    Example: `forge catalog ls forge-output`
    """
    from arcoforge.catalog.browse import rows
    from arcoforge.catalog.store import CatalogRoot
    from arcoforge.cli import out

    try:
        found = rows(CatalogRoot(root))
    except ForgeError as e:
        _fail(e)
        return
    if as_json:
        print(json.dumps([r.to_json() for r in found], indent=2))
        return
    noun = "dataset" if len(found) == 1 else "datasets"
    title = f"{len(found)} {noun} in {escape(root)}"
    if out.width < 110:  # a table this wide would wrap every cell: one block per dataset
        out.print(title)
        for r in found:
            style = {"retracted": "red", "superseded": "yellow"}.get(r.status, "green")
            out.print(f"[bold]{escape(r.id)}[/]  [{style}]{r.status}[/]")
            out.print(f"  {escape(r.title)}")
            out.print(f"  {escape(r.dims_text)} · {r.size} · {r.time_range}")
        return
    table = Table(title=title)
    for column in ("id", "title", "dims", "size", "time", "status"):
        # the id, size and dates stay whole; titles and dims wrap
        table.add_column(column, no_wrap=column in ("id", "size", "time"))
    for r in found:
        style = {"retracted": "red", "superseded": "yellow"}.get(r.status, "green")
        table.add_row(
            escape(r.id),
            escape(r.title),
            escape(r.dims_text),
            r.size,
            r.time_range,
            f"[{style}]{r.status}[/]",
        )
    out.print(table)


@app.command()
def show(
    id: Annotated[str, typer.Argument(help="The dataset's id.")],
    root: RootOpt = "forge-output",
    as_json: Annotated[bool, typer.Option("--json", help="Print its STAC Collection.")] = False,
) -> None:
    """Everything about one dataset, and the Python that opens it.

    Example: `forge catalog show noaa-oisst-avhrr-v2.1 --root forge-output`
    """
    from arcoforge.catalog.show import describe
    from arcoforge.catalog.store import CatalogRoot
    from arcoforge.cli import out

    try:
        catalog = CatalogRoot(root)
        collection = catalog.collection(id)
    except ForgeError as e:
        _fail(e)
        return
    if as_json:
        print(json.dumps(collection, indent=2))
        return
    describe(out, catalog, collection)


@app.command()
def validate(
    root: RootArg = "forge-output",
    schemas: Annotated[
        Path | None,
        typer.Option(help="Folder of the extension schemas [default: the schema cache]."),
    ] = None,
) -> None:
    """Validate every object of the catalog against the STAC schemas, extensions included.

    Example: `forge catalog validate forge-output --schemas stac-schemas/`
    """
    from arcoforge.catalog.store import CatalogRoot
    from arcoforge.catalog.validate import schema_name, validate_catalog
    from arcoforge.cli import out

    try:
        checked = validate_catalog(CatalogRoot(root), schemas)
    except ForgeError as e:
        _fail(e)
        return
    for c in checked:
        names = ", ".join(schema_name(s) for s in c.schemas)
        out.print(f"[bold green]✓[/] {escape(c.href)} ({escape(names)})")
    out.print(f"{len(checked)} objects valid")


@app.command()
def html(
    root: RootArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the site into.")] = Path(
        "catalog-site"
    ),
) -> None:
    """Write a static web site of the catalog (works from files, no server needed).

    Example: `forge catalog html forge-output --out site/` then open site/index.html
    """
    from arcoforge.catalog.site import build_site
    from arcoforge.catalog.store import CatalogRoot
    from arcoforge.cli import out

    try:
        pages = build_site(CatalogRoot(root), out_dir)
    except ForgeError as e:
        _fail(e)
        return
    out.print(
        f"[bold green]✓[/] {len(pages)} pages in {escape(str(out_dir))}: "
        f"open {escape(str(pages[0]))}"
    )


@app.command()
def retract(
    id: Annotated[str, typer.Argument(help="The dataset's id.")],
    reason: Annotated[str | None, typer.Option(help="Why it is retracted.")] = None,
    superseded_by: Annotated[
        str | None, typer.Option("--superseded-by", help="The id of the dataset replacing it.")
    ] = None,
    root: RootOpt = "forge-output",
) -> None:
    """Mark a dataset retracted (with a reason) or superseded; it stays listed with its status.

    Example: `forge catalog retract sst-v1 --superseded-by sst-v2 --root forge-output`
    """
    from arcoforge.catalog.registry import retract as do_retract
    from arcoforge.cli import out

    try:
        doc = do_retract(root, id, reason=reason, superseded_by=superseded_by)
    except ForgeError as e:
        _fail(e)
        return
    out.print(f"{escape(id)}: {doc['arcoforge:status']}")
