"""The ``forge plan`` command, registered by ``arcoforge.cli``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from dask.utils import format_bytes
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from arcoforge.errors import ForgeError, UsageError


def plan(
    recipe: Annotated[
        str, typer.Argument(help="The recipe folder, or a recipe repository's git URL.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    max_memory: Annotated[
        str, typer.Option(help="Memory budget of one task on one worker, as for forge run.")
    ] = "2GB",
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes of the run [default: one per CPU core].", min=1),
    ] = None,
    bandwidth: Annotated[
        str | None,
        typer.Option(help="Bandwidth from the sources to the workers, e.g. 100MB (per second)."),
    ] = None,
    price_per_gb_egress: Annotated[
        float | None, typer.Option(help="Price of reading 1 GB from the sources.", min=0)
    ] = None,
    price_per_worker_hour: Annotated[
        float | None, typer.Option(help="Price of one worker for one hour.", min=0)
    ] = None,
    price_per_gb_month: Annotated[
        float | None, typer.Option(help="Price of storing 1 GB of output for a month.", min=0)
    ] = None,
) -> None:
    """Plan a run without fetching data: inputs, schema, chunks, tasks, memory, time, cost.

    Reads at most 32 inputs' headers and asks at most 256 others' sizes; what is
    extrapolated from them is marked, and the assumptions are printed.

    Example: `forge plan recipes/noaa-oisst-avhrr-v2.1 --price-per-gb-egress 0.09`
    """
    from dask.utils import parse_bytes

    import arcoforge.cli as cli
    from arcoforge.bot.repos import resolve_recipe
    from arcoforge.plan.costs import Prices
    from arcoforge.plan.estimate import PlanOptions, estimate
    from arcoforge.recipe import load_recipe

    cli._as_json = as_json
    try:
        budget = _bytes(max_memory, "--max-memory", parse_bytes)
        rate = _bytes(bandwidth, "--bandwidth", parse_bytes) if bandwidth else None
        loaded = load_recipe(resolve_recipe(recipe))
        options = PlanOptions(
            max_memory=budget,
            workers=workers,
            bandwidth=rate,
            prices=Prices(price_per_gb_egress, price_per_worker_hour, price_per_gb_month),
        )
        found = estimate(loaded, options)
    except ForgeError as e:
        cli.fail(e)
    if as_json:
        print(json.dumps(found.to_json()))
        return
    print_plan(cli.out, found.to_json())


def _bytes(text: str, option: str, parse: Any) -> int:
    try:
        return int(parse(text))
    except (ValueError, TypeError):
        raise UsageError(f"{option}: expected a size such as 2GB. Got {text!r}.") from None


def print_plan(out: Console, plan: dict[str, Any]) -> None:
    """The plan as a person reads it: a few short tables, extrapolated numbers marked '~'."""
    marked = set(plan["extrapolated"])
    inputs = plan["inputs"]
    about = "~" if inputs["estimated"] else ""
    out.print(
        f"[bold]{escape(plan['recipe'])}[/]: {inputs['count']:,} inputs, "
        f"{about}{format_bytes(inputs['bytes'])} ({inputs['headers_read']} headers read, "
        f"{inputs['sizes_known']} sizes known; planned in {plan['plan_seconds']:.1f} s)"
    )
    schema = plan["schema"]
    dims = ", ".join(f"{d}: {n:,}" for d, n in schema["dims"].items())
    out.print(f"  dims        {'~' if 'schema.dims' in marked else ''}{dims}")
    for name, c in schema["coords"].items():
        out.print(f"  {escape(name):<11} {escape(c['first'])} … {escape(c['last'])}")
    zarr = plan["outputs"].get("zarr")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("variable", "dims", "dtype", "chunks", "chunk", "objects", "bytes"):
        table.add_column(column, justify="right" if column in ("objects", "bytes") else "left")
    for name, v in schema["variables"].items():
        z = zarr["variables"][name] if zarr else None
        table.add_row(
            escape(name),
            ", ".join(v["dims"]),
            v["dtype"],
            "×".join(map(str, z["chunks"])) if z else "",
            format_bytes(z["chunk_bytes"]) if z else "",
            f"{z['objects']:,}" if z else "",
            format_bytes(z["bytes"]) if z else "",
        )
    out.print(table)
    if zarr:
        out.print(
            f"  zarr        {zarr['objects']:,} objects, {format_bytes(zarr['bytes'])} "
            f"uncompressed; {zarr['tasks']:,} tasks, up to {format_bytes(zarr['memory_per_task'])} "
            f"each (budget {format_bytes(zarr['max_memory'])})"
        )
    refs = plan["outputs"].get("references")
    if refs:
        out.print(f"  references  {refs['format']}, about {format_bytes(refs['bytes'])}")
    e = plan["estimates"]
    out.print(
        f"  time here   ~{_duration(e['seconds'])} with {e['workers']} worker(s)"
        + (" (bound by --bandwidth)" if e["network_bound"] else "")
    )
    out.print(
        f"  cloud       ~{format_bytes(e['bytes_read'])} read, ~{format_bytes(e['bytes_written'])} "
        f"written, ~{e['worker_hours']:.3g} worker-hours"
    )
    if e["cost"]:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:,.2f}" for k, v in e["cost"].items())
        out.print(f"  cost        {parts}")
    else:
        out.print("  cost        give prices (--price-per-gb-egress, ...) to see one")
    out.print("[dim]~ extrapolated or modelled. Assumptions:[/]")
    for a in plan["assumptions"]:
        out.print(f"[dim]  - {escape(a)}[/]")
    for w in plan["warnings"]:
        out.print(f"[yellow]warning:[/] {escape(w)}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
