"""Real-shaped archives made by the tests: the layouts third-party NetCDF files have.

CMIP-like files split by decade with a shorter last file, stored contiguous and
uncompressed; netCDF3 files of uneven length; Met Office-like files with a scalar
``grid_mapping`` that was never written and scalar coordinates; and variables split
into files that each carry the same CF bounds.
"""

from __future__ import annotations

from pathlib import Path

import h5netcdf
import h5py
import numpy as np

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
