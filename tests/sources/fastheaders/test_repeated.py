"""Inputs that repeat a parsed one's bytes: the same header as a full parse, never parsed."""

from __future__ import annotations

from pathlib import Path

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

RETRY = RetryPolicy(attempts=1, timeout=5)


def _day(path: Path, day: int, *, units: str = "days since 2000-01-01") -> None:
    """One daily file of an archive written alike: its own time, bounds and values."""
    time = pd.Timestamp("2020-01-01") + pd.Timedelta(days=day)
    rng = np.random.default_rng(day)
    ds = xr.Dataset(
        {
            "sst": (("time", "lat", "lon"), rng.normal(size=(1, 30, 40)).astype("f4")),
            "time_bnds": (("time", "nv"), [[time, time + pd.Timedelta(days=1)]]),
        },
        coords={
            "time": ("time", [time], {"bounds": "time_bnds"}),
            "lat": np.linspace(-60, 60, 30),
            "lon": np.linspace(0, 351, 40),
        },
        attrs={"title": "alike"},
    )
    encoding = {
        "time": {"units": units, "dtype": "f8"},
        "time_bnds": {"units": units, "dtype": "f8"},
        "sst": {"_FillValue": np.float32(np.nan)},
    }
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


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


def test_repeating_inputs_get_the_full_parse_s_header(
    http_server: SourceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in range(4):
        _day(http_server.root / f"d{day}.nc", day)
    repeats = Repeats()
    parses = []
    real = Repeats._parse
    monkeypatch.setattr(Repeats, "_parse", lambda self, *a: parses.append(1) or real(self, *a))
    found = [_open(http_server, f"d{day}.nc", day, repeats) for day in range(4)]
    assert len(parses) == 1 and len(repeats) == 1  # the first parsed, the rest repeat it
    monkeypatch.setattr(Repeats, "_parse", real)
    for day, header in enumerate(found):
        _same(header, _open(http_server, f"d{day}.nc", day, None))
        assert header.coords["time"].values[0] == np.datetime64(f"2020-01-0{day + 1}")
    assert found[1].small["time_bnds"].hash != found[2].small["time_bnds"].hash


def test_an_input_written_otherwise_is_parsed(http_server: SourceServer) -> None:
    _day(http_server.root / "a.nc", 0)
    _day(http_server.root / "b.nc", 1, units="hours since 2020-01-01")  # other header bytes
    repeats = Repeats()
    _open(http_server, "a.nc", 0, repeats)
    header = _open(http_server, "b.nc", 1, repeats)
    _same(header, _open(http_server, "b.nc", 1, None))
    assert header.variables["time"].encoding["units"] == "hours since 2020-01-01"


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
