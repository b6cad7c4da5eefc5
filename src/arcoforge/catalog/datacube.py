"""The datacube extension's ``cube:dimensions`` and ``cube:variables`` of a dataset.

What the extension has no field for (dtype, chunk shape, size in bytes, long name
beside the description) goes in fields prefixed ``arcoforge:``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from arcoforge.catalog.extents import find_lat_lon, iso, lon_bounds, time_coordinate, time_extent

DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"


def cube_dimensions(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """``cube:dimensions``: each dimension's type, extent, step (and axis for lat/lon)."""
    time_name = time_coordinate(ds)
    lat, lon = find_lat_lon(ds)
    out: dict[str, dict[str, Any]] = {}
    for name, size in ds.sizes.items():
        name = str(name)
        if name == time_name:
            extent = time_extent(ds)
            out[name] = {
                "type": "temporal",
                "extent": [iso(extent.start), iso(extent.end)],
                "step": extent.step,
                "description": f"{size} steps, {extent.calendar} calendar",
            }
        elif name in (lat, lon) and ds[name].ndim == 1:
            out[name] = _horizontal(ds[name], "y" if name == lat else "x")
        else:
            out[name] = _other(ds, name, size)
    return out


def _horizontal(coord: xr.DataArray, axis: str) -> dict[str, Any]:
    values = np.asarray(coord.values, dtype="float64")
    if axis == "x":
        low, high = lon_bounds(values[np.isfinite(values)])
    else:
        low, high = float(values.min()), float(values.max())
    return {
        "type": "spatial",
        "axis": axis,
        "extent": [low, high],
        "step": _regular_step(values),
        "reference_system": 4326,
        "description": f"{values.size} points",
    }


def _other(ds: xr.Dataset, name: str, size: int) -> dict[str, Any]:
    """A dimension that is neither time nor horizontal: its numeric extent, or its count."""
    dim: dict[str, Any] = {"type": "other", "description": f"{size} points"}
    if name in ds.coords and np.issubdtype(ds[name].dtype, np.number) and ds[name].ndim == 1:
        values = np.asarray(ds[name].values, dtype="float64")
        finite = values[np.isfinite(values)]
        dim["extent"] = [float(finite.min()), float(finite.max())] if finite.size else [None, None]
        dim["step"] = _regular_step(values)
        if units := ds[name].attrs.get("units"):
            dim["unit"] = str(units)
    elif name in ds.coords and ds[name].ndim == 1 and ds[name].dtype.kind in "OUS":
        dim["values"] = [str(v) for v in ds[name].values[:1000]]
    else:
        dim["extent"] = [0, size - 1]
        dim["step"] = 1
    return dim


def _regular_step(values: np.ndarray) -> float | None:
    if values.size < 2:
        return None
    steps = np.diff(values)
    return float(steps[0]) if np.allclose(steps, steps[0], rtol=1e-5) else None


def cube_variables(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """``cube:variables``: every variable but the dimension coordinates, with our details."""
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        if name in ds.dims:
            continue
        entry: dict[str, Any] = {
            "dimensions": [str(d) for d in var.dims],
            "type": "data" if name in ds.data_vars else "auxiliary",
            "arcoforge:dtype": str(var.encoding.get("dtype", var.dtype)),
            "arcoforge:shape": [int(n) for n in var.shape],
            "arcoforge:nbytes": int(var.size * var.dtype.itemsize),
        }
        if chunks := _chunks(var):
            entry["arcoforge:chunks"] = chunks
        if units := var.attrs.get("units"):
            entry["unit"] = str(units)
        if long_name := var.attrs.get("long_name"):
            entry["description"] = str(long_name)
            entry["arcoforge:long_name"] = str(long_name)
        out[str(name)] = entry
    return out


def _chunks(var: xr.Variable) -> list[int] | None:
    """The chunk shape the variable is stored with (from the store's encoding)."""
    shape = var.encoding.get("chunks") or var.encoding.get("preferred_chunks")
    if isinstance(shape, dict):
        shape = [shape.get(d, n) for d, n in zip(var.dims, var.shape, strict=True)]
    if shape is None and var.chunks is not None:
        shape = [c[0] for c in var.chunks]
    return [int(n) for n in shape] if shape else None
