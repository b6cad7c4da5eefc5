"""Inputs that repeat a parsed one's bytes: the same header as a full parse, never parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from arcoforge.demo.server import SourceServer
from arcoforge.recipe.pattern import FileType, Index
from arcoforge.sources.chunk_reads import open_ranged
from arcoforge.sources.fastheaders import repeated
from arcoforge.sources.fastheaders.repeated import Repeats
from arcoforge.sources.headers import InputHeader
from arcoforge.sources.retry import RetryPolicy
from tests.helpers import h5_files_passed_to

RETRY = RetryPolicy(attempts=1, timeout=5)


#: How the archives of these tests store ``sst``: as it is, or compressed (then each
#: file's chunk has its own size and place, and files repeat a template, not bytes).
STORAGE = {"raw": {}, "zlib": {"zlib": True, "complevel": 1, "shuffle": True}}


def _day(
    path: Path,
    day: int,
    *,
    units: str = "days since 2000-01-01",
    storage: str = "raw",
    bounds_units: bool = True,
    land: int = 0,
    unlimited: bool = False,
) -> None:
    """One daily file of an archive written alike: its own time, bounds and values
    (none over the first ``land`` rows of the grid); ``unlimited``: along an unlimited
    time, so every variable along it is chunked (as netCDF-C writes most archives)."""
    time = pd.Timestamp("2020-01-01") + pd.Timedelta(days=day)
    rng = np.random.default_rng(day)
    # compressed, a grid too large for a header to load its values (HASHED_VALUES)
    nlat, nlon = (30, 40) if storage == "raw" else (300, 400)
    sst = rng.normal(size=(1, nlat, nlon)).astype("f4")
    sst[:, :land] = np.nan
    ds = xr.Dataset(
        {
            "sst": (("time", "lat", "lon"), sst),
            "time_bnds": (("time", "nv"), [[time, time + pd.Timedelta(days=1)]]),
        },
        coords={
            "time": ("time", [time], {"bounds": "time_bnds"}),
            "lat": np.linspace(-60, 60, nlat),
            "lon": np.linspace(0, 351, nlon),
        },
        attrs={"title": "alike"},
    )
    encoding = {
        "time": {"units": units, "dtype": "f8"},
        "time_bnds": {"units": units, "dtype": "f8"},
        "sst": {"_FillValue": np.float32(np.nan), **STORAGE[storage]},
    }
    if unlimited:  # chunks of 512 steps, as netCDF-C makes them for one-dimensional data
        encoding["time"]["chunksizes"] = (512,)
        encoding["time_bnds"]["chunksizes"] = (512, 2)
    ds.to_netcdf(
        path, engine="h5netcdf", encoding=encoding, unlimited_dims=["time"] if unlimited else None
    )
    if not bounds_units:  # as many archives: the bounds take their variable's units
        with h5py.File(path, "a") as f:
            for name in ("units", "calendar"):
                f["time_bnds"].attrs.pop(name, None)


def _open(server: SourceServer, name: str, day: int, repeats: Repeats | None) -> InputHeader:
    found = open_ranged(
        f"{server.url}/{name}",
        file_type=FileType.AUTO,
        options={},
        retry=RETRY,
        index=Index((("time", day),)),
        concat_dims=("time",),
        repeats=repeats,
    )
    assert found is not None
    cached, header = found
    assert header.input is cached and cached.chunks
    return header


def _same(a: InputHeader, b: InputHeader) -> None:
    """Headers equal in all they say (reprs: NaN fill values never compare equal)."""
    assert a.index == b.index and a.sizes == b.sizes and a.attrs == b.attrs
    assert repr(a.variables) == repr(b.variables)
    assert repr(a.input) == repr(b.input)
    for mine, theirs in ((a.coords, b.coords), (a.small, b.small)):
        assert mine.keys() == theirs.keys()
        for name in mine:
            assert mine[name].hash == theirs[name].hash, name
            if theirs[name].values is not None:
                np.testing.assert_array_equal(mine[name].values, theirs[name].values)


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the inputs described in full (their variables decoded by xarray)."""
    return h5_files_passed_to(monkeypatch, repeated, "contents_of")


@pytest.mark.parametrize("bounds_units", [True, False], ids=["bounds-units", "units-of-time"])
@pytest.mark.parametrize("storage", list(STORAGE))
def test_repeating_inputs_get_the_full_parse_s_header(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch, storage: str, bounds_units: bool
) -> None:
    for day in range(4):
        _day(http_server.root / f"d{day}.nc", day, storage=storage, bounds_units=bounds_units)
    sizes = {(http_server.root / f"d{day}.nc").stat().st_size for day in range(4)}
    assert len(sizes) == (1 if storage == "raw" else 4)
    repeats = Repeats()
    parses = _count_parses(monkeypatch)
    found = [_open(http_server, f"d{day}.nc", day, repeats) for day in range(4)]
    assert len(parses) == 1  # the first parsed, the rest repeat it
    monkeypatch.undo()
    for day, header in enumerate(found):
        _same(header, _open(http_server, f"d{day}.nc", day, None))
        assert header.coords["time"].values[0] == np.datetime64(f"2020-01-0{day + 1}")
    assert found[1].small["time_bnds"].hash != found[2].small["time_bnds"].hash
    bounds = found[2].small["time_bnds"].values
    assert bounds is not None and bounds[0, 0] == np.datetime64("2020-01-03")


@pytest.mark.parametrize("storage", list(STORAGE))
def test_times_along_an_unlimited_dimension_are_read_from_their_chunk(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    """A variable along an unlimited dimension is chunked: its one chunk, stored whole,
    holds its values first; later inputs read theirs there rather than being parsed."""
    for day in range(4):
        _day(http_server.root / f"u{day}.nc", day, storage=storage, unlimited=True)
    with h5py.File(http_server.root / "u0.nc") as f:
        assert f["time"].chunks is not None and f["time"].chunks[0] > 1
    repeats = Repeats()
    parses = _count_parses(monkeypatch)
    found = [_open(http_server, f"u{day}.nc", day, repeats) for day in range(4)]
    assert len(parses) == 1
    monkeypatch.undo()
    for day, header in enumerate(found):
        _same(header, _open(http_server, f"u{day}.nc", day, None))
        assert header.coords["time"].values[0] == np.datetime64(f"2020-01-0{day + 1}")
        bounds = header.small["time_bnds"].values
        assert bounds is not None and bounds.shape == (1, 2)


@pytest.mark.parametrize("storage", list(STORAGE))
def test_an_input_written_otherwise_is_parsed(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch, storage: str
) -> None:
    _day(http_server.root / "a.nc", 0, storage=storage)
    # other header bytes, and other units for its times: a probe alike is not enough
    _day(http_server.root / "b.nc", 1, units="hours since 2020-01-01", storage=storage)
    repeats = Repeats()
    parses = _count_parses(monkeypatch)
    _open(http_server, "a.nc", 0, repeats)
    header = _open(http_server, "b.nc", 1, repeats)
    assert len(parses) == 2
    monkeypatch.undo()
    _same(header, _open(http_server, "b.nc", 1, None))
    assert header.variables["time"].encoding["units"] == "hours since 2020-01-01"


def test_a_compressed_input_read_from_its_template_reads_its_own_chunks(
    http_server: SourceServer,
) -> None:
    """The chunk extents a template gives an input are its own: its values come out."""
    from arcoforge.sources.chunk_reads import PieceRead, chunk_of, read_pieces

    for day in range(3):
        _day(http_server.root / f"z{day}.nc", day, storage="zlib")
    repeats = Repeats()
    for day in range(3):
        header = _open(http_server, f"z{day}.nc", day, repeats)
        cmap = chunk_of(header.input, "sst")
        assert cmap is not None
        out = np.empty(cmap.shape, cmap.np_dtype)
        read_pieces(
            [PieceRead(header.url, cmap, tuple(slice(0, n) for n in cmap.shape), out)],
            options={},
            retry=RETRY,
        )
        with xr.open_dataset(http_server.root / f"z{day}.nc", mask_and_scale=False) as ds:
            np.testing.assert_array_equal(out, ds["sst"].values)


def test_values_that_decode_otherwise_are_parsed(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeat whose small values decode to another type is parsed in full instead."""
    for day in range(2):
        _day(http_server.root / f"d{day}.nc", day)
    repeats = Repeats()
    _open(http_server, "d0.nc", 0, repeats)
    real = repeated.decode_cf_variables

    def as_objects(variables, attrs, **options):  # type: ignore[no-untyped-def]
        decoded, attrs, coords = real(variables, attrs, **options)
        decoded["time"] = decoded["time"].astype(object)
        return decoded, attrs, coords

    monkeypatch.setattr(repeated, "decode_cf_variables", as_objects)
    header = _open(http_server, "d1.nc", 1, repeats)
    assert header.variables["time"].dtype.kind == "M"  # from the full parse
    assert header.coords["time"].values[0] == np.datetime64("2020-01-02")


def test_threads_never_read_two_fetched_files_through_hdf5_at_once(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HDF5 is not thread-safe, and reading a fetched file calls back into Python."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import h5py

    for day in range(8):
        _day(http_server.root / f"t{day}.nc", day, storage="zlib")
    real = h5py.File
    lock = threading.Lock()
    inside = [0]
    most = [0]

    class Watched(real):  # type: ignore[misc,valid-type]
        def __enter__(self) -> Any:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)  # a window wide enough for another thread to enter
            return super().__enter__()

        def __exit__(self, *exc: Any) -> None:
            with lock:
                inside[0] -= 1
            super().__exit__(*exc)

    monkeypatch.setattr(h5py, "File", Watched)
    repeats = Repeats()
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda d: _open(http_server, f"t{d}.nc", d, repeats), range(8)))
    assert most[0] == 1
    assert [h.coords["time"].values[0] for h in found] == [
        np.datetime64(f"2020-01-0{d + 1}") for d in range(8)
    ]
