"""The work the copy benchmark times, one job per process: ``python bench/workloads.py JOB``.

``bench/copy_benchmark.py`` starts each job as a separate process and measures it from
outside (wall time, peak memory of the process tree). A job prints one line
``RESULT {json}`` on stdout with the timings it measured itself.

Jobs:

* ``generate``: write daily NetCDF source files (not timed by the benchmark).
* ``xarray``: the baseline, ``open_mfdataset(...).chunk(...).to_zarr(...)`` over HTTP.
* ``http``: read every source byte over HTTP (a floor).
* ``decode``: decode every source file's variable from local disk with h5py (a floor).
* ``codec``: compress the data in memory with the output codecs (a floor).
* ``verify``: compare a written Zarr store with its sources (not timed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

#: Bump when the generated data change, so cached sources are made again.
GENERATOR_VERSION = 1
START = "2020-01-01"
VARIABLE = "sst"
#: Output chunk length along time, for every contender.
TIME_CHUNK = 10

# ---------------------------------------------------------------------------
# Source files
# ---------------------------------------------------------------------------

#: Rough continents (centre lat, centre lon, half-height, half-width in degrees).
_CONTINENTS = [
    (48, 255, 22, 40),  # North America
    (-15, 298, 25, 16),  # South America
    (52, 75, 20, 70),  # Eurasia
    (6, 20, 30, 22),  # Africa
    (-25, 134, 12, 19),  # Australia
    (73, 318, 10, 16),  # Greenland
]


def file_name(day: int) -> str:
    """The name of day ``day``'s file (day 0 is START)."""
    import pandas as pd

    return f"sst.{(pd.Timestamp(START) + pd.Timedelta(days=day)):%Y%m%d}.nc"


def grid(nlat: int, nlon: int) -> tuple[np.ndarray, np.ndarray]:
    """A regular global grid, poles included (721 x 1440 is ERA5's 0.25 degree grid)."""
    lat = np.linspace(-90, 90, nlat, dtype="float32")
    lon = (np.arange(nlon) * (360 / nlon)).astype("float32")
    return lat, lon


def land_mask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    mask = la < -70  # Antarctica
    for clat, clon, rlat, rlon in _CONTINENTS:
        mask |= ((la - clat) / rlat) ** 2 + ((lo - clon) / rlon) ** 2 < 1
    return mask


def _interpolator(n_out: int, n_in: int) -> np.ndarray:
    """The matrix of linear interpolation from ``n_in`` evenly spaced points to ``n_out``."""
    x = np.linspace(0, n_in - 1, n_out)
    i = np.clip(np.floor(x).astype(int), 0, n_in - 2)
    w = (x - i).astype("float32")
    m = np.zeros((n_out, n_in), dtype="float32")
    m[np.arange(n_out), i] = 1 - w
    m[np.arange(n_out), i + 1] = w
    return m


class FieldMaker:
    """Seeded daily SST-like fields: smooth, rounded to 0.01 degC like OISST, land as NaN.

    A day's field is a climatology (warm tropics, a seasonal cycle, a zonal
    wave), plus smooth weather (random values on a coarse grid, about 4 degrees,
    interpolated linearly), plus a little noise on the fine grid. Each day is
    seeded by its index alone, so files can be made in any order, in parallel.
    """

    def __init__(self, nlat: int, nlon: int, seed: int = 0):
        self.seed = seed
        self.lat, self.lon = grid(nlat, nlon)
        rlat, rlon = np.deg2rad(self.lat)[:, None], np.deg2rad(self.lon)[None, :]
        self.climatology = (28 * np.cos(rlat) ** 2 - 1.8 + 0.5 * np.sin(3 * rlon)).astype("f4")
        self.season_shape = np.broadcast_to(np.sin(rlat), (nlat, nlon)).astype("f4")
        self.coarse = (max(2, nlat // 16 + 1), max(2, nlon // 16 + 1))
        self.up_lat = _interpolator(nlat, self.coarse[0])
        self.up_lon = _interpolator(nlon, self.coarse[1]).T.copy()
        self.land = land_mask(self.lat, self.lon)

    def day(self, day: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, day])
        weather = self.up_lat @ rng.standard_normal(self.coarse, dtype=np.float32) @ self.up_lon
        noise = rng.standard_normal(self.climatology.shape, dtype=np.float32)
        season = np.float32(2 * math.cos(2 * math.pi * (day - 45) / 365))
        values = self.climatology + season * self.season_shape + 0.8 * weather + 0.03 * noise
        values = np.round(values, 2).astype("float32")
        values[self.land] = np.nan
        return values


def write_day(folder: str, kind: str, nlat: int, nlon: int, day: int) -> int:
    """Write day ``day``'s file into ``folder`` (atomically); returns its size."""
    import pandas as pd
    import xarray as xr

    maker = _maker(nlat, nlon)
    path = Path(folder) / file_name(day)
    time_value = pd.Timestamp(START) + pd.Timedelta(days=day, hours=12)
    ds = xr.Dataset(
        {
            VARIABLE: (
                ("time", "lat", "lon"),
                maker.day(day)[None],
                {
                    "long_name": "Daily sea surface temperature",
                    "standard_name": "sea_surface_temperature",
                    "units": "Celsius",
                    "valid_min": -3.0,
                    "valid_max": 45.0,
                },
            )
        },
        coords={
            "time": ("time", [time_value], {"long_name": "Center time of the day"}),
            "lat": ("lat", maker.lat, {"long_name": "Latitude", "units": "degrees_north"}),
            "lon": ("lon", maker.lon, {"long_name": "Longitude", "units": "degrees_east"}),
        },
        attrs={
            "title": "Synthetic daily sea surface temperature analysis",
            "Conventions": "CF-1.8",
            "institution": "ARCO Forge benchmark data",
            "source": "bench/workloads.py FieldMaker",
        },
    )
    ds.time.encoding.update({"units": "days since 1978-01-01 12:00:00", "calendar": "standard"})
    encoding: dict[str, Any] = {"_FillValue": np.float32(np.nan)}
    if kind == "zlib":
        encoding.update(zlib=True, complevel=1, shuffle=True, chunksizes=(1, nlat, nlon))
    tmp = path.with_name(f".{path.name}.part-{os.getpid()}")
    ds.to_netcdf(tmp, engine="h5netcdf", encoding={VARIABLE: encoding})
    os.replace(tmp, path)
    return path.stat().st_size


_MAKERS: dict[tuple[int, int], FieldMaker] = {}


def _maker(nlat: int, nlon: int) -> FieldMaker:
    if (nlat, nlon) not in _MAKERS:
        _MAKERS[(nlat, nlon)] = FieldMaker(nlat, nlon)
    return _MAKERS[(nlat, nlon)]


def generate(folder: str, kind: str, nlat: int, nlon: int, days: Sequence[int], procs: int) -> int:
    """Write the files of ``days`` that are missing; returns how many were written."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    todo = [d for d in days if not (Path(folder) / file_name(d)).exists()]
    if procs <= 1 or len(todo) < 8:
        for d in todo:
            write_day(folder, kind, nlat, nlon, d)
    else:
        with ProcessPoolExecutor(procs) as pool:
            args = [(folder, kind, nlat, nlon, d) for d in todo]
            list(pool.map(_write_day_args, args, chunksize=8))
    return len(todo)


def _write_day_args(args: tuple[str, str, int, int, int]) -> int:
    return write_day(*args)


# ---------------------------------------------------------------------------
# Contenders and floors
# ---------------------------------------------------------------------------


def output_codec(name: str) -> list[Any] | None:
    """The Zarr v3 compressors of a codec name, as ``outputs.zarr.compression`` makes them."""
    from zarr.codecs import BloscCodec

    if name == "lz4":
        return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]
    if name == "zstd":
        return [BloscCodec(cname="zstd", clevel=1, shuffle="shuffle")]
    if name == "default":  # zarr 3's own default (ZstdCodec level 0) applies
        return None
    raise ValueError(f"unknown codec {name!r}")


def run_xarray(urls: list[str], out: str, codec: str, opener: str) -> dict[str, Any]:
    """The baseline: one open_mfdataset over the URLs, rechunked, written with to_zarr.

    ``opener`` "url" passes the URLs (xarray's h5netcdf backend opens them with
    fsspec, 4 MiB block cache); "fsspec" passes fsspec file objects opened here
    with fsspec's defaults.
    """
    import xarray as xr

    t0 = time.perf_counter()
    paths: list[Any] = urls
    if opener == "fsspec":
        import fsspec

        fs = fsspec.filesystem("http")
        paths = [fs.open(u, "rb") for u in urls]
    ds = xr.open_mfdataset(
        paths, engine="h5netcdf", parallel=True, combine="nested", concat_dim="time"
    )
    t1 = time.perf_counter()
    ds = ds.chunk({"time": TIME_CHUNK})
    compressors = output_codec(codec)
    encoding = {}
    if compressors is not None:
        encoding = {name: {"compressors": compressors} for name in ds.variables}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not in the v3 spec
        ds.to_zarr(out, mode="w", zarr_format=3, encoding=encoding)
    t2 = time.perf_counter()
    return {"open_s": round(t1 - t0, 3), "write_s": round(t2 - t1, 3)}


def read_http(urls: list[str], threads: int) -> dict[str, Any]:
    """Read every byte of every URL with fsspec (``cat_file``), ``threads`` at a time."""
    import fsspec

    fs = fsspec.filesystem("http")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda u: len(fs.cat_file(u)), urls))
    return {"seconds": round(time.perf_counter() - t0, 3), "bytes": total}


def _decode_file(path: str) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f[VARIABLE][()].nbytes)


def decode(paths: list[str], procs: int) -> dict[str, Any]:
    """Decode the variable of every file from local disk with h5py, in ``procs`` processes."""
    import h5py  # noqa: F401  (imported before timing, in the parent and forked children)

    if procs <= 1:
        t0 = time.perf_counter()
        total = sum(map(_decode_file, paths))
    else:
        with ProcessPoolExecutor(procs) as pool:
            list(pool.map(_noop, range(4 * procs)))  # start the workers before timing
            t0 = time.perf_counter()
            total = sum(pool.map(_decode_file, paths, chunksize=4))
    return {"seconds": round(time.perf_counter() - t0, 3), "bytes": total}


def _noop(_: int) -> None:
    time.sleep(0.01)


#: The codecs the codec floor measures: label, factory of a numcodecs codec.
def _codecs() -> list[tuple[str, str, Callable[[], Any]]]:
    import numcodecs

    shuffle = numcodecs.Blosc.SHUFFLE
    return [
        (
            "lz4",
            "Blosc lz4 clevel 5, byte shuffle (forge default, `compression: lz4`)",
            lambda: numcodecs.Blosc(cname="lz4", clevel=5, shuffle=shuffle),
        ),
        (
            "zstd",
            "Blosc zstd clevel 1, byte shuffle (forge `compression: zstd`)",
            lambda: numcodecs.Blosc(cname="zstd", clevel=1, shuffle=shuffle),
        ),
        (
            "default",
            "Zstd level 0, no shuffle (zarr 3's default)",
            lambda: numcodecs.Zstd(level=0),
        ),
    ]


def codec_speed(paths: list[str], max_days: int, threads: int) -> dict[str, Any]:
    """Compress output chunks (TIME_CHUNK days) in memory with each codec, then
    decompress them (as a reader of the dataset does).

    Reads up to ``max_days`` files first (not timed). Each chunk is compressed
    by one call in one thread, as zarr does; with ``threads`` > 1, that many
    chunks are compressed at once. The best of three passes counts.
    """
    import h5py
    import numcodecs.blosc

    days = []
    for p in paths[:max_days]:
        with h5py.File(p, "r") as f:
            days.append(f[VARIABLE][()])
    data = np.concatenate(days)
    chunks = [
        np.ascontiguousarray(data[i : i + TIME_CHUNK]) for i in range(0, len(data), TIME_CHUNK)
    ]
    numcodecs.blosc.use_threads = False  # one thread per call, as inside zarr
    results = []
    for key, label, make in _codecs():
        codec = make()
        row: dict[str, Any] = {"codec": key, "label": label, "bytes": int(data.nbytes)}
        for n in sorted({1, threads}):
            with ThreadPoolExecutor(n) as pool:
                best = math.inf
                for _ in range(3):  # the best of three passes
                    t0 = time.perf_counter()
                    sizes = list(pool.map(lambda c, codec=codec: len(codec.encode(c)), chunks))
                    best = min(best, time.perf_counter() - t0)
            row[f"seconds_{n}"] = round(best, 4)
            row["stored"] = int(sum(sizes))
        encoded = [codec.encode(c) for c in chunks]
        for n in sorted({1, threads}):  # reading the dataset back: decompression
            with ThreadPoolExecutor(n) as pool:
                best = math.inf
                for _ in range(3):
                    t0 = time.perf_counter()
                    list(pool.map(codec.decode, encoded))
                    best = min(best, time.perf_counter() - t0)
            row[f"decode_seconds_{n}"] = round(best, 4)
        del encoded
        row["ratio"] = round(data.nbytes / row["stored"], 3)
        results.append(row)
    return {"days": len(days), "threads": threads, "codecs": results}


def verify(zarr_path: str, paths: list[str], block: int) -> dict[str, Any]:
    """``compare`` the store with its sources, ``block`` files at a time to bound memory."""
    import xarray as xr

    from arcoforge.verify import compare, open_sources

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = xr.open_zarr(zarr_path)
    n = len(paths)
    problems: list[str] = []
    if result.sizes.get("time") != n:
        problems.append(f"time has {result.sizes.get('time')} steps, expected {n}")
    else:
        for start in range(0, n, block):
            stop = min(start + block, n)
            sources = open_sources(paths[start:stop], "time", engine="h5netcdf")
            part = result if (start, stop) == (0, n) else result.isel(time=slice(start, stop))
            problems += [f"files {start}-{stop - 1}: {p}" for p in compare(part, sources)]
            sources.close()
            if problems:
                break
    return {"problems": problems, "seconds": round(time.perf_counter() - t0, 3)}


# ---------------------------------------------------------------------------


def _lines(path: str) -> list[str]:
    return [line for line in Path(path).read_text().splitlines() if line]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="job", required=True)
    p = sub.add_parser("generate")
    p.add_argument("--dir", required=True)
    p.add_argument("--kind", choices=["raw", "zlib"], required=True)
    p.add_argument("--grid", required=True, help="NLATxNLON")
    p.add_argument("--days", type=int, required=True)
    p.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    p = sub.add_parser("xarray")
    p.add_argument("--urls", required=True, help="a file of URLs, one a line")
    p.add_argument("--out", required=True)
    p.add_argument("--codec", choices=["lz4", "zstd", "default"], default="lz4")
    p.add_argument("--opener", choices=["url", "fsspec"], default="url")
    p = sub.add_parser("http")
    p.add_argument("--urls", required=True)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("decode")
    p.add_argument("--paths", required=True, help="a file of local paths, one a line")
    p.add_argument("--procs", type=int, default=1)
    p = sub.add_parser("codec")
    p.add_argument("--paths", required=True)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("verify")
    p.add_argument("--zarr", required=True)
    p.add_argument("--paths", required=True)
    p.add_argument("--block", type=int, default=130)
    args = parser.parse_args(argv)

    if args.job == "generate":
        nlat, nlon = map(int, args.grid.lower().split("x"))
        written = generate(args.dir, args.kind, nlat, nlon, range(args.days), args.procs)
        result: dict[str, Any] = {"written": written}
    elif args.job == "xarray":
        result = run_xarray(_lines(args.urls), args.out, args.codec, args.opener)
    elif args.job == "http":
        result = read_http(_lines(args.urls), args.threads)
    elif args.job == "decode":
        result = decode(_lines(args.paths), args.procs)
    elif args.job == "codec":
        result = codec_speed(_lines(args.paths), args.days, args.threads)
    else:
        result = verify(args.zarr, _lines(args.paths), args.block)
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
