"""Thousands of small daily NetCDF files, quickly: two written by xarray, the rest copies.

Writing each file through xarray would take many minutes for 10,000 (bench/README.md).
The copies are the first day's file with its stored time value moved on by whole days
(the step between the first two files, as stored), so every file is a valid netCDF4
file with its own time, made at a small fraction of that cost.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py

from arcoforge.demo.dataset import make_sst, write_files


def daily_files(
    folder: Path,
    days: int,
    *,
    name: Callable[[int], str] = lambda day: f"sst.{day:05d}.nc",
    nlat: int = 18,
    nlon: int = 36,
    start: str = "2020-01-01",
) -> list[Path]:
    """Files of one day each, days ``0 .. days-1`` from ``start``, named by ``name(day)``."""
    folder.mkdir(parents=True, exist_ok=True)
    first = write_files(
        make_sst(start=start, days=2, nlat=nlat, nlon=nlon), folder / ".model", steps=1
    )
    with h5py.File(first[0].path, "r") as a, h5py.File(first[1].path, "r") as b:
        t0 = a["time"][0]
        step = b["time"][0] - t0
    paths = []
    for day in range(days):
        path = folder / name(day)
        shutil.copyfile(first[0].path, path)
        if day:
            with h5py.File(path, "r+") as f:
                f["time"][0] = t0 + day * step
        paths.append(path)
    shutil.rmtree(folder / ".model")
    return paths
