"""A seeded factory of realistic gridded ocean datasets, split into NetCDF files.

It mimics a daily sea-surface-temperature analysis such as NOAA OISST: CF
attributes, a land mask of missing values, optional int16 packing, and the
calendars and time encodings real archives use. The demo, the tests and the
benchmark all draw their inputs from it.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cftime
import numpy as np
import pandas as pd
import xarray as xr

Format = Literal["netcdf4", "netcdf3"]

#: Packing of OISST: int16 hundredths of a degree, -999 where there is no value.
PACKED_INT16 = {
    "dtype": "int16",
    "scale_factor": np.float32(0.01),
    "add_offset": np.float32(0.0),
    "_FillValue": np.int16(-999),
}
FLOAT32 = {"dtype": "float32", "_FillValue": np.float32(np.nan)}


def make_sst(
    *,
    start: str = "2020-01-01",
    days: int = 30,
    nlat: int = 36,
    nlon: int = 72,
    calendar: str = "standard",
    variables: Sequence[str] = ("sst", "anom"),
    seed: int = 0,
    dtype: str = "float32",
) -> xr.Dataset:
    """A daily SST-like dataset on a regular global grid, land masked with NaN."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(-90 + 90 / nlat, 90 - 90 / nlat, nlat, dtype="float32")
    lon = np.linspace(180 / nlon, 360 - 180 / nlon, nlon, dtype="float32")
    time = _daily_times(start, days, calendar)
    land = _land_mask(lat, lon)
    day_of_year = np.arange(days) + pd.Timestamp(start).day_of_year
    season = np.cos(2 * np.pi * (day_of_year[:, None, None] - 45) / 365.0)
    lat_rad = np.deg2rad(lat)[None, :, None]
    climatology = 28.0 * np.cos(lat_rad) ** 2 - 1.8 + 2.0 * season * np.sin(lat_rad)
    wave = np.sin(np.deg2rad(lon)[None, None, :] * 3) * 0.5
    data_vars: dict[str, Any] = {}
    for name in variables:
        noise = rng.normal(0.0, 0.3, (days, nlat, nlon))
        if name == "anom":
            values = noise * 3 + wave
            attrs: dict[str, Any] = {
                "long_name": "Daily sea surface temperature anomalies",
                "units": "Celsius",
            }
        else:
            values = climatology + wave + noise
            attrs = {
                "long_name": "Daily sea surface temperature",
                "units": "Celsius",
                "valid_min": -3.0,
                "valid_max": 45.0,
            }
        values = np.where(land[None], np.nan, np.round(values, 2)).astype(dtype)
        data_vars[name] = (("time", "lat", "lon"), values, attrs)
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", time, {"long_name": "Center time of the day"}),
            "lat": ("lat", lat, {"long_name": "Latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"long_name": "Longitude", "units": "degrees_east"}),
        },
        attrs={
            "title": "Synthetic daily sea surface temperature analysis",
            "Conventions": "CF-1.8",
            "institution": "ARCO Forge sample data",
            "source": "arcoforge.demo.dataset.make_sst",
        },
    )
    ds.time.encoding.update({"units": "days since 1978-01-01 12:00:00", "calendar": calendar})
    return ds


def _daily_times(start: str, days: int, calendar: str) -> np.ndarray:
    """Noon of each day, as datetime64 or, for non-standard calendars, cftime objects."""
    first = pd.Timestamp(start) + pd.Timedelta(hours=12)
    if calendar in ("standard", "gregorian", "proleptic_gregorian"):
        return pd.date_range(first, periods=days, freq="D").values
    base = cftime.datetime(first.year, first.month, first.day, 12, calendar=calendar)
    return np.array([base + dt.timedelta(days=i) for i in range(days)], dtype=object)


def _land_mask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    blobs = [(45, 100, 30, 60), (10, 20, 25, 25), (-25, 135, 15, 20), (40, 260, 20, 40)]
    mask = la > 80
    for clat, clon, rlat, rlon in blobs:
        mask |= ((la - clat) / rlat) ** 2 + ((lo - clon) / rlon) ** 2 < 1
    return np.asarray(mask, dtype=bool)


@dataclass(frozen=True)
class SampleFile:
    """One written file and the slice of the full dataset it holds."""

    path: Path
    start: int
    stop: int
    variables: tuple[str, ...]


def write_files(
    ds: xr.Dataset,
    folder: Path,
    *,
    steps: int | Sequence[int] = 1,
    fmt: Format = "netcdf4",
    name: str = "sst.{time:%Y%m%d}.nc",
    encoding: dict[str, dict[str, Any]] | None = None,
    split_variables: bool = False,
    per_file: Callable[[int, xr.Dataset], xr.Dataset] | None = None,
) -> list[SampleFile]:
    """Split ``ds`` along time into files of ``steps`` steps each and write them.

    ``name`` is formatted with the file's first ``time`` and, when
    ``split_variables``, its ``variable``. ``per_file(i, piece)`` may alter each
    piece before writing, e.g. to give each file its own time units.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sizes = _split_sizes(ds.sizes["time"], steps)
    variables = tuple(str(v) for v in ds.data_vars)
    groups = [(v,) for v in variables] if split_variables else [variables]
    files: list[SampleFile] = []
    start = 0
    for i, size in enumerate(sizes):
        piece = ds.isel(time=slice(start, start + size))
        for names in groups:
            sub = piece[list(names)]
            if per_file is not None:
                sub = per_file(i, sub)
            first = ds.time.values[min(start, ds.sizes["time"] - 1)]
            path = folder / name.format(time=_as_datetime(first), variable=names[0], i=i)
            path.parent.mkdir(parents=True, exist_ok=True)
            _write(sub, path, fmt, encoding or {})
            files.append(SampleFile(path, start, start + size, names))
        start += size
    return files


def _split_sizes(total: int, steps: int | Sequence[int]) -> list[int]:
    if isinstance(steps, int):
        return [min(steps, total - s) for s in range(0, total, steps)]
    if sum(steps) != total:
        raise ValueError(f"steps {list(steps)} add up to {sum(steps)}, not {total}")
    return list(steps)


def _as_datetime(value: Any) -> Any:
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).to_pydatetime()
    return value


def _write(ds: xr.Dataset, path: Path, fmt: Format, encoding: dict[str, dict[str, Any]]) -> None:
    enc = {str(n): dict(encoding[str(n)]) for n in ds.variables if str(n) in encoding}
    for key in ds.data_vars:
        name = str(key)
        if name not in enc and ds[name].dtype.kind == "f":
            enc[name] = {"_FillValue": np.nan}
    if "time" in ds.variables:
        time = enc.setdefault("time", {})
        time.update(
            {k: v for k, v in ds.time.encoding.items() if k in ("units", "calendar", "dtype")}
        )

    with warnings.catch_warnings():
        if ds.sizes.get("time") == 0:  # xarray cannot check units against no times
            warnings.simplefilter("ignore", UserWarning)
        if fmt == "netcdf4":
            ds.to_netcdf(path, engine="h5netcdf", encoding=enc)
        else:
            ds.to_netcdf(path, engine="scipy", format="NETCDF3_64BIT", encoding=enc)
