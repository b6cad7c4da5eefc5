"""Shared helpers for the tests: recipe folders on disk and runs of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import yaml

from arcoforge.demo.dataset import make_sst
from arcoforge.recipe import load_recipe
from arcoforge.run import RunOptions, RunResult, run_recipe

META: dict[str, Any] = {
    "title": "Synthetic daily SST",
    "description": "Test data made by arcoforge.demo.dataset.",
    "license": "CC0-1.0",
    "providers": [{"name": "ARCO Forge tests", "roles": ["producer", "host"]}],
    "maintainers": [{"name": "Test Person", "github": "test-person"}],
}


def write_recipe(
    folder: Path,
    spec: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    recipe_py: str | None = None,
) -> Path:
    """Write a recipe folder: meta.yaml, and recipe.yaml and/or recipe.py."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.yaml").write_text(yaml.safe_dump(meta if meta is not None else META))
    if spec is not None:
        (folder / "recipe.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    if recipe_py is not None:
        (folder / "recipe.py").write_text(recipe_py)
    return folder


def run_folder(folder: Path, output: Path, **options: Any) -> RunResult:
    """Load and run a recipe folder in-process (one worker unless told otherwise)."""
    options.setdefault("workers", 1)
    # The tests' synthetic grids are small on purpose (e.g. 36 x 72 int16 per step); the
    # tests of the chunk-size check pass allow_small_chunks=False.
    options.setdefault("allow_small_chunks", True)
    return run_recipe(load_recipe(folder), RunOptions(output=str(output), **options))


def trap_dataset(days: int = 4, calendar: str = "standard") -> xr.Dataset:
    """A dataset with the traps real archives have, for readers to get right.

    Packed int16 with a negative scale factor, an _Unsigned byte, a time-bounds
    variable on a dimension without a coordinate, a 2-D non-index coordinate, a
    scalar variable, array- and string-valued attributes.
    """
    ds = make_sst(days=days, nlat=6, nlon=8, calendar=calendar)
    ds["sst"].encoding.update(
        {
            "dtype": "int16",
            "scale_factor": np.float32(-0.01),
            "add_offset": np.float32(10.0),
            "_FillValue": np.int16(-32767),
        }
    )
    ds["quality"] = (
        ("time", "lat", "lon"),
        (np.arange(ds.sst.size) % 250).reshape(ds.sst.shape).astype("uint8"),
        {"flag_meanings": "good bad"},
    )
    ds["quality"].encoding.update({"dtype": "int8", "_Unsigned": "true"})
    bounds = np.stack([ds.time.values, ds.time.values], axis=1)
    ds["time_bnds"] = (("time", "nv"), bounds)
    ds.time.attrs["bounds"] = "time_bnds"
    ds.coords["land"] = (("lat", "lon"), np.isnan(ds.sst.values[0]).astype("int8"))
    ds["crs"] = ((), np.int32(0), {"grid_mapping_name": "latitude_longitude"})
    ds["anom"].attrs["valid_range"] = np.array([-5.0, 5.0], dtype="float32")
    ds.attrs["history"] = "made for tests"
    return ds


def h5_files_passed_to(monkeypatch: Any, owner: Any, name: str) -> list[str]:
    """Record the file name of every h5py file ``owner.name`` is called with, from now on."""
    seen: list[str] = []
    real = getattr(owner, name)

    def counted(f: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(f.filename))
        return real(f, *args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return seen
