"""``forge demo``: the whole path offline, from NetCDF files on an HTTP server to Zarr."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape

from arcoforge.demo.dataset import PACKED_INT16, make_sst, write_files
from arcoforge.demo.server import SourceServer
from arcoforge.progress import ProgressDisplay, print_summary
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, RunResult, run_recipe
from arcoforge.verify import compare, open_sources

DEMO_ID = "demo-sst-daily"
START = "2020-09-01"

META = {
    "id": DEMO_ID,
    "title": "ARCO Forge demo: synthetic daily sea surface temperature",
    "description": (
        "A synthetic daily SST analysis on a 1-degree global grid, laid out like NOAA OISST "
        "v2.1 (one netCDF4 file per day, int16 packed, land masked). Made by `forge demo`."
    ),
    "license": "CC0-1.0",
    "providers": [
        {
            "name": "ARCO Forge",
            "roles": ["producer", "processor", "host"],
            "url": "https://example.org/arcoforge",
        },
    ],
    "maintainers": [{"name": "ARCO Forge demo", "github": "arcoforge-demo"}],
    "tags": ["demo", "sea-surface-temperature"],
}


def run_demo(
    folder: Path,
    *,
    output: str,
    days: int,
    workers: int,
    console: Console,
    out: Console,
) -> RunResult:
    """Write ``days`` daily files, serve them, run a recipe over them and verify the result."""
    source, recipe_dir = folder / "source", folder / "recipe"
    shutil.rmtree(source, ignore_errors=True)
    console.print(f"Writing {days} daily NetCDF files to {escape(str(source))} ...")
    ds = make_sst(start=START, days=days, nlat=180, nlon=360, seed=42)
    files = write_files(
        ds,
        source,
        name="{time:%Y%m}/oisst-avhrr-v02r01.{time:%Y%m%d}.nc",
        encoding={"sst": PACKED_INT16, "anom": PACKED_INT16},
    )
    with SourceServer(source) as server:
        console.print(f"Serving them at {server.url}/ (a local HTTP server, for this demo only)")
        _write_recipe(recipe_dir, server.url, days)
        console.print(f"Running the recipe in {escape(str(recipe_dir))} ...")
        recipe = load_recipe(recipe_dir)
        options = RunOptions(output=output, workers=workers, overwrite=True)
        with ProgressDisplay(console) as display:
            result = run_recipe(recipe, options, on_progress=display.update)
        from arcoforge.catalog import register_run

        register_run(recipe, result, output)
    print_summary(out, result)
    out.print(f"  catalog     {escape(output)}/catalog.json: `forge catalog ls {escape(output)}`")
    import xarray as xr

    assert result.zarr is not None  # the demo recipe writes a copy
    problems = compare(
        xr.open_zarr(result.zarr.url), open_sources([str(f.path) for f in files], "time")
    )
    if problems:
        out.print("[bold red]✗ the result differs from its sources:[/]")
        for p in problems:
            out.print(f"  {escape(p)}")
    else:
        out.print(f"[bold green]✓[/] verified: equal to the {len(files)} source files")
    out.print(
        f"The recipe is in {escape(str(recipe_dir))} (its server only runs during the demo); "
        "`forge run --help` shows how to run your own."
    )
    return result


def _write_recipe(folder: Path, base_url: str, days: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump(META, sort_keys=False))
    import pandas as pd

    end = (pd.Timestamp(START) + pd.Timedelta(days=days - 1)).strftime("%Y-%m-%d")
    spec = {
        "sources": {
            "url": f"{base_url}/{{time:%Y%m}}/oisst-avhrr-v02r01.{{time:%Y%m%d}}.nc",
            "concat": {"time": {"start": START, "end": end, "freq": "D"}},
            "items_per_file": {"time": 1},
        },
        "outputs": {"zarr": {"chunks": {"time": 30}}},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
