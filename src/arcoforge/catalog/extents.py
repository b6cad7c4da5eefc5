"""Extents of a dataset in space and time, as STAC wants them, from its coordinates.

Time coordinates may use any CF calendar. STAC dates are ISO 8601 in the Gregorian
calendar, so a date that calendar cannot hold (30 February in ``360_day``, 29 February
in a ``julian`` year that is not a Gregorian leap year) keeps its year, month and time
of day and moves to the last day of its month: 30 February becomes 28 (or 29) February.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from arcoforge.sources.timeform import TimeForm, time_form

#: The STAC bbox of a dataset whose location is not known.
GLOBE = (-180.0, -90.0, 180.0, 90.0)

_LAT_UNITS = ("degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn")
_LON_UNITS = ("degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese")


@dataclass(frozen=True)
class TimeExtent:
    """The first and last time of a dataset, ISO 8601, and the calendar they came from."""

    start: dt.datetime | None
    end: dt.datetime | None
    calendar: str | None
    step: str | None = None


@dataclass(frozen=True)
class SpaceExtent:
    """A bounding box (west, south, east, north) and whether it came from the data."""

    bbox: tuple[float, float, float, float]
    known: bool
    lat: str | None = None
    lon: str | None = None


def to_datetime(value: Any) -> dt.datetime:
    """A time value (numpy datetime64 or a cftime date) as a UTC Gregorian datetime."""
    if isinstance(value, np.datetime64):
        seconds = value.astype("datetime64[s]").astype("int64")
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=int(seconds))
    if isinstance(value, dt.datetime) and not hasattr(value, "calendar"):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # a cftime date: keep year, month and time; clamp the day to the Gregorian month
    year, month = int(value.year), int(value.month)
    last = _calendar.monthrange(year, month)[1] if 1 <= year <= 9999 else 28
    year = min(max(year, 1), 9999)
    return dt.datetime(
        year,
        month,
        min(int(value.day), last),
        int(value.hour),
        int(value.minute),
        int(value.second),
        tzinfo=dt.UTC,
    )


def iso(value: dt.datetime | None) -> str | None:
    """``value`` as the ISO 8601 text STAC uses (``2020-01-01T12:00:00Z``)."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_coordinate(ds: xr.Dataset) -> str | None:
    """The name of the dataset's time coordinate, or None."""
    for name, var in ds.coords.items():
        if var.ndim == 1 and _is_time(var):
            return str(name)
    return None


def _is_time(var: xr.DataArray) -> bool:
    sample = var.values.flat[0] if var.dtype == object and var.size > 0 else None
    return time_form(var.dtype, var.encoding, sample=sample) is TimeForm.DECODED


def time_extent(ds: xr.Dataset) -> TimeExtent:
    """The time extent of ``ds`` from its time coordinate (any CF calendar)."""
    name = time_coordinate(ds)
    if name is None:
        return TimeExtent(None, None, None)
    values = ds[name].values
    cal = ds[name].encoding.get("calendar") or getattr(values.flat[0], "calendar", None)
    cal = cal or "proleptic_gregorian"
    start, end = to_datetime(values.min()), to_datetime(values.max())
    return TimeExtent(start, end, str(cal), _step(values))


def _step(values: np.ndarray) -> str | None:
    """The regular step of a time axis as an ISO 8601 duration (``P1D``), or None."""
    if values.size < 2:
        return None
    deltas = np.diff(values)
    first = deltas[0]
    if not all(d == first for d in deltas):
        return None
    seconds = first / np.timedelta64(1, "s") if isinstance(first, np.timedelta64) else None
    if seconds is None:
        seconds = first.total_seconds()
    whole = int(seconds)
    if whole % 86400 == 0:
        return f"P{whole // 86400}D"
    if whole % 3600 == 0:
        return f"PT{whole // 3600}H"
    return f"PT{whole}S"


def find_lat_lon(ds: xr.Dataset) -> tuple[str | None, str | None]:
    """The names of the latitude and longitude variables (1-D or 2-D), by CF metadata."""
    lat = lon = None
    for name, var in {**ds.coords, **ds.data_vars}.items():
        units = str(var.attrs.get("units", "")).lower().replace(" ", "")
        standard = var.attrs.get("standard_name")
        if lat is None and (standard == "latitude" or units in _LAT_UNITS):
            lat = str(name)
        elif lon is None and (standard == "longitude" or units in _LON_UNITS):
            lon = str(name)
    for name in ds.variables:
        low = str(name).lower()
        if lat is None and low in ("lat", "latitude", "nav_lat"):
            lat = str(name)
        if lon is None and low in ("lon", "longitude", "nav_lon"):
            lon = str(name)
    return lat, lon


def space_extent(ds: xr.Dataset) -> SpaceExtent:
    """The bounding box of ``ds`` from 1-D or 2-D latitude/longitude, else the whole globe.

    Longitudes in 0–360° become -180–180°; a box that crosses the antimeridian has
    west > east, as STAC says.
    """
    lat_name, lon_name = find_lat_lon(ds)
    if lat_name is None or lon_name is None:
        return SpaceExtent(GLOBE, known=False)
    lat = np.asarray(ds[lat_name].values, dtype="float64")
    lon = np.asarray(ds[lon_name].values, dtype="float64")
    lat, lon = lat[np.isfinite(lat)], lon[np.isfinite(lon)]
    if lat.size == 0 or lon.size == 0:
        return SpaceExtent(GLOBE, known=False)
    south, north = float(max(lat.min(), -90.0)), float(min(lat.max(), 90.0))
    west, east = lon_bounds(lon)
    return SpaceExtent((west, south, east, north), known=True, lat=lat_name, lon=lon_name)


def lon_bounds(lon: np.ndarray) -> tuple[float, float]:
    """West and east bounds of longitudes in any convention, in -180–180°.

    The bounds are those of the smallest arc that holds every longitude: the widest
    gap between sorted longitudes is where the data is not.
    """
    wrapped = np.unique(((lon + 180.0) % 360.0) - 180.0)
    if wrapped.size == 1:
        return float(wrapped[0]), float(wrapped[0])
    gaps = np.diff(np.concatenate([wrapped, [wrapped[0] + 360.0]]))
    widest = int(np.argmax(gaps))
    spacing = float(np.median(np.diff(wrapped))) if wrapped.size > 2 else 0.0
    # a grid that circles the globe (its widest gap no larger than its spacing)
    if gaps[widest] <= spacing * 1.5:
        return -180.0, 180.0
    west = float(wrapped[(widest + 1) % wrapped.size])
    east = float(wrapped[widest])
    return west, east
