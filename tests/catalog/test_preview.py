"""The preview picture: the first time step, the right way up, on any kind of grid."""

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


def _rotated(angle: float = 5.0) -> xr.Dataset:
    """A curvilinear grid: a lat/lon grid turned by ``angle`` degrees, values growing northward."""
    x, y = np.meshgrid(np.linspace(-20, 40, 61), np.linspace(30, 70, 41))
    turn = np.deg2rad(angle)
    lon = 10 + (x - 10) * np.cos(turn) - (y - 50) * np.sin(turn)
    lat = 50 + (x - 10) * np.sin(turn) + (y - 50) * np.cos(turn)
    return xr.Dataset(
        {"tas": (("y", "x"), lat.astype("float32"), {"units": "K"})},
        coords={
            "lat": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )


def _picture(png: bytes | None) -> np.ndarray:
    """The PNG's grey levels, after checking it is a 600×320 PNG."""
    assert png is not None and png[:4] == b"\x89PNG"
    image = Image.open(io.BytesIO(png))
    assert image.size == (600, 320)
    return np.asarray(image.convert("L"), dtype=float)


def _colorbar(picture: np.ndarray) -> np.ndarray:
    """The grey levels down the middle of the colorbar, top first."""
    height, width = picture.shape
    # the bar stands at 0.873-0.9 of the width, between the map (to 0.85) and its labels
    return picture[int(0.15 * height) : int(0.8 * height), int(0.888 * width)]


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
        np.array([-80.0, -60, -30, -10, 0, 10, 30, 60, 80]),  # uneven: each pixel its nearest cell
    ],
    ids=["south-up", "north-first", "uneven"],
)
def test_north_is_up_and_bright_values_show_bright(lat: np.ndarray) -> None:
    png = render_preview(_grid(lat, np.arange(0.5, 360, 1.0)))
    assert png is not None and png[:4] == b"\x89PNG"
    assert Image.open(io.BytesIO(png)).size == (600, 320)
    # the colours run from dark blue (low) to pale yellow (high): north is the top
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


def test_a_curvilinear_grid_is_drawn_north_up_and_bright_where_values_are_high() -> None:
    png = render_preview(_rotated())
    assert png is not None and _picture(png).shape == (320, 600)
    assert _brightness(png, 0.1) > _brightness(png, 0.9) + 60


@pytest.mark.parametrize("fill", [273.0, np.nan], ids=["constant", "all-nan"])
def test_a_flat_or_empty_field_still_gives_a_picture(fill: float) -> None:
    ds = _grid(np.linspace(-89.5, 89.5, 180), np.arange(0.5, 360, 1.0))
    ds["t"][:] = fill
    _picture(render_preview(ds))


def test_the_picture_has_a_title_and_a_colorbar_bright_at_the_top() -> None:
    picture = _picture(render_preview(_grid(np.linspace(-89.5, 89.5, 180), np.arange(0, 360.0))))
    assert (picture[: int(0.08 * picture.shape[0])] < 100).any()  # the title's letters
    bar = _colorbar(picture)
    assert bar[:10].mean() > bar[-10:].mean() + 100
