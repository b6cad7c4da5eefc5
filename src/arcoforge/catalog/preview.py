"""A preview picture of one time step of a dataset with latitude and longitude (matplotlib)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import xarray as xr

from arcoforge.catalog.extents import find_lat_lon, iso, time_coordinate, to_datetime

#: The most values a preview reads: larger grids are strided down to about this many.
#: The picture is 600×320 pixels, so more values than that would not be seen.
MAX_POINTS = 200_000


def preview_variable(ds: xr.Dataset) -> str | None:
    """The data variable a preview shows: the first with latitude and longitude dims."""
    lat, lon = find_lat_lon(ds)
    if lat is None or lon is None:
        return None
    grid = set(ds[lat].dims) | set(ds[lon].dims)
    for name, var in ds.set_coords([lat, lon]).data_vars.items():
        if grid <= set(var.dims) and var.dtype.kind in "fiu":
            return str(name)
    return None


def render_preview(ds: xr.Dataset) -> bytes | None:
    """A PNG of the first time step of the first gridded variable, or None if there is none."""
    name = preview_variable(ds)
    if name is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    lat_name, lon_name = find_lat_lon(ds)
    ds = ds.set_coords([lat_name, lon_name])
    var = ds[name]
    time = time_coordinate(ds)
    grid_dims = set(ds[lat_name].dims) | set(ds[lon_name].dims)
    # one step of every other dimension, and a stride that bounds what is read
    picked = var.isel({d: 0 for d in var.dims if d not in grid_dims})
    stride = max(1, int(np.ceil(np.sqrt(picked.size / MAX_POINTS))))
    picked = picked.isel({d: slice(None, None, stride) for d in picked.dims})
    if ds[lat_name].ndim == 1:
        picked = picked.transpose(lat_name, lon_name)
        wrapped = ((picked[lon_name] + 180.0) % 360.0) - 180.0
        picked = picked.assign_coords({lon_name: wrapped}).sortby(lon_name)
        lon, lat = np.meshgrid(picked[lon_name].values, picked[lat_name].values)
    else:  # curvilinear or rotated-pole: plot on the grid's own 2-D latitude and longitude
        picked = picked.transpose(*ds[lat_name].dims)
        lat = np.asarray(picked[lat_name].values)
        lon = ((np.asarray(picked[lon_name].values) + 180.0) % 360.0) - 180.0
    values = np.ma.masked_invalid(np.asarray(picked.values, dtype="float64"))
    figure = Figure(figsize=(6, 3.2), dpi=100)
    # a fixed layout: fitting one to the labels (tight_layout) took longer than drawing
    figure.subplots_adjust(left=0.12, right=0.9, bottom=0.15, top=0.9)
    axes = figure.add_subplot()
    cells = _even_cells(lon[0], lat[:, 0]) if ds[lat_name].ndim == 1 else None
    if cells is not None:  # an even grid: one pixel block a cell, far faster than a mesh
        mesh: Any = axes.imshow(
            values if cells[3] > cells[2] else values[::-1],
            extent=(cells[0], cells[1], min(cells[2:]), max(cells[2:])),
            origin="lower",
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
        )
    else:
        mesh = axes.pcolormesh(lon, lat, values, shading="auto", cmap="viridis")
    figure.colorbar(mesh, ax=axes, label=str(var.attrs.get("units", "")), fraction=0.06, pad=0.02)
    when = ""
    if time and time in picked.coords:
        when = f" at {str(iso(to_datetime(picked[time].values[()])))[:16].replace('T', ' ')}"
    axes.set_title(f"{var.attrs.get('long_name', name)}{when}", fontsize=9)
    axes.set_xlabel("longitude")
    axes.set_ylabel("latitude")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _even_cells(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float] | None:
    """The outer edges (west, east, first latitude's, last latitude's) of a grid whose
    longitudes and latitudes are each evenly spaced, or None."""
    edges = []
    for axis in (lon, lat):
        if axis.size < 2:
            return None
        steps = np.diff(axis)
        if not np.allclose(steps, steps[0], rtol=1e-3, atol=0) or steps[0] == 0:
            return None
        half = steps[0] / 2
        edges += [float(axis[0] - half), float(axis[-1] + half)]
    return edges[0], edges[1], edges[2], edges[3]
