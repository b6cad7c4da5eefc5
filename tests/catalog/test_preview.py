"""The preview picture: the first time step, the right way up, on even and uneven grids."""

from __future__ import annotations

import io

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from arcoforge.catalog.preview import render_preview


def _grid(lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """Two time steps; the first grows with latitude (north bright), the second is flat."""
    first = np.broadcast_to(lat[:, None], (lat.size, lon.size)).astype("float32")
    values = np.stack([first, np.zeros_like(first)])
    return xr.Dataset(
        {"t": (("time", "lat", "lon"), values, {"units": "K", "long_name": "warmth"})},
        coords={
            "time": np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]"),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )


def _brightness(png: bytes, y: float) -> float:
    """Mean brightness of the plot's row at height ``y`` (0 top, 1 bottom), mid-width."""
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    height, width = picture.shape
    row = int(0.15 * height + y * 0.7 * height)  # inside the axes (top 0.1, bottom 0.15)
    return float(picture[row, int(0.3 * width) : int(0.6 * width)].mean())


@pytest.mark.parametrize(
    "lat",
    [
        np.linspace(-89.5, 89.5, 180),  # south to north
        np.linspace(89.5, -89.5, 180),  # north to south, as many archives store it
        np.array([-80.0, -60, -30, -10, 0, 10, 30, 60, 80]),  # uneven: drawn as a mesh
    ],
    ids=["south-up", "north-first", "uneven"],
)
def test_north_is_up_and_bright_values_show_bright(lat: np.ndarray) -> None:
    png = render_preview(_grid(lat, np.arange(0.5, 360, 1.0)))
    assert png is not None and png[:4] == b"\x89PNG"
    assert Image.open(io.BytesIO(png)).size == (600, 320)
    # viridis runs from dark purple (low) to bright yellow (high): north is the top
    assert _brightness(png, 0.1) > _brightness(png, 0.9) + 60


def test_longitudes_past_180_are_drawn_west() -> None:
    lon = np.arange(0.5, 360, 1.0)
    ds = _grid(np.linspace(-89.5, 89.5, 180), lon)
    ds["t"][0] = np.broadcast_to((((lon + 180) % 360) - 180)[None, :], (180, 360))
    png = render_preview(ds)
    assert png is not None
    picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    height, width = picture.shape
    row = picture[height // 2]
    assert row[int(0.8 * width)] > row[int(0.15 * width)] + 60  # east (bright) on the right
