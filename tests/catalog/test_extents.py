"""Extents from coordinates: CF calendars, 0–360° longitudes, 2-D grids, unknown places."""

from __future__ import annotations

import datetime as dt

import cftime
import numpy as np
import pytest
import xarray as xr

from arcoforge.catalog.datacube import cube_dimensions, cube_variables
from arcoforge.catalog.extents import GLOBE, iso, lon_bounds, space_extent, time_extent
from arcoforge.demo.dataset import make_sst


@pytest.mark.parametrize(
    ("calendar", "first", "last", "expected_end"),
    [
        # 30 February has no Gregorian date: it becomes the last day of February
        ("360_day", (2001, 2, 29), (2001, 2, 30), "2001-02-28T12:00:00Z"),
        ("360_day", (2000, 2, 29), (2000, 2, 30), "2000-02-29T12:00:00Z"),
        ("noleap", (2001, 2, 27), (2001, 2, 28), "2001-02-28T12:00:00Z"),
        ("julian", (1900, 2, 28), (1900, 2, 29), "1900-02-28T12:00:00Z"),
    ],
)
def test_time_extent_in_cf_calendars(
    calendar: str, first: tuple[int, int, int], last: tuple[int, int, int], expected_end: str
) -> None:
    times = [
        cftime.datetime(*first, 12, calendar=calendar),
        cftime.datetime(*last, 12, calendar=calendar),
    ]
    ds = xr.Dataset(coords={"time": ("time", np.array(times, dtype=object))})
    extent = time_extent(ds)
    assert extent.calendar == calendar
    assert iso(extent.end) == expected_end
    assert extent.start is not None and extent.start <= extent.end
    assert extent.step == "P1D"


def test_time_extent_of_datetime64_and_no_time() -> None:
    ds = make_sst(days=3, nlat=4, nlon=8)
    extent = time_extent(ds)
    assert (iso(extent.start), iso(extent.end)) == ("2020-01-01T12:00:00Z", "2020-01-03T12:00:00Z")
    assert extent.step == "P1D"
    assert time_extent(ds.isel(time=0, drop=True)).start is None


def test_global_grid_in_0_360_is_the_whole_globe() -> None:
    ds = make_sst(days=1, nlat=18, nlon=36)  # longitudes 5..355
    extent = space_extent(ds)
    assert extent.known and extent.bbox == (-180.0, -85.0, 180.0, 85.0)


def test_regional_longitudes_in_0_360_are_normalised() -> None:
    assert lon_bounds(np.array([200.0, 210.0, 220.0])) == (-160.0, -140.0)
    # a box across the antimeridian keeps west > east, as STAC says
    assert lon_bounds(np.array([170.0, 180.0, 190.0, 200.0])) == (170.0, -160.0)


def test_rotated_pole_grid_through_its_2d_lat_lon() -> None:
    rlat, rlon = np.linspace(-5, 5, 11), np.linspace(-5, 5, 11)
    lon2, lat2 = np.meshgrid(rlon + 10.0, rlat + 50.0)
    lat2 = lat2 + 0.1 * lon2  # skewed, as rotated grids are
    ds = xr.Dataset(
        {"tas": (("rlat", "rlon"), np.ones((11, 11)), {"units": "K", "grid_mapping": "rp"})},
        coords={
            "rlat": ("rlat", rlat, {"standard_name": "grid_latitude"}),
            "rlon": ("rlon", rlon, {"standard_name": "grid_longitude"}),
            "lat": (("rlat", "rlon"), lat2, {"units": "degrees_north"}),
            "lon": (("rlat", "rlon"), lon2 + 360.0, {"units": "degrees_east"}),
        },
    )
    extent = space_extent(ds)
    assert extent.known and (extent.lat, extent.lon) == ("lat", "lon")
    assert extent.bbox == pytest.approx((5.0, float(lat2.min()), 15.0, float(lat2.max())))
    dims = cube_dimensions(ds)
    assert dims["rlat"]["type"] == "other" and dims["rlon"]["extent"] == [-5.0, 5.0]


def test_no_lat_lon_is_the_whole_globe_marked_unknown() -> None:
    ds = xr.Dataset({"x": (("station",), np.arange(3.0))})
    extent = space_extent(ds)
    assert extent.bbox == GLOBE and not extent.known


def test_datacube_of_a_dataset() -> None:
    ds = make_sst(days=4, nlat=6, nlon=12).chunk({"time": 2})
    dims = cube_dimensions(ds)
    assert dims["time"] == {
        "type": "temporal",
        "extent": ["2020-01-01T12:00:00Z", "2020-01-04T12:00:00Z"],
        "step": "P1D",
        "description": "4 steps, standard calendar",
    }
    assert dims["lat"]["axis"] == "y" and dims["lon"]["axis"] == "x"
    assert dims["lon"]["extent"] == [-180.0, 180.0] and dims["lat"]["step"] == pytest.approx(30.0)
    variables = cube_variables(ds)
    assert variables["sst"]["unit"] == "Celsius"
    assert variables["sst"]["description"] == "Daily sea surface temperature"
    assert variables["sst"]["arcoforge:chunks"] == [2, 6, 12]
    assert variables["sst"]["arcoforge:nbytes"] == 4 * 6 * 12 * 4
    assert variables["anom"]["dimensions"] == ["time", "lat", "lon"]
    assert dt.datetime.fromisoformat(dims["time"]["extent"][1].replace("Z", "+00:00")).hour == 12
