"""``forge catalog show``: one dataset described on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from arcoforge.catalog.browse import asset_urls, row, snippets
from arcoforge.catalog.store import CatalogRoot


def describe(console: Console, root: CatalogRoot, collection: dict[str, Any]) -> None:
    """Print everything about one Collection, and the Python that opens it."""
    r = row(collection)
    e = escape
    console.print(f"[bold]{e(r.id)}[/]: {e(r.title)}")
    status = r.status
    if status == "retracted":
        status += f" ({collection.get('arcoforge:retracted_reason')})"
    elif status == "superseded":
        status += f" by {collection.get('arcoforge:superseded_by')}"
    bbox = collection["extent"]["spatial"]["bbox"][0]
    known = collection.get("arcoforge:spatial_extent_known", True)
    prov = collection.get("arcoforge:provenance", {})
    fields = [
        ("description", collection.get("description", "")),
        ("status", status),
        ("license", collection.get("license", "")),
        ("providers", ", ".join(p["name"] for p in collection.get("providers", []))),
        ("keywords", ", ".join(collection.get("keywords", []))),
        ("time", f"{r.time_range} ({collection.get('arcoforge:calendar', '-')} calendar)"),
        ("bbox", ", ".join(f"{x:g}" for x in bbox) + ("" if known else " (unknown: whole globe)")),
        ("size", r.size),
        ("recipe hash", prov.get("recipe_hash")),
        ("inputs", f"{prov.get('inputs')} ({_bytes(prov.get('input_bytes'))})"),
        ("run", f"{prov.get('run_seconds')} s" if prov.get("run_seconds") else "-"),
        ("made with", ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items())),
        ("created", collection.get("arcoforge:created")),
        ("updated", collection.get("arcoforge:updated")),
    ]
    if citation := collection.get("arcoforge:citation"):
        fields.append(("citation", citation))
    for label, value in fields:
        console.print(f"  [bold]{label:>12}[/] {e(str(value))}")
    dims = Table(title="dimensions", title_justify="left")
    for column in ("name", "type", "size", "extent", "step"):
        dims.add_column(column)
    for name, d in collection.get("cube:dimensions", {}).items():
        extent = d.get("extent", [f"{len(d.get('values', []))} values"])
        dims.add_row(
            e(name),
            d["type"],
            str(r.dims.get(name, "")),
            e(" – ".join(map(str, extent))),
            e(str(d.get("step") if d.get("step") is not None else "")),
        )
    console.print(dims)
    variables = Table(title="variables", title_justify="left")
    for column in ("name", "long name", "units", "dims", "dtype", "chunks"):
        variables.add_column(column, overflow="fold")
    for name, v in collection.get("cube:variables", {}).items():
        variables.add_row(
            e(name),
            e(str(v.get("description", ""))),
            e(str(v.get("unit", ""))),
            e(", ".join(v["dimensions"])),
            e(str(v.get("arcoforge:dtype", ""))),
            e(" × ".join(map(str, v.get("arcoforge:chunks", [])))),
        )
    console.print(variables)
    urls = asset_urls(root, collection)
    console.print("[bold]assets[/]")
    for key, asset in collection.get("assets", {}).items():
        console.print(f"  {e(key)}: {e(urls[key])} [dim]{e(asset.get('type', ''))}[/]")
    console.print("[bold]open it[/]")
    console.print(e(snippets(root.url, r.id, collection, urls)), highlight=False)


def _bytes(n: int | None) -> str:
    if n is None:
        return "size not recorded"
    from dask.utils import format_bytes

    return format_bytes(n)
