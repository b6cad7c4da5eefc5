"""A preview picture of one time step of a dataset with latitude and longitude (Pillow)."""

from __future__ import annotations

import io

import numpy as np
import xarray as xr
from PIL import Image, ImageDraw, ImageFont

from arcoforge.catalog.extents import find_lat_lon, iso, time_coordinate, to_datetime

#: The most values a preview reads: larger grids are strided down to about this many.
#: The picture is 600×320 pixels, so more values than that would not be seen.
MAX_POINTS = 200_000

SIZE = (600, 320)  # the picture's width and height
PLOT = (72, 32, 510, 272)  # the map: left, top, right and bottom (the last two exclusive)
BAR = (524, 540)  # the colorbar's left and right; it is as tall as the map
INK, BACKGROUND, MISSING = (34, 34, 34), (255, 255, 255), (212, 212, 212)
#: Tick steps in degrees: the smallest that gives at most seven or so ticks is used.
STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 15, 20, 30, 45, 60, 90)

Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
Extent = tuple[float, float, float, float]  # west, east, south, north
Span = tuple[float, float]  # the lowest and highest value, the ends of the colour table
Map = tuple[Image.Image, Extent]  # the picture of the map area, and the extent it shows

#: Pillow's built-in font at the sizes used, in pixels.
FONTS: dict[int, Font] = {size: ImageFont.load_default(size=size) for size in (8, 9, 10, 11)}


def _cubehelix(start: float, rotations: float, hue: float, gamma: float = 1.0) -> np.ndarray:
    """256 colours after D. A. Green's cubehelix (2011): lightness rises as the hue turns."""
    light = np.linspace(0.12, 0.92, 256)
    lg = light**gamma
    phi = 2 * np.pi * (start / 3 + rotations * light)
    cos, sin = np.cos(phi), np.sin(phi)
    turn = np.stack([-0.14861 * cos + 1.78277 * sin, -0.29227 * cos - 0.90649 * sin, 1.97294 * cos])
    rgb = lg + hue * lg * (1 - lg) / 2 * turn
    return np.asarray(np.clip(rgb.T, 0, 1) * 255 + 0.5, dtype=np.uint8)


#: The colour table: dark blue (low) through teal and green to pale yellow (high).
LUT = _cubehelix(start=0.2, rotations=-0.7, hue=1.5)


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
    else:  # curvilinear or rotated-pole: each value at its own latitude and longitude
        picked = picked.transpose(*ds[lat_name].dims)
    lat = np.asarray(picked[lat_name].values, dtype="float64")
    lon = ((np.asarray(picked[lon_name].values, dtype="float64") + 180.0) % 360.0) - 180.0
    values = np.asarray(picked.values, dtype="float64")
    finite = values[np.isfinite(values)]
    span = (float(finite.min()), float(finite.max())) if finite.size else (np.nan, np.nan)
    area, extent = (_regular if lat.ndim == 1 else _curvilinear)(values, lon, lat, span)
    when = ""
    if time and time in picked.coords:
        when = f" at {str(iso(to_datetime(picked[time].values[()])))[:16].replace('T', ' ')}"
    picture = Image.new("RGB", SIZE, BACKGROUND)
    picture.paste(area, PLOT[:2])
    _axes(picture, extent)
    _colorbar(picture, span, str(var.attrs.get("units", "")))
    _title(picture, f"{var.attrs.get('long_name', name)}{when}")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=2)
    return buffer.getvalue()


def _colours(values: np.ndarray, span: Span) -> np.ndarray:
    """Values as RGB through the colour table stretched over the span; NaN and inf in grey."""
    (lo, hi), finite = span, np.isfinite(values)
    scale = 255.999 / (hi - lo) if hi > lo else 0.0
    index = np.zeros(values.shape, dtype=np.uint8)
    index[finite] = np.clip((values[finite] - lo) * scale, 0, 255)
    rgb = LUT[index]
    rgb[~finite] = MISSING
    return rgb


def _regular(values: np.ndarray, lon: np.ndarray, lat: np.ndarray, span: Span) -> Map:
    """The map of a grid with 1-D latitude and (sorted) longitude, and its extent."""
    width, height = PLOT[2] - PLOT[0], PLOT[3] - PLOT[1]
    cells = _even_cells(lon, lat)
    if cells is not None:  # even: a block of pixels a cell, north at the top
        rgb = _colours(values if cells[2] > cells[3] else values[::-1], span)
        area = Image.fromarray(rgb).resize((width, height), Image.Resampling.NEAREST)
        return area, (cells[0], cells[1], min(cells[2:]), max(cells[2:]))
    cols, west, east = _pixel_cells(lon, width)
    rows, south, north = _pixel_cells(lat, height)
    rgb = _colours(values[np.ix_(rows[::-1], cols)], span)  # rows from north to south
    return Image.fromarray(rgb), (west, east, south, north)


def _pixel_cells(centres: np.ndarray, n: int) -> tuple[np.ndarray, float, float]:
    """The cell under each of n pixels from low to high along an uneven axis, and its edges."""
    order = np.argsort(centres)
    c = centres[order]
    ends = (c[[1, -1]] - c[[0, -2]]) / 2 if c.size > 1 else np.zeros(2)
    ends[ends == 0] = 0.5
    low, high = float(c[0] - ends[0]), float(c[-1] + ends[1])
    at = low + (np.arange(n) + 0.5) * (high - low) / n
    return order[np.searchsorted((c[1:] + c[:-1]) / 2, at)], low, high


def _curvilinear(values: np.ndarray, lon: np.ndarray, lat: np.ndarray, span: Span) -> Map:
    """The map of a grid with 2-D latitude and longitude, each pixel the nearest value."""
    from scipy.ndimage import distance_transform_edt  # type: ignore[import-untyped]

    width, height = PLOT[2] - PLOT[0], PLOT[3] - PLOT[1]
    known = np.isfinite(lon) & np.isfinite(lat)
    if not known.any():
        return Image.new("RGB", (width, height), BACKGROUND), (-180.0, 180.0, -90.0, 90.0)
    half = _spacing(lon, lat) / 2
    west, east = max(lon[known].min() - half, -180.0), min(lon[known].max() + half, 180.0)
    south, north = max(lat[known].min() - half, -90.0), min(lat[known].max() + half, 90.0)
    east, north = max(east, west + 1e-6), max(north, south + 1e-6)
    x, y = (lon - west) * (width / (east - west)), (north - lat) * (height / (north - south))
    cell = np.full((height, width), -1, dtype=np.intp)
    rows, cols = np.clip(y[known], 0, height - 1), np.clip(x[known], 0, width - 1)
    cell[rows.astype(int), cols.astype(int)] = np.flatnonzero(known)
    # every pixel takes the value of the nearest pixel a grid point fell in
    distance, (iy, ix) = distance_transform_edt(cell < 0, return_indices=True)
    rgb = _colours(values.ravel()[cell[iy, ix]], span)
    rgb[distance > max(2 * _spacing(x, y), 1.5)] = BACKGROUND  # beyond the grid's edges
    return Image.fromarray(rgb), (west, east, south, north)


def _spacing(x: np.ndarray, y: np.ndarray) -> float:
    """The typical distance between neighbouring points of a 2-D grid of positions."""
    steps = [np.hypot(np.diff(x, axis=a), np.diff(y, axis=a)).ravel() for a in (0, 1)]
    medians = [float(np.median(s[np.isfinite(s)])) for s in steps if np.isfinite(s).any()]
    return max(medians or [1.0])


def _axes(picture: Image.Image, extent: Extent) -> None:
    """The frame around the map, and ticks and labels of longitude and latitude."""
    draw, font = ImageDraw.Draw(picture), FONTS[9]
    left, top, right, bottom = PLOT
    west, east, south, north = extent
    draw.rectangle((left - 1, top - 1, right, bottom), outline=INK)
    for lon in _ticks(west, east):
        x = left + (lon - west) / (east - west) * (right - left)
        draw.line((x, bottom, x, bottom + 3), fill=INK)
        draw.text((x, bottom + 5), f"{round(lon, 6) + 0.0:g}", font=font, fill=INK, anchor="ma")
    for lat in _ticks(south, north):
        y = top + (north - lat) / (north - south) * (bottom - top)
        draw.line((left - 4, y, left - 1, y), fill=INK)
        draw.text((left - 6, y), f"{round(lat, 6) + 0.0:g}", font=font, fill=INK, anchor="rm")
    draw.text(((left + right) / 2, SIZE[1] - 3), "longitude", font=FONTS[10], fill=INK, anchor="md")
    _upright(picture, "latitude", FONTS[10], (12, (top + bottom) // 2))


def _ticks(low: float, high: float) -> list[float]:
    """Round values from low to high, seven or so of them."""
    step = next((s for s in STEPS if (high - low) / s < 7), 90)
    return [float(v) for v in np.arange(np.ceil(low / step) * step, high + step * 1e-6, step)]


def _colorbar(picture: Image.Image, span: Span, units: str) -> None:
    """The colour ramp right of the map (high at the top), its value labels and its units."""
    draw, font, (lo, hi) = ImageDraw.Draw(picture), FONTS[9], span
    (left, right), top, bottom = BAR, PLOT[1], PLOT[3]
    ramp = Image.fromarray(np.ascontiguousarray(LUT[::-1, None, :]))
    picture.paste(ramp.resize((right - left, bottom - top), Image.Resampling.NEAREST), (left, top))
    draw.rectangle((left - 1, top - 1, right, bottom), outline=INK)
    values = sorted({lo, (lo + hi) / 2, hi}) if np.isfinite(lo) else []
    for value, text in zip(values, _labels(values, font, SIZE[0] - right - 20), strict=True):
        y = bottom - 1 - ((value - lo) / (hi - lo) * (bottom - top - 1) if hi > lo else 0)
        draw.line((right, y, right + 3, y), fill=INK)
        draw.text((right + 5, y), text, font=font, fill=INK, anchor="lm")
    if units:
        _upright(picture, units, FONTS[10], (SIZE[0] - 8, (top + bottom) // 2))


def _labels(values: list[float], font: Font, room: float) -> list[str]:
    """The values in as many significant digits (up to four) as fit in ``room`` pixels."""
    for digits in (4, 3, 2, 1):
        texts = [f"{v:.{digits}g}".replace("e+", "e").replace("e0", "e") for v in values]
        texts = [t.replace("e-0", "e-") for t in texts]
        if max((font.getlength(t) for t in texts), default=0) <= room:
            break
    return texts


def _title(picture: Image.Image, text: str) -> None:
    """The title centred above the map, smaller if it would not fit."""
    size = next((s for s in (11, 10, 9) if FONTS[s].getlength(text) <= SIZE[0] - 8), 8)
    half = FONTS[size].getlength(text) / 2
    x = min(max((PLOT[0] + PLOT[2]) / 2, 4 + half), SIZE[0] - 4 - half)
    ImageDraw.Draw(picture).text((x, 6), text, font=FONTS[size], fill=INK, anchor="ma")


def _upright(picture: Image.Image, text: str, font: Font, centre: tuple[int, int]) -> None:
    """Text turned to read upwards, centred on a point."""
    box = font.getbbox(text)
    stamp = Image.new("L", (int(box[2]) + 1, int(box[3]) + 1))
    ImageDraw.Draw(stamp).text((0, 0), text, font=font, fill=255)
    stamp = stamp.rotate(90, expand=True)
    picture.paste(INK, (centre[0] - stamp.width // 2, centre[1] - stamp.height // 2), stamp)


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
