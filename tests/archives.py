"""Real-shaped archives made by the tests: the layouts third-party NetCDF files have.

CMIP-like files split by decade with a shorter last file, stored contiguous and
uncompressed; netCDF3 files of uneven length; Met Office-like files with a scalar
``grid_mapping`` that was never written and scalar coordinates; and variables split
into files that each carry the same CF bounds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import h5netcdf
import h5py
import numpy as np
import xarray as xr

#: netCDF's default fill value for int32, which a never-written int32 variable holds.
NC_FILL_INT = np.int32(-2147483647)


def scalar_files(folder: Path, files: int = 2, steps: int = 3) -> list[Path]:
    """Files with a never-written int32 ``grid_mapping`` and scalar forecast coordinates.

    As netCDF-C writes them: the grid-mapping variable has no ``_FillValue`` attribute
    and no stored bytes, so readers get HDF5's fill value, netCDF's default fill.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(files):
        path = folder / f"ukv_{i:02d}.nc"
        with h5netcdf.File(path, "w") as nc:
            nc.dimensions = {"time": steps, "grid_latitude": 4, "grid_longitude": 5, "bnds": 2}
            time = nc.create_variable("time", ("time",), "f8")
            time.attrs.update(units="hours since 2020-01-01 00:00:00", standard_name="time")
            time[:] = np.arange(i * steps, (i + 1) * steps, dtype="f8")
            lat = nc.create_variable("grid_latitude", ("grid_latitude",), "f4")
            lat.attrs.update(units="degrees", axis="Y")
            lat[:] = np.linspace(-1.5, 1.5, 4, dtype="f4")
            lon = nc.create_variable("grid_longitude", ("grid_longitude",), "f4")
            lon.attrs.update(units="degrees", axis="X")
            lon[:] = np.linspace(358.0, 362.0, 5, dtype="f4")
            crs = nc.create_variable("rotated_latitude_longitude", (), "i4", fillvalue=NC_FILL_INT)
            crs.attrs.update(
                grid_mapping_name="rotated_latitude_longitude",
                grid_north_pole_latitude=37.5,
                grid_north_pole_longitude=177.5,
            )
            period = nc.create_variable("forecast_period", (), "f8")
            period.attrs.update(units="hours", standard_name="forecast_period")
            period[...] = 6.0
            ref = nc.create_variable("forecast_reference_time", (), "f8")
            ref.attrs.update(units="hours since 1970-01-01 00:00:00", calendar="gregorian")
            ref[...] = 438_000.0
            height = nc.create_variable("height", (), "f8")
            height.attrs.update(units="m", positive="up")
            height[...] = 1.5
            air = nc.create_variable(
                "air_temperature", ("time", "grid_latitude", "grid_longitude"), "f4"
            )
            air.attrs.update(
                units="K",
                grid_mapping="rotated_latitude_longitude",
                coordinates="forecast_period forecast_reference_time height",
            )
            air[:] = (280 + rng.random((steps, 4, 5)) * 10).astype("f4")
        with h5py.File(path, "a") as f:  # no _FillValue attribute, as netCDF-C leaves it
            del f["rotated_latitude_longitude"].attrs["_FillValue"]
        paths.append(path)
    return paths


def cmip_dataset(
    variable: str = "tas", months: int = 36, nlat: int = 3, nlon: int = 4
) -> xr.Dataset:
    """Monthly model output as CMIP6 writes it: one variable, CF bounds, noleap times."""
    import cftime

    rng = np.random.default_rng(sum(map(ord, variable)))
    starts = [cftime.DatetimeNoLeap(1850 + m // 12, m % 12 + 1, 1) for m in range(months + 1)]
    mids = [a + (b - a) / 2 for a, b in itertools.pairwise(starts)]
    lat = np.linspace(-60.0, 60.0, nlat)
    lon = np.linspace(0.0, 360.0, nlon, endpoint=False)
    dlat, dlon = 60.0 if nlat < 2 else lat[1] - lat[0], 360.0 / nlon
    ds = xr.Dataset(
        {
            variable: (
                ("time", "lat", "lon"),
                (250 + 40 * rng.random((months, nlat, nlon))).astype("f4"),
                {"units": "K" if variable == "tas" else "m s-1", "cell_methods": "time: mean"},
            ),
            "time_bnds": (("time", "bnds"), np.stack([starts[:-1], starts[1:]], axis=1)),
            "lat_bnds": (("lat", "bnds"), np.stack([lat - dlat / 2, lat + dlat / 2], axis=1)),
            "lon_bnds": (("lon", "bnds"), np.stack([lon - dlon / 2, lon + dlon / 2], axis=1)),
        },
        coords={
            "time": ("time", mids, {"bounds": "time_bnds", "axis": "T"}),
            "lat": ("lat", lat, {"bounds": "lat_bnds", "units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", lon, {"bounds": "lon_bnds", "units": "degrees_east", "axis": "X"}),
        },
        attrs={"Conventions": "CF-1.7 CMIP-6.2", "source_id": "ARCO-TEST", "variable_id": variable},
    )
    ds[variable].encoding.update({"_FillValue": np.float32(1e20)})
    for name in ("time", "time_bnds"):
        ds[name].encoding.update(units="days since 1850-01-01", calendar="noleap", dtype="f8")
    return ds


def cmip_files(
    folder: Path,
    lengths: tuple[int, ...] = (24, 24, 12),
    *,
    variable: str = "tas",
    fmt: str = "netcdf4",
    record: bool = False,
    encodings: list[dict[str, Any]] | None = None,
    nlat: int = 3,
    nlon: int = 4,
) -> list[Path]:
    """``variable`` split by "decade" into files of ``lengths`` months, the last one short.

    netCDF4 files store every variable contiguous and uncompressed, as CMIP6 files do
    (unless ``encoding`` says otherwise); netCDF3 ones keep ``time`` fixed, or make it
    the record dimension with ``record``. ``encodings`` holds each file's own.
    """
    ds = cmip_dataset(variable, months=sum(lengths), nlat=nlat, nlon=nlon)
    folder.mkdir(parents=True, exist_ok=True)
    paths, start = [], 0
    for i, n in enumerate(lengths):
        piece = ds.isel(time=slice(start, start + n))
        first, last = piece.time.values[0], piece.time.values[-1]
        path = folder / (
            f"{variable}_Amon_ARCO-TEST_historical_r1i1p1f1_gn_"
            f"{first.year:04d}{first.month:02d}-{last.year:04d}{last.month:02d}.nc"
        )
        enc: dict[str, Any] = {name: {"contiguous": True} for name in piece.variables}
        if fmt != "netcdf4":
            enc = {}
        for name, own in (encodings[i] if encodings else {}).items():
            enc[name] = own  # chunked or compressed instead of contiguous
        piece.to_netcdf(
            path,
            engine="h5netcdf" if fmt == "netcdf4" else "scipy",
            format="NETCDF4" if fmt == "netcdf4" else "NETCDF3_64BIT",
            encoding=enc,
            unlimited_dims=["time"] if record else None,
        )
        paths.append(path)
        start += n
    return paths
